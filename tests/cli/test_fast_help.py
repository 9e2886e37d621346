"""`reidprune --help` (and every command's --help) imports no heavy library: it starts in a blink."""
import json
import os
import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")
HEAVY = ("torch", "torchvision", "numpy", "matplotlib", "PIL", "tqdm", "lightning")

PROBE = """
import json, sys
from click.testing import CliRunner
from reidprune.cli import main
runner = CliRunner()
outputs = {"": runner.invoke(main, ["--help"]).output}
for name in sorted(main.commands):
    outputs[name] = runner.invoke(main, [name, "--help"]).output
print(json.dumps({"loaded": sorted(m for m in sys.modules if m.split(".")[0] in %r), "outputs": outputs}))
""" % (HEAVY,)


def _env():
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_help_of_every_command_imports_no_heavy_library():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=_env(), timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["loaded"] == []
    assert "Usage:" in report["outputs"][""] and len(report["outputs"]) > 5
    for name, text in report["outputs"].items():
        assert text.startswith("Usage: main"), (name, text[:200])


def test_python_dash_m_reidprune_help():
    result = subprocess.run([sys.executable, "-m", "reidprune", "--help"], capture_output=True, text=True,
                            env=_env(), timeout=120)
    assert result.returncode == 0 and "Prune, purify and export" in result.stdout
