import dataclasses
import os
import subprocess
import sys

import pytest

from rnn_course import device
from rnn_course.errors import BackendError


@pytest.mark.parametrize("backend, accelerator, n, expected", [
    ("tensorflow", "TPU", 8, "TPUStrategy"),
    ("tensorflow", "GPU", 1, "MirroredStrategy"),
    ("tensorflow", "GPU", 4, "MirroredStrategy"),
    ("tensorflow", "CPU", 1, "none"),
    ("jax", "GPU", 1, "DataParallel"),
    ("jax", "TPU", 8, "DataParallel"),
    ("jax", "CPU", 2, "none"),
    ("torch", "GPU", 1, "none"),
])
def test_distribution_plan(backend, accelerator, n, expected):
    assert device.plan_distribution(backend, accelerator, n) == expected


def test_report_on_this_machine_matches_the_active_backend():
    import keras

    rep = device.report()
    assert rep.backend == keras.backend.backend()
    assert rep.accelerator in ("CPU", "GPU", "TPU") and rep.devices
    assert rep.versions["keras"] == keras.__version__
    text = str(rep)
    assert f"backend      : {rep.backend}" in text and "versions" in text
    if rep.accelerator == "CPU":
        assert rep.distribution == "none" and device.distribution(rep) is None


def test_training_scope_without_distribution_is_a_no_op():
    with device.training_scope(None):
        pass


def test_accelerator_distribution_builds_and_trains_under_its_scope():
    """Forces the accelerator plan on whatever devices exist, to run that code path on CPU."""
    import keras
    import numpy as np

    rep = device.report()
    plan = {"tensorflow": "MirroredStrategy", "jax": "DataParallel"}.get(rep.backend)
    if plan is None:
        pytest.skip(f"no accelerator distribution for backend {rep.backend}")
    dist = device.distribution(dataclasses.replace(rep, distribution=plan))
    assert type(dist).__name__ == plan
    with device.training_scope(dist):
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, batch_size=4, verbose=0)


def test_select_backend_rejects_unknown_and_switching():
    with pytest.raises(BackendError, match=r"Unknown Keras backend: 'theano'. Expected one of"):
        device.select_backend("theano")
    import keras

    active = keras.backend.backend()
    assert device.select_backend(active) == active
    other = "jax" if active != "jax" else "tensorflow"
    with pytest.raises(BackendError, match="restart the kernel"):
        device.select_backend(other)


def test_missing_backend_package_is_explained(monkeypatch):
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.setattr(device.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackendError, match="not installed"):
        device.select_backend("torch")


def test_backend_env_var_is_honoured_in_a_fresh_process():
    env = {**os.environ, "KERAS_BACKEND": "numpy"}
    out = subprocess.run([sys.executable, "-c", "from rnn_course import device; print(device.select_backend())"],
                         env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "numpy"
