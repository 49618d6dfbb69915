import json
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
    ({"RNN_COURSE_SCALE": "gpu-dry"}, "gpu-dry"),
    ({"RNN_COURSE_SCALE": "gpu-dry", "RNN_COURSE_FAST": "1"}, "fast"),
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
    assert notebook.CourseConfig("gpu-dry", 0, "tensorflow", rep).pick(fast=1, full=2, gpu=3) == 3


def test_steps_follow_the_mode_but_a_gpu_dry_run_keeps_them_small():
    def steps(mode, **kw):
        return notebook.CourseConfig(mode, 0, "tensorflow", None).steps(fast=20, full=1500, **kw)

    assert [steps(m, gpu=20000) for m in ("fast", "full", "gpu", "gpu-dry")] == [20, 1500, 20000, 20]
    assert steps("gpu-dry", gpu=20000, dry=2) == 2 and steps("gpu") == 1500


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


#: A stand-in for pip on the PYTHONPATH of the setup cell's `python -m pip`: it records its
#: arguments and answers as the FAKE_PIP scenario says (exit status, stdout, stderr).
_FAKE_PIP = '''import json, os, sys
with open(os.environ["FAKE_PIP_CALLS"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
scenario = json.loads(os.environ["FAKE_PIP"])
sys.stdout.write(scenario.get("stdout", ""))
sys.stderr.write("WARNING: pip's own warning, which the student must not see\\n" + scenario.get("stderr", ""))
sys.exit(scenario.get("returncode", 0))
'''

#: Runs a setup cell as IPython does on Colab: google.colab imported; an exception with
#: `_render_traceback_` shows that (here: on stderr, as STOPPED) instead of a traceback.
_AS_ON_COLAB = '''import sys, types
sys.modules["google.colab"] = types.ModuleType("google.colab")
cell = open(sys.argv[1]).read().replace("from rnn_course.notebook import setup", "raise SystemExit(0)")
try:
    exec(compile(cell, "setup cell", "exec"), {"__name__": "__main__"})
except Exception as err:
    print("STOPPED", type(err).__name__, err._render_traceback_() if hasattr(err, "_render_traceback_") else "a traceback",
          file=sys.stderr)
'''

SOURCE = "git+https://github.com/example-org/rnn-course@" + "0123456789abcdef" * 2 + "01234567"


def _setup_on_colab(tmp_path, cell, **scenario):
    fake = tmp_path / "fake_pip"
    (fake / "pip").mkdir(parents=True)
    (fake / "pip" / "__init__.py").write_text("")
    (fake / "pip" / "__main__.py").write_text(_FAKE_PIP)
    (tmp_path / "cell.py").write_text(cell)
    (tmp_path / "as_on_colab.py").write_text(_AS_ON_COLAB)
    calls = tmp_path / "pip_calls"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")]),
           "FAKE_PIP": json.dumps(scenario), "FAKE_PIP_CALLS": str(calls)}
    run = subprocess.run([sys.executable, str(tmp_path / "as_on_colab.py"), str(tmp_path / "cell.py")], env=env,
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    pip_calls = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return run, pip_calls


def test_setup_cell_on_colab_installs_the_pinned_source_without_dependencies(tmp_path):
    """On Colab the cell pip-installs exactly the configured source, pinned, and never a package name;
    pip's own warnings stay captured; then one line says what was installed."""
    run, calls = _setup_on_colab(tmp_path, notebook.setup_cell(SOURCE),
                                 stdout="Successfully installed rnn-course-0.1.0\n")
    assert calls[0] == ["install", "--no-deps", "--no-input", SOURCE]
    assert run.stderr == "", run.stderr
    assert run.stdout.startswith(f"Colab setup: installed rnn-course {__import__('rnn_course').__version__} ({SOURCE})")
    assert run.stdout.count("\n") == 1, run.stdout


@pytest.mark.parametrize("source, scenario, line", [
    ("", {}, "Colab setup: nothing installed: this course has no install source yet. Instructor: set [colab] "
             "install in course.toml, then run `rnn-course assign`."),
    (SOURCE, {"returncode": 1, "stderr": "  fatal: remote error: upload-pack: not our ref 0123456789abcdef\n"
                                         "ERROR: Could not find commit; reference is not a tree\n"},
     f"Colab setup: nothing installed: could not install the course from {SOURCE}: the source does not resolve "
     "(a wrong address, commit or sha256; instructor: course.toml). pip's output: print(_pip.stderr)"),
    (SOURCE, {"returncode": 1, "stderr": "fatal: unable to access 'https://github.com/example-org/rnn-course/': "
                                         "Could not resolve host: github.com\n"},
     f"Colab setup: nothing installed: could not install the course from {SOURCE}: no network (this runtime cannot "
     "reach the source's host). pip's output: print(_pip.stderr)"),
    (SOURCE, {"returncode": 1, "stderr": "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE."},
     f"Colab setup: nothing installed: could not install the course from {SOURCE}: the source does not resolve"),
    (SOURCE, {"returncode": 2, "stderr": "ERROR: No space left on device\n"},
     f"Colab setup: nothing installed: could not install the course from {SOURCE}: pip says: ERROR: No space left "
     "on device. pip's output: print(_pip.stderr)"),
])
def test_setup_cell_on_colab_stops_with_one_line_on_bad_input(tmp_path, source, scenario, line):
    """No source configured, a source that does not resolve, no network, anything else pip refuses:
    one line on stdout, then the cell stops without a traceback (and nothing was installed)."""
    run, calls = _setup_on_colab(tmp_path, notebook.setup_cell(source), **scenario)
    assert run.stdout.startswith(line) and run.stdout.count("\n") == 1, run.stdout
    assert run.stderr == "STOPPED SetupStopped []\n", run.stderr
    assert calls == ([] if not source else [["install", "--no-deps", "--no-input", SOURCE]])


def test_setup_cell_stops_in_a_real_kernel_without_a_traceback(tmp_path):
    """In a Jupyter kernel (Colab's is one) the stop shows no traceback: the error output is empty,
    and the one line is on stdout."""
    import nbformat

    from rnn_course import runner

    fake = tmp_path / "colab"
    fake.mkdir()
    (fake / "sitecustomize.py").write_text("import sys, types\nsys.modules['google.colab'] = types.ModuleType('x')\n")
    path = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(notebook.setup_cell(""))]), str(path))
    result = runner.run_notebook(path, mode="fast", cell_timeout=120, allow_errors=True, env={"PYTHONPATH": str(fake)})
    outputs = result.notebook.cells[0].outputs
    assert [o.output_type for o in outputs] == ["stream", "error"] and outputs[0].name == "stdout"
    assert outputs[0].text.startswith("Colab setup: nothing installed: this course has no install source yet.")
    assert outputs[1].ename == "SetupStopped" and outputs[1].traceback == []  # an error: "Run all" stops here
    assert result.errors == [(0, "SetupStopped: no install source")]


#: Run in the kernel before the setup cell: makes the real TensorFlow write to fd 2 from below
#: Python while it is imported (as it does on some CPUs), on every machine.
_LOUD_TENSORFLOW = '''\
import importlib.machinery, os, sys


class _LoudTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        real = spec.loader

        class Loud:
            def create_module(self, spec):
                return real.create_module(spec)

            def exec_module(self, module):
                os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on (simulated).\\\\n")
                real.exec_module(module)
                os.write(2, b"W0000 cpu_feature_guard.cc:210] This TensorFlow binary is optimized (simulated).\\\\n")

        spec.loader = Loud()
        return spec


sys.meta_path.insert(sys.meta_path.index(importlib.machinery.PathFinder), _LoudTensorFlow())
'''


def test_setup_cell_in_a_kernel_writes_nothing_to_stderr(tmp_path, monkeypatch):
    """In a real Jupyter kernel (as JupyterLab runs it) the setup cell shows no stderr box, under
    TensorFlow and under JAX (where Keras's seeding imports TensorFlow), even when TensorFlow's C++
    code writes to fd 2 at import; what it wrote is kept."""
    import nbformat

    from rnn_course import runner

    # ipykernel only forwards fd-level output when PYTEST_CURRENT_TEST is unset: a kernel started
    # with it set would hide exactly the output this test looks for.
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    cells = [
        _LOUD_TENSORFLOW,
        notebook.SETUP_CELL,
        "import numpy as np, keras\nm = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
        "m.compile('adam', 'mse')\nm.fit(np.ones((8, 4)), np.ones((8, 2)), epochs=1, verbose=0)\n"
        "from rnn_course import quiet_imports\n"
        "for n in quiet_imports.notices():\n    print(n.summary())\n    print(n.text)",
        # ipykernel forwards fd 2 from a watcher thread: give it time before the cell ends (seen lost under load)
        "import os, sys, time\nos.write(2, b'control: this kernel shows what is written to fd 2\\n')\n"
        "time.sleep(1.0)\nsys.stderr.flush()",
        "print('done')",
    ]
    path = tmp_path / "setup.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells]), str(path))
    nb = runner.run_notebook(path, mode="fast", cell_timeout=300).notebook
    outputs = [(i, o) for i, cell in enumerate(nb.cells) for o in cell.outputs]
    stderr = "".join(o.text for _, o in outputs if o.output_type == "stream" and o.name == "stderr")
    stdout = {i: "".join(o.text for o in cell.outputs if o.get("name") == "stdout") for i, cell in enumerate(nb.cells)}
    assert "control: this kernel shows what is written to fd 2" in stderr, "the kernel hides fd 2: the test is blind"
    assert stderr.strip() == "control: this kernel shows what is written to fd 2", f"stderr was written: {stderr[:500]}"
    assert "mode FAST" in stdout[1]
    kept = stdout[2]  # the real TensorFlow may have printed more on this CPU: kept too
    assert "tensorflow import notices: " in kept and "lines swallowed" in kept, kept
    assert "port.cc:153] oneDNN custom operations are on (simulated)." in kept, kept
    assert "cpu_feature_guard.cc:210] This TensorFlow binary is optimized (simulated)." in kept, kept
