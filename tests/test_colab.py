"""Colab: the install source, the setup cell's decisions on Colab, and a simulated Colab run.

The unit tests run in `make test` (no network, no TensorFlow import). The simulated run
(`test_simulated_colab_runs_every_student_notebook`) needs the venv that `make test-colab`
builds (TensorFlow 2.19 and an older Keras, about 600 MB) and is skipped without it.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnn_course import colab, notebook
from rnn_course.errors import CourseError

SHA = "0123456789abcdef0123456789abcdef01234567"
GIT = f"git+https://github.com/example-org/rnn-course@{SHA}"
WHEEL = "https://example.org/rnn_course-0.1.0-py3-none-any.whl#sha256=" + "ab" * 32
#: The course's requirements as `importlib.metadata.requires("rnn-course")` lists them.
REQUIREMENTS = [
    'tensorflow-cpu>=2.18; sys_platform == "linux" and platform_machine == "x86_64"',
    'tensorflow>=2.18; sys_platform != "linux" or platform_machine != "x86_64"',
    "keras>=3.15", "jupyter", "matplotlib", "tensorflow-datasets", "numpy>=2", "tqdm",
    'pytest; extra == "test"', 'nbgrader<0.10,>=0.9.6; extra == "instructor"',
]
#: What a Colab runtime has (TensorFlow's GPU build is the `tensorflow` distribution there).
COLAB = {"tensorflow": "2.19.0", "keras": "3.10.0", "numpy": "2.0.2", "matplotlib": "3.10.0", "tqdm": "4.67.1",
         "tensorflow-datasets": "4.9.9"}


# ------------------------------------------------------------------ the install source
@pytest.mark.parametrize("source", ["", GIT, WHEEL, f"git+file:///tmp/clone@{SHA}",
                                    "file:///tmp/w/rnn_course-0.1.0-py3-none-any.whl#sha256=" + "0" * 64])
def test_pinned_sources_are_accepted_and_reach_the_setup_cell(source):
    cell = notebook.setup_cell(source)
    compile(cell, "setup", "exec")
    assert notebook.setup_cell_source(cell) == source
    assert f"COURSE_SOURCE = {json.dumps(source)}" in cell


@pytest.mark.parametrize("source, why", [
    ("rnn-course", "a bare package name"),
    ("git+https://github.com/example-org/rnn-course@main", "pin the full 40-hex commit"),
    ("git+https://github.com/example-org/rnn-course@0123456", "pin the full 40-hex commit"),
    ("git+https://github.com/example-org/rnn-course", "names no commit"),
    ("https://example.org/rnn_course-0.1.0-py3-none-any.whl", "needs its #sha256="),
    ('git+https://x.org/a"; import os; "@' + SHA, "no spaces, quotes or backslashes"),
    ("https://example.org/rnn-course.tar.gz", "neither a pinned git URL"),
])
def test_unpinned_sources_are_refused_naming_both_forms(source, why):
    with pytest.raises(CourseError) as info:
        notebook.setup_cell(source)
    text = str(info.value)
    assert why in text and f"Received: {source!r}" in text and "\n" not in text
    assert "git+https://github.com/OWNER/REPO@<40-hex commit>" in text and "#sha256=<64 hex>" in text


def test_a_cell_that_is_not_the_template_has_no_source():
    assert notebook.setup_cell_source(notebook.LEGACY_SETUP_CELL) is None
    assert notebook.setup_cell_source(notebook.setup_cell(GIT).replace("seed=42", "seed=1")) is None
    assert notebook.setup_cell_source("import os") is None


def test_settings_from_course_toml(tmp_path):
    assert notebook.load_settings(tmp_path) == notebook.ColabSettings()  # no file: nothing configured
    (tmp_path / "course.toml").write_text(
        f'[colab]\ninstall = "{GIT}"\nrepository = "https://github.com/example-org/rnn-course"\nref = "v1"\n')
    settings = notebook.load_settings(tmp_path)
    assert settings.install == GIT
    assert settings.colab_url("01_x.ipynb") == \
        "https://colab.research.google.com/github/example-org/rnn-course/blob/v1/notebooks/01_x.ipynb"
    assert "**[Open in Colab](https://colab.research.google.com/github/" in settings.link_cell("01_x.ipynb")
    assert notebook.ColabSettings().link_cell("01_x.ipynb") == ""


@pytest.mark.parametrize("text, match", [
    ('[colab]\ninstall = "rnn-course"\n', "must pin the course"),
    ('[colab]\nrepository = "https://gitlab.com/a/b"\n', "must be a GitHub repository"),
    ('[colab]\nref = "main branch"\n', "ref must be a branch"),
    ('[colab]\ninstal = ""\n', r"unknown setting\(s\) colab.instal"),
    ("[colab\n", "not valid TOML"),
])
def test_bad_course_toml_is_one_clear_error(tmp_path, text, match):
    (tmp_path / "course.toml").write_text(text)
    with pytest.raises(CourseError, match=match) as info:
        notebook.load_settings(tmp_path)
    assert "\n" not in str(info.value)


def test_the_repository_course_toml_is_valid(repo_root):
    notebook.load_settings(repo_root)


# ------------------------------------------------------------------ what to install on Colab
@pytest.mark.parametrize("versions, install, pin", [
    (COLAB, ("keras>=3.15",), "tensorflow==2.19.0"),                           # Colab today: Keras too old
    ({**COLAB, "keras": "3.15.1"}, (), "tensorflow==2.19.0"),                  # nothing to do
    ({**COLAB, "keras": "3.16.0rc1"}, (), "tensorflow==2.19.0"),               # a pre-release is new enough
    ({**COLAB, "tensorflow-cpu": "2.19.0"}, ("keras>=3.15",), "tensorflow==2.19.0"),
    ({k: v for k, v in COLAB.items() if k != "tensorflow"} | {"tensorflow-cpu": "2.20.0"}, ("keras>=3.15",),
     "tensorflow-cpu==2.20.0"),                                                 # the simulated runtime
    ({k: v for k, v in COLAB.items() if k not in ("tqdm", "matplotlib")}, ("keras>=3.15", "matplotlib", "tqdm"),
     "tensorflow==2.19.0"),                                                     # missing ones, in order
    ({**COLAB, "numpy": "1.26.4"}, ("keras>=3.15", "numpy>=2"), "tensorflow==2.19.0"),
    ({**COLAB, "Keras": "3.15.0"}, (), "tensorflow==2.19.0"),                  # names compare canonically
])
def test_plan_installs_only_what_is_missing_or_too_old_and_pins_tensorflow(versions, install, pin):
    plan = colab.plan(REQUIREMENTS, versions)
    assert plan.install == install and plan.pin == pin and plan.problem == ""


def test_plan_never_installs_jupyter_tfds_or_extras():
    plan = colab.plan(REQUIREMENTS, {"tensorflow": "2.19.0"})
    assert not {"jupyter", "tensorflow-datasets", "pytest", "nbgrader"} & {r.split(">")[0] for r in plan.install}


@pytest.mark.parametrize("versions, found", [
    ({**COLAB, "tensorflow": "2.15.0", "keras": "2.15.0"}, "TensorFlow 2.15.0 (tensorflow)"),
    ({k: v for k, v in COLAB.items() if k != "tensorflow"}, "no TensorFlow"),
])
def test_plan_refuses_to_replace_an_old_or_missing_tensorflow(versions, found):
    plan = colab.plan(REQUIREMENTS, versions)
    assert f"this runtime has {found} and the course needs tensorflow>=2.18" in plan.problem
    assert "never replaces Colab's TensorFlow" in plan.problem and "tensorflow" not in " ".join(plan.install)


# ------------------------------------------------------------------ complete(): one line, or a clear stop
class FakePip:
    """Stands for `subprocess.run` of pip: records the command, changes `versions`, answers like pip."""

    def __init__(self, versions, *, after=None, returncode=0, stderr=""):
        self.versions, self.after, self.returncode, self.stderr, self.calls = versions, after, returncode, stderr, []

    def __call__(self, cmd, **kwargs):
        assert kwargs.get("capture_output") and kwargs.get("text"), "pip's output must be captured"
        self.calls.append(cmd)
        if self.after:
            self.versions.update(self.after)
        return subprocess.CompletedProcess(cmd, self.returncode, "", self.stderr)


def _complete(versions, pip, *, course_stdout="Successfully installed rnn-course-0.1.0\n", imported=()):
    """`colab.complete` on fakes; `imported` are the modules the runtime had imported (none: a fresh
    Colab runtime; this test process has imported Keras, which must not leak into the cases)."""
    lines = []
    course_pip = subprocess.CompletedProcess([], 0, course_stdout, "WARNING: pip's own warning\n")
    try:
        changed = colab.complete(WHEEL, course_pip, run=pip, requirements=REQUIREMENTS,
                                 versions=lambda: dict(versions), echo=lines.append,
                                 imported=lambda: set(imported))
    except colab.SetupStopped:
        changed = None
    return lines, changed


def test_complete_upgrades_keras_keeps_tensorflow_and_says_so_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(colab, "PIP_LOG", tmp_path / "pip.log")
    versions = {**COLAB, "rnn-course": "0.1.0"}
    pip = FakePip(versions, after={"keras": "3.15.1", "namex": "0.1.0"})
    lines, changed = _complete(versions, pip)
    assert pip.calls == [[sys.executable, "-m", "pip", "install", "--no-input", "keras>=3.15", "tensorflow==2.19.0"]]
    assert lines == ["Colab setup: installed rnn-course 0.1.0 (https://example.org/rnn_course-0.1.0-py3-none-any"
                     ".whl#sha256=abababababab…); changed keras 3.10.0 -> 3.15.1, namex 0.1.0 (new); kept Colab's "
                     "tensorflow 2.19.0."]
    assert changed == ["keras 3.10.0 -> 3.15.1", "namex 0.1.0 (new)"]
    assert "keras>=3.15" in (tmp_path / "pip.log").read_text()


def test_complete_with_nothing_to_do_runs_no_pip():
    versions = {**COLAB, "keras": "3.15.1", "rnn-course": "0.1.0"}
    pip = FakePip(versions)
    lines, changed = _complete(versions, pip, course_stdout="Requirement already satisfied: rnn-course\n")
    assert pip.calls == [] and changed == []
    assert lines == [f"Colab setup: found rnn-course 0.1.0 ({colab._source_label(WHEEL)}); nothing else to install; "
                     "kept Colab's tensorflow 2.19.0."]


@pytest.mark.parametrize("stderr, reason", [
    ("ERROR: Could not install packages due to an OSError: HTTPSConnectionPool(host='pypi.org', port=443): Max "
     "retries exceeded (Caused by NewConnectionError('Failed to establish a new connection: [Errno -3] Temporary "
     "failure in name resolution'))", "no network (this runtime cannot reach PyPI)"),
    ("ERROR: Cannot install keras>=3.15 and tensorflow==2.15.0 because these package versions have conflicting "
     "dependencies.\nERROR: ResolutionImpossible: for help visit https://pip.pypa.io",
     "it cannot be upgraded in place: it conflicts with this runtime's tensorflow==2.19.0"),
    ("ERROR: No space left on device", "pip says: ERROR: No space left on device"),
])
def test_complete_stops_with_one_line_when_pip_fails(tmp_path, monkeypatch, stderr, reason):
    monkeypatch.setattr(colab, "PIP_LOG", tmp_path / "pip.log")
    versions = {**COLAB, "rnn-course": "0.1.0"}
    lines, changed = _complete(versions, FakePip(versions, returncode=1, stderr=stderr))
    assert changed is None and len(lines) == 1 and "\n" not in lines[0]
    assert lines[0].startswith("Colab setup: installed rnn-course 0.1.0 (")
    assert "but pip could not install keras>=3.15 (here: 3.10.0): " + reason in lines[0]
    assert "nothing else changed. The course cannot run without it." in lines[0] and str(tmp_path / "pip.log") in lines[0]


def test_complete_says_what_a_failed_pip_left_behind():
    versions = {**COLAB, "rnn-course": "0.1.0"}
    lines, _ = _complete(versions, FakePip(versions, after={"ml-dtypes": "0.6.0"}, returncode=1,
                                           stderr="ERROR: killed"))
    assert "pip changed ml-dtypes None -> 0.6.0" not in lines[0]
    assert "pip changed ml-dtypes 0.6.0 (new) before it failed" in lines[0]


def test_complete_asks_for_a_restart_when_keras_was_already_imported():
    versions = {**COLAB, "rnn-course": "0.1.0"}
    lines, changed = _complete(versions, FakePip(versions, after={"keras": "3.15.1"}),
                               imported={"keras", "keras.src"})  # as in a runtime that ran a cell before
    assert changed is None and len(lines) == 1
    assert lines[0].endswith("changed keras 3.10.0 -> 3.15.1. This session had already imported keras: choose "
                             "Runtime → Restart session, then run this cell again.")


def test_complete_stops_before_pip_when_tensorflow_is_too_old():
    versions = {**COLAB, "tensorflow": "2.15.0", "rnn-course": "0.1.0"}
    pip = FakePip(versions)
    lines, changed = _complete(versions, pip)
    assert pip.calls == [] and changed is None
    assert "but it cannot run here: this runtime has TensorFlow 2.15.0 (tensorflow)" in lines[0]


def test_setup_stopped_shows_no_traceback():
    assert colab.SetupStopped("x")._render_traceback_() == []


# ------------------------------------------------------------------ Colab, simulated (make test-colab)
COLAB_VENV = os.environ.get("RNN_COURSE_COLAB_VENV", "")

#: Loaded by every Python of the simulated runtime: Colab's kernel has imported google.colab,
#: and nbgrader cannot be imported there.
_FAKE_COLAB = '''import sys, types
sys.modules.setdefault("google.colab", types.ModuleType("google.colab"))


class _NoNbgrader:
    def find_spec(self, name, path=None, target=None):
        if name == "nbgrader" or name.startswith("nbgrader."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: the test simulates Colab)")


sys.meta_path.insert(0, _NoNbgrader())
'''


def _venv_run(python, *args):  # not in the checkout, whose rnn_course/ would be importable from the cwd
    return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=600, cwd=python.anchor)


def _may_fail(cell) -> bool:  # as in tests/notebooks/test_student_notebooks.py
    from rnn_course.assignment import USES_ANSWERS_TAG

    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("grade") or USES_ANSWERS_TAG in cell.metadata.get("tags", []))


@pytest.mark.skipif(not COLAB_VENV, reason="needs the simulated Colab venv: run `make test-colab`")
def test_simulated_colab_runs_every_student_notebook(tmp_path, repo_root):
    """What a student gets on Colab, without a Colab account: the runtime has TensorFlow 2.19 and
    an older Keras but not the course; each student notebook, generated for a wheel of this
    checkout, runs top to bottom in FAST mode, its setup cell installing the course and Keras."""
    from rnn_course import assignment
    from rnn_course.runner import run_notebook

    start = time.perf_counter()
    python = Path(COLAB_VENV).resolve() / "bin" / "python"
    keras_before = os.environ.get("RNN_COURSE_COLAB_KERAS", "3.10.0")
    # Reset the runtime to what Colab ships: no course, the old Keras (an earlier run upgraded it).
    _venv_run(python, "-m", "pip", "uninstall", "-q", "-y", "rnn-course")
    reset = _venv_run(python, "-m", "pip", "install", "-q", f"keras=={keras_before}")
    assert reset.returncode == 0, reset.stderr
    probe = _venv_run(python, "-c", "import importlib.metadata as m, importlib.util as u; "
                      "print(m.version('tensorflow-cpu'), m.version('keras'), u.find_spec('rnn_course') is None)")
    assert probe.stdout.split()[0].startswith("2.19.") and probe.stdout.split()[1:] == [keras_before, "True"], probe

    # A local build of this checkout, installed by its file URL and hash, as a wheel URL would be.
    wheels = tmp_path / "wheel"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(wheels), str(repo_root)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("rnn_course-*.whl"))
    source = f"{wheel.as_uri()}#sha256={hashlib.sha256(wheel.read_bytes()).hexdigest()}"

    # The course, configured for that source, its student notebooks generated by `assign`.
    course = tmp_path / "course"
    for name in ("solutions", "notebooks"):
        shutil.copytree(repo_root / name, course / name)
    shutil.copy(repo_root / "pyproject.toml", course)
    (course / "course.toml").write_text(f'[colab]\ninstall = "{source}"\n'
                                        'repository = "https://github.com/example-org/rnn-course"\n')
    assert assignment.assign(course).written

    # The runtime: google.colab imported, nbgrader absent, the kernel is the simulated venv's Python.
    fake = tmp_path / "fake_colab"
    fake.mkdir()
    (fake / "sitecustomize.py").write_text(_FAKE_COLAB)
    kernel = tmp_path / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab (simulated)", "language": "python"}))
    env = {"PYTHONPATH": str(fake), "JUPYTER_PATH": str(tmp_path / "jupyter")}

    setup_lines = {}
    for i, path in enumerate(sorted((course / "notebooks").glob("*.ipynb"))):
        result = run_notebook(path, mode="fast", allow_errors=True, cell_timeout=600, env=env)
        cells = result.notebook.cells
        outputs = [(k, o) for k, c in enumerate(cells) if c.cell_type == "code" for o in c.outputs]
        stderr = [(k, o.text[:300]) for k, o in outputs if o.get("name") == "stderr"]
        assert not stderr, f"{path.name}: cells wrote to stderr: {stderr}"
        unexpected = [(k, m) for k, m in result.errors if not _may_fail(cells[k])]
        assert not unexpected, f"{path.name}: ungraded cells failed: {unexpected}"
        lines = "".join(o.text for o in cells[0].outputs if o.get("name") == "stdout").splitlines()
        setup_lines[path.name] = lines
        print(f"\n{path.name}: {result.seconds:.1f} s, {len(result.errors)} expected error(s); setup cell said:")
        print("\n".join(f"    {line}" for line in lines))
        assert len(lines) == 2, lines
        assert lines[1].startswith("rnn-course 0.1.0 | Keras 3.15.1 on tensorflow | CPU x1 | mode FAST"), lines
        if i == 0:  # a fresh runtime: the course and a newer Keras are installed, TensorFlow is kept
            assert lines[0].startswith(f"Colab setup: installed rnn-course 0.1.0 ({wheel.as_uri()}#sha256="), lines
            assert f"changed keras {keras_before} -> 3.15.1" in lines[0], lines
        else:
            assert lines[0].startswith("Colab setup: "), lines
            assert "keras" not in lines[0].split("; ")[1], lines  # nothing else to install any more
        assert lines[0].endswith(f"kept Colab's tensorflow-cpu {probe.stdout.split()[0]}."), lines
        assert cells[1].cell_type == "markdown" and "[Open in Colab](https://colab.research.google.com/github/" \
            "example-org/rnn-course/blob/main/notebooks/" + path.name + ")" in cells[1].source
    # Bad input in the same runtime: a wheel whose hash is not the configured one, a file that is not there.
    import nbformat

    for bad in (source[:-64] + "0" * 64, wheel.with_name("rnn_course-9.9.9-py3-none-any.whl").as_uri() + source[-72:]):
        path = tmp_path / "bad.ipynb"
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(notebook.setup_cell(bad))]), str(path))
        result = run_notebook(path, mode="fast", allow_errors=True, cell_timeout=300, env=env)
        outputs = result.notebook.cells[0].outputs
        print(f"\nbad source {bad[-80:]}: the setup cell said:\n    {outputs[0].text.strip()}")
        assert [o.output_type for o in outputs] == ["stream", "error"] and outputs[0].name == "stdout", outputs
        assert outputs[0].text.count("\n") == 1 and "the source does not resolve" in outputs[0].text
        assert outputs[1].ename == "SetupStopped" and outputs[1].traceback == []
    final = _venv_run(python, "-c", "import importlib.metadata as m; print(m.version('tensorflow-cpu'))")
    assert final.stdout.strip() == probe.stdout.split()[0], "the setup cell replaced TensorFlow"
    print(f"\nsimulated Colab: {len(setup_lines)} notebooks in {time.perf_counter() - start:.0f} s "
          "(the venv build not included)")
