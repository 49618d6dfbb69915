import json
import os
import subprocess
import sys

import pytest


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rnn_course.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_doctor_reports_device_mode_and_every_corpus():
    run = _cli("doctor", env={"RNN_COURSE_FAST": "1"})
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "backend      :" in out and "accelerator  :" in out and "mode         : FAST" in out
    assert "imports      : " in out  # what TensorFlow printed at import (tests/test_quiet_imports.py)
    assert out.count("  ok     ") == 10, out
    assert run.stderr == ""


def test_unknown_backend_is_one_line_exit_2():
    run = _cli("doctor", "--backend", "theano")
    assert run.returncode == 2
    assert run.stderr.strip() == ("rnn-course doctor: error: Unknown Keras backend: 'theano'. "
                                  "Expected one of ['tensorflow', 'jax', 'torch', 'numpy'].")


def test_data_verify_passes_on_the_bundled_data():
    run = _cli("data", "--verify")
    assert run.returncode == 0 and run.stdout.count("ok") == 10


def test_run_in_process_needs_no_kernel_and_reports_each_cell(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import inspect, os\ndef twice(x):\n    return 2 * x\n"),
        nbformat.v4.new_markdown_cell("text"),
        nbformat.v4.new_code_cell("print('mode', os.environ['RNN_COURSE_FAST'], 'source:', inspect.getsource(twice).split()[1])"),
        nbformat.v4.new_code_cell("twice(1) / 0"),
        nbformat.v4.new_code_cell("print('after the failure', twice(21))"),
    ])
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, str(path))
    before = path.read_text()
    # nbclient and jupyter_client cannot be imported: the run must not need them.
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nclass B:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('nbclient', 'jupyter_client', 'ipykernel'):\n"
        "            raise ImportError(name + ' blocked')\nsys.meta_path.insert(0, B())\n")
    run = _cli("run", "--in-process", "--mode", "fast", str(path), env={"PYTHONPATH": str(blocker)})
    assert run.returncode == 1, run.stderr  # one failing cell
    out = run.stdout
    assert "mode 1 source: twice(x):" in out
    assert "--- code cell 2: " in out and "FAILED" in out and "ZeroDivisionError" in out
    assert "after the failure 42" in out
    assert "1 failing cell(s)" in out and "cell 2: ZeroDivisionError: division by zero" in out
    assert path.read_text() == before


def test_run_in_process_keeps_outputs_figures_and_published_tables_in_the_out_folder(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from rnn_course.notebook import setup\nCOURSE = setup(seed=1)"),
        nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nimport numpy as np\n"
                                  "plt.plot([1, 2, 3])\nplt.show()\nfig, ax = plt.subplots()\nax.bar([0], [1])"),
        nbformat.v4.new_code_cell("COURSE.publish('perplexity', [{'model': 'KN-5', 'valid': np.float64(1.5),"
                                  " 'curve': np.arange(3)}])\nprint('published')"),
        nbformat.v4.new_code_cell("1 / 0"),
    ])
    path = tmp_path / "showdown.ipynb"
    nbformat.write(nb, str(path))
    out = tmp_path / "out"
    run = _cli("run", "--in-process", "--mode", "fast", "--out", str(out), str(path))
    assert run.returncode == 1, run.stderr  # the failing cell
    folder = out / "showdown"
    data = json.loads((folder / "run.json").read_text())
    assert data["notebook"] == "showdown.ipynb" and data["mode"] == "fast"
    assert data["backend"] == os.environ.get("KERAS_BACKEND", "tensorflow")  # the pass's backend, inherited
    assert data["device"]["accelerator"] and data["seconds"] > 0
    assert data["tables"] == {"perplexity": [{"model": "KN-5", "valid": 1.5, "curve": [0, 1, 2]}]}
    cells = data["cells"]
    assert [c["index"] for c in cells] == [0, 1, 2, 3]
    assert cells[1]["figures"] == ["cell01_fig1.png", "cell01_fig2.png"] and cells[2]["output"] == "published"
    assert cells[3]["error"].startswith("ZeroDivisionError") and cells[0]["error"] is None
    for name in cells[1]["figures"]:
        assert (folder / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"kept in {folder}: run.json and 2 figure(s)" in run.stdout


def test_out_needs_in_process_and_publish_refuses_what_json_cannot_store():
    run = _cli("run", "--out", "somewhere", "solutions/00_setup.ipynb")
    assert run.returncode == 2 and "--out DIR keeps the outputs of an --in-process run" in run.stderr
    from rnn_course.notebook import CourseConfig

    course = CourseConfig(mode="fast", seed=0, backend="tensorflow", report=None)
    with pytest.raises(TypeError, match=r"table 'bad' holds a object"):
        course.publish("bad", [{"x": object()}])
    with pytest.raises(TypeError, match="non-empty string name. Received: ''"):
        course.publish("", [])
    course.publish("ok", {"rows": [1, 2]})
    assert course.tables == {"ok": {"rows": [1, 2]}}


def test_run_in_process_cannot_save():
    run = _cli("run", "--in-process", "--save", "solutions/00_setup.ipynb")
    assert run.returncode == 2 and "cannot --save" in run.stderr and run.stderr.count("\n") == 1
