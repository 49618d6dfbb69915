import dataclasses
import json
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


# ---------------------------------------------------------------------- several devices, on the CPU
# What both scripts below start with: two devices (TF: logical; JAX: XLA_FLAGS), and `forced`, the report of
# this machine with the plan a machine with two accelerators gets.
TWO_DEVICES = r'''
import dataclasses, json, sys
import numpy as np
backend = sys.argv[1]
if backend == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from rnn_course import device

rep = device.report(backend)
forced = dataclasses.replace(rep, accelerator="GPU" if backend == "tensorflow" else "CPU",
                             distribution={"tensorflow": "MirroredStrategy", "jax": "DataParallel"}[backend])
'''

# One data-parallel training step over 2 virtual CPU devices must equal the same step on one device:
# each replica takes half of the batch and the framework averages the gradients.
MULTI_DEVICE_STEP = TWO_DEVICES + r'''
x = np.random.default_rng(0).normal(size=(8, 5, 3)).astype("float32")
y = np.random.default_rng(1).normal(size=(8, 4)).astype("float32")

def trained(dist):
    keras.utils.set_random_seed(0)
    with device.training_scope(dist):
        model = keras.Sequential([keras.Input((5, 3)), keras.layers.GRU(4)])
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    return [w.tolist() for w in model.get_weights()]

dist = device.distribution(forced)
replicas = dist.num_replicas_in_sync if backend == "tensorflow" else int(dist.device_mesh.devices.size)
many = trained(dist)
if backend == "jax":
    keras.distribution.set_distribution(None)
one = trained(None)
print(json.dumps({"devices": rep.devices, "type": type(dist).__name__, "replicas": replicas,
                  "max_diff": max(float(np.max(np.abs(np.array(a) - np.array(b)))) for a, b in zip(many, one)),
                  "moved": max(float(np.max(np.abs(np.array(a)))) for a in many)}))
'''


@pytest.mark.backend_free  # each case names its backend: run it in one pass only
@pytest.mark.parametrize("backend, env, plan", [
    ("tensorflow", {}, "MirroredStrategy"),
    ("jax", {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}, "DataParallel"),
])
def test_data_parallel_over_two_virtual_cpu_devices_equals_one_device(backend, env, plan):
    pytest.importorskip(backend)
    run = subprocess.run([sys.executable, "-c", MULTI_DEVICE_STEP, backend], capture_output=True, text=True,
                         env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", **env}, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(out["devices"]) == 2, out  # report() sees both virtual devices
    assert out["type"] == plan and out["replicas"] == 2
    assert out["max_diff"] < 1e-5, out  # the same step as on one device
    assert out["moved"] > 0


LM_PATH = TWO_DEVICES + r'''
from rnn_course.generation import sample_from_model
from rnn_course.training import evaluate_perplexity, fit_lm
from rnn_course.windows import lm_windows

ids = np.tile(np.arange(4, 12), 40)
valid = lm_windows(ids[:45], 8, pad_last=True)  # 6 windows: not a multiple of the evaluation batch of 4
keras.utils.set_random_seed(0)
with device.training_scope(device.distribution(forced)):  # as notebook 06 builds and trains its models
    model = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(12, 8),
                              keras.layers.LSTM(8, return_sequences=True), keras.layers.Dense(12)])
    history = fit_lm(model, lm_windows(ids, 8), valid, steps=4, batch_size=4, eval_every=2, eval_batch_size=4,
                     progress=False)
exact = evaluate_perplexity(model, ids[:45], seq_len=8, batch_size=3)  # then evaluates and samples outside
sample = sample_from_model(model, [4], 5)
print(json.dumps({"valid": history.valid_perplexity, "exact": exact, "sample": sample.tolist()}))
'''


@pytest.mark.backend_free  # each case names its backend: run it in one pass only
@pytest.mark.parametrize("backend, env", [
    ("tensorflow", {}),
    ("jax", {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}),
])
def test_notebook_06s_training_evaluation_and_sampling_run_data_parallel(backend, env):
    """fit_lm with a validation set that does not fill its last batch (the showdown's padded windows), then
    evaluate_perplexity and sample_from_model, over two virtual devices: JAX's DataParallel needs every batch
    to split evenly, so fit_lm pads the validation set with windows of padding (which count for nothing)."""
    pytest.importorskip(backend)
    run = subprocess.run([sys.executable, "-c", LM_PATH, backend], capture_output=True, text=True,
                         env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", **env}, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["exact"] == pytest.approx(out["valid"][-1], rel=1e-3)  # the padding windows changed nothing
    assert len(out["sample"]) == 5


# ---------------------------------------------------------------------- TPU, with mocks
class _FakeDevice:
    def __init__(self, name, platform="tpu", id=0):
        self.name, self.platform, self.id = name, platform, id

    def __str__(self):
        return f"TPU_{self.id}(host=0)"


@pytest.mark.backend_free
def test_tensorflow_finds_a_colab_tpu_and_plans_tpu_strategy(monkeypatch):
    tf = pytest.importorskip("tensorflow")
    calls = []

    class Resolver:
        def __init__(self, *args, **kwargs):
            calls.append("resolve")

    monkeypatch.setenv("COLAB_TPU_ADDR", "10.0.0.2:8470")
    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", Resolver)
    monkeypatch.setattr(tf.config, "experimental_connect_to_cluster", lambda r: calls.append("connect"))
    monkeypatch.setattr(tf.tpu.experimental, "initialize_tpu_system", lambda r: calls.append("initialize"))
    real_logical = tf.config.list_logical_devices
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: (
        [_FakeDevice(f"/device:TPU:{i}") for i in range(8)] if kind == "TPU" else real_logical(kind)))
    rep = device.report("tensorflow")
    assert (rep.accelerator, len(rep.devices), rep.distribution) == ("TPU", 8, "TPUStrategy")
    assert calls == ["resolve", "connect", "initialize"]
    built = []
    monkeypatch.setattr(tf.distribute, "TPUStrategy", lambda resolver: built.append(type(resolver).__name__) or "tpu")
    assert device.distribution(rep) == "tpu" and built == ["Resolver"]


@pytest.mark.backend_free
def test_tensorflow_without_a_reachable_tpu_falls_back_to_the_cpu(monkeypatch):
    tf = pytest.importorskip("tensorflow")

    def unreachable(*args, **kwargs):
        raise ValueError("Please provide a TPU Name to connect to.")

    monkeypatch.setenv("TPU_NAME", "gone")
    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", unreachable)
    rep = device.report("tensorflow")
    assert rep.accelerator in ("CPU", "GPU") and rep.distribution != "TPUStrategy"


@pytest.mark.backend_free
def test_jax_tpu_plans_data_parallel_over_the_tpu_devices(monkeypatch):
    jax = pytest.importorskip("jax")
    import keras

    monkeypatch.setattr(jax, "devices", lambda *a: [_FakeDevice("tpu", id=i) for i in range(4)])
    rep = device.report("jax")
    assert (rep.accelerator, len(rep.devices), rep.distribution) == ("TPU", 4, "DataParallel")
    asked, built = [], []
    monkeypatch.setattr(keras.distribution, "list_devices", lambda kind=None: asked.append(kind) or ["tpu:0", "tpu:1"])
    monkeypatch.setattr(keras.distribution, "DataParallel", lambda devices: built.append(devices) or "dp")
    assert device.distribution(rep) == "dp" and asked == ["tpu"] and built == [["tpu:0", "tpu:1"]]
