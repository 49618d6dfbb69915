import os
import subprocess
import sys

import pytest

from rnn_course import notebook
from rnn_course.errors import CourseError


@pytest.mark.parametrize("env, mode", [
    ({}, "full"),
    ({"RNN_COURSE_FAST": "1"}, "fast"),
    ({"RNN_COURSE_FAST": "true"}, "fast"),
    ({"RNN_COURSE_FAST": "0"}, "full"),
    ({"RNN_COURSE_SCALE": "gpu"}, "gpu"),
    ({"RNN_COURSE_SCALE": "gpu", "RNN_COURSE_FAST": "1"}, "fast"),
])
def test_mode_from_env(env, mode):
    assert notebook.mode_from_env(env) == mode


@pytest.mark.parametrize("env", [{"RNN_COURSE_FAST": "maybe"}, {"RNN_COURSE_SCALE": "tpu"}])
def test_bad_mode_values_are_rejected(env):
    with pytest.raises(CourseError, match="Received"):
        notebook.mode_from_env(env)


def test_pick_follows_the_mode():
    rep = None
    assert notebook.CourseConfig("fast", 0, "tensorflow", rep).pick(fast=1, full=2) == 1
    assert notebook.CourseConfig("full", 0, "tensorflow", rep).pick(fast=1, full=2) == 2
    assert notebook.CourseConfig("gpu", 0, "tensorflow", rep).pick(fast=1, full=2) == 2
    assert notebook.CourseConfig("gpu", 0, "tensorflow", rep).pick(fast=1, full=2, gpu=3) == 3


def test_setup_cell_runs_quietly_and_seeds(tmp_path):
    """The setup cell, then a Keras model trained for one epoch, must write nothing to stderr
    (nbgrader scores a test cell that writes stderr as 0), and seeding must repeat results."""
    script = tmp_path / "cell.py"
    script.write_text(
        "class _IPython:\n    def run_line_magic(self, *a):\n        raise AssertionError('pip must not run off Colab')\n"
        "get_ipython = _IPython\n"
        + notebook.SETUP_CELL + "\n"
        "import numpy as np, keras, warnings\n"
        "warnings.warn('students never see this')\n"
        "m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
        "m.compile('adam', 'mse')\n"
        "m.fit(np.ones((8, 4)), np.ones((8, 2)), epochs=1, verbose=0)\n"
        "print(COURSE.mode, FAST, float(keras.random.uniform((1,), seed=None)[0]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",)}
    env["RNN_COURSE_FAST"] = "1"
    runs = [subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
            for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert run.stderr == "", f"stderr was written: {run.stderr[:500]}"
        assert "mode FAST" in run.stdout
    assert runs[0].stdout.splitlines()[-1] == runs[1].stdout.splitlines()[-1]
    assert runs[0].stdout.splitlines()[-1].startswith("fast True")


def test_setup_cell_installs_on_colab(tmp_path):
    """On Colab (google.colab imported) the cell pip-installs keras and the course first."""
    script = tmp_path / "colab.py"
    script.write_text(
        "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
        "calls = []\n"
        "class _IPython:\n    def run_line_magic(self, name, line):\n        calls.append((name, line))\n"
        "get_ipython = _IPython\n"
        + notebook.SETUP_CELL.replace("from rnn_course.notebook import setup", "print(calls); raise SystemExit(0)")
    )
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert "('pip', \"install -q 'keras>=3.15'\")" in run.stdout
    assert "install -q --no-deps rnn-course" in run.stdout
