"""Fixtures for running course notebooks as students run them."""

import os
import subprocess
import sys

import pytest

#: Loaded by every Python started with the fixture's PYTHONPATH (the notebook's kernel too):
#: `import nbgrader` fails there, as it does on Colab, where nbgrader is not installed.
_BLOCK_NBGRADER = '''import sys


class _NoNbgrader:
    """Simulates Colab: nbgrader is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "nbgrader" or name.startswith("nbgrader."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: the test simulates Colab)")
        return None


sys.meta_path.insert(0, _NoNbgrader())
'''


@pytest.fixture
def without_nbgrader(tmp_path) -> dict[str, str]:
    """Kernel environment variables under which nbgrader cannot be imported (as on Colab)."""
    folder = tmp_path / "no_nbgrader"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(_BLOCK_NBGRADER)
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)}
    probe = subprocess.run([sys.executable, "-c", "import nbgrader"], env={**os.environ, **env},
                           capture_output=True, text=True)
    assert probe.returncode != 0 and "simulates Colab" in probe.stderr, "the nbgrader blocker did not load"
    return env
