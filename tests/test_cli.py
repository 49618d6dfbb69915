import os
import subprocess
import sys


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "rnn_course.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_doctor_reports_device_mode_and_every_corpus():
    run = _cli("doctor", env={"RNN_COURSE_FAST": "1"})
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "backend      :" in out and "accelerator  :" in out and "mode         : FAST" in out
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
