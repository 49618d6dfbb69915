"""Backend and device: which Keras backend runs, on what, and how to distribute.

The course runs on the TensorFlow backend by default and on JAX (and, where the
notebook allows, PyTorch). `report()` says what this machine has; `distribution()`
returns what to train under:

| backend    | accelerator   | distribution                                  |
|------------|---------------|-----------------------------------------------|
| tensorflow | TPU           | `tf.distribute.TPUStrategy`                   |
| tensorflow | GPU (1 or more) | `tf.distribute.MirroredStrategy`            |
| jax        | GPU or TPU    | `keras.distribution.DataParallel`             |
| any        | CPU only      | `None`: nothing special, train as usual       |

Use it through `training_scope()`, which works for all of them:

    with device.training_scope(dist):
        model = build_model()
        model.compile(...)
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import os
import platform
import sys

from rnn_course.errors import BackendError

BACKENDS = ("tensorflow", "jax", "torch", "numpy")
DEFAULT_BACKEND = "tensorflow"
_BACKEND_PACKAGE = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "numpy": "numpy"}


def _version(dist_names) -> str | None:
    for name in dist_names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def select_backend(name: str | None = None) -> str:
    """Chooses the Keras backend before Keras is imported.

    Args:
        name: `"tensorflow"`, `"jax"`, `"torch"` or `"numpy"`. `None` keeps the
            `KERAS_BACKEND` environment variable, or the course default (tensorflow).

    Returns:
        The backend that Keras will use.

    Raises:
        BackendError: the name is unknown, its package is not installed, or Keras
            was already imported with a different backend (restart the kernel).
    """
    requested = name or os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND
    requested = requested.strip().lower()
    if requested not in BACKENDS:
        raise BackendError(f"Unknown Keras backend: {requested!r}. Expected one of {list(BACKENDS)}.")
    if importlib.util.find_spec(_BACKEND_PACKAGE[requested]) is None:
        raise BackendError(
            f"The {requested!r} backend was requested, but the package {_BACKEND_PACKAGE[requested]!r} "
            f"is not installed. Install it (`pip install {_BACKEND_PACKAGE[requested]}`) or choose another "
            f"backend with KERAS_BACKEND."
        )
    if "keras" in sys.modules:
        active = sys.modules["keras"].backend.backend()
        if active != requested:
            raise BackendError(
                f"Keras is already running on the {active!r} backend, so {requested!r} cannot be selected now. "
                "Expected: set KERAS_BACKEND before Keras is first imported (restart the kernel and run the "
                "setup cell first)."
            )
    os.environ["KERAS_BACKEND"] = requested
    return requested


@dataclasses.dataclass
class DeviceReport:
    """What this machine offers the course."""

    backend: str
    accelerator: str  # "TPU" | "GPU" | "CPU"
    devices: list[str]
    versions: dict[str, str | None]
    python: str
    platform: str
    in_colab: bool
    distribution: str  # the planned distribution, e.g. "MirroredStrategy", or "none"

    def __str__(self) -> str:
        versions = ", ".join(f"{k} {v}" for k, v in self.versions.items() if v)
        return (
            f"backend      : {self.backend}\n"
            f"accelerator  : {self.accelerator} ({len(self.devices)} device(s): {', '.join(self.devices)})\n"
            f"distribution : {self.distribution}\n"
            f"versions     : {versions}\n"
            f"python       : {self.python} on {self.platform}{' (Colab)' if self.in_colab else ''}"
        )


def _tpu_hinted() -> bool:
    """Only look for a TPU where one can be: probing elsewhere is slow and noisy."""
    return bool(os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME")
                or os.environ.get("TPU_ACCELERATOR_TYPE") or os.path.exists("/dev/accel0")
                or os.path.exists("/dev/vfio/0"))


def _tf_devices() -> tuple[str, list[str]]:
    import tensorflow as tf

    if _tpu_hinted():
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            tpus = tf.config.list_logical_devices("TPU")
            if tpus:
                return "TPU", [d.name for d in tpus]
        except (ValueError, RuntimeError):
            pass
    gpus = tf.config.list_logical_devices("GPU")  # logical names ("/device:GPU:0"): what MirroredStrategy takes
    if gpus:
        return "GPU", [d.name for d in gpus]
    return "CPU", [d.name for d in tf.config.list_logical_devices("CPU")]


def _jax_devices() -> tuple[str, list[str]]:
    import jax

    devices = jax.devices()
    kind = {"tpu": "TPU", "gpu": "GPU", "cuda": "GPU", "rocm": "GPU"}.get(devices[0].platform, "CPU")
    return kind, [str(d) for d in devices]


def _torch_devices() -> tuple[str, list[str]]:
    import torch

    if torch.cuda.is_available():
        return "GPU", [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return "CPU", ["cpu"]


def plan_distribution(backend: str, accelerator: str, n_devices: int) -> str:
    """The name of the distribution setup for this backend and hardware ("none" on CPU)."""
    if accelerator == "CPU" or n_devices < 1:
        return "none"
    if backend == "tensorflow":
        return "TPUStrategy" if accelerator == "TPU" else "MirroredStrategy"
    if backend == "jax":
        return "DataParallel"
    return "none"  # torch / numpy: Keras trains on the default device


def report(backend: str | None = None) -> DeviceReport:
    """Detects the backend, library versions and accelerator.

    Args:
        backend: the backend to report on; defaults to the active Keras backend.
    """
    if backend is None:
        backend = sys.modules["keras"].backend.backend() if "keras" in sys.modules else select_backend()
    finder = {"tensorflow": _tf_devices, "jax": _jax_devices, "torch": _torch_devices}.get(backend)
    accelerator, devices = finder() if finder else ("CPU", ["cpu"])
    versions = {
        "keras": _version(["keras"]),
        "tensorflow": _version(["tensorflow", "tensorflow-cpu", "tf-nightly"]),
        "jax": _version(["jax"]),
        "torch": _version(["torch"]),
        "numpy": _version(["numpy"]),
        "rnn-course": _version(["rnn-course"]),
    }
    return DeviceReport(
        backend=backend,
        accelerator=accelerator,
        devices=devices,
        versions=versions,
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.machine()}",
        in_colab="google.colab" in sys.modules,
        distribution=plan_distribution(backend, accelerator, len(devices)),
    )


def distribution(rep: DeviceReport | None = None):
    """Builds the distribution setup that `rep.distribution` names, or `None` on CPU.

    Data parallelism always goes through the framework's own API: each replica gets a
    slice of every batch and the gradients are averaged across replicas, so one step
    equals a single-device step on the whole batch.

    - `TPUStrategy`: `tf.distribute.TPUStrategy` on the TPU that `TPUClusterResolver` finds
      (Colab's; `report()` has connected to it already).
    - `MirroredStrategy`: `tf.distribute.MirroredStrategy` over `rep.devices`, the logical
      device names `report()` lists.
    - `DataParallel`: `keras.distribution.DataParallel` over every JAX device of `rep.accelerator`.

    Args:
        rep: a `DeviceReport` (default: `report()` of this machine).

    Returns:
        The strategy or `keras.distribution.Distribution`, or None when `rep.distribution` is "none".

    Raises:
        BackendError: an unknown plan.
    """
    rep = rep or report()
    if rep.distribution == "none":
        return None
    if rep.distribution == "TPUStrategy":
        import tensorflow as tf

        return tf.distribute.TPUStrategy(tf.distribute.cluster_resolver.TPUClusterResolver())
    if rep.distribution == "MirroredStrategy":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy(devices=list(rep.devices) or None)
    if rep.distribution == "DataParallel":
        import keras

        return keras.distribution.DataParallel(devices=keras.distribution.list_devices(rep.accelerator.lower()))
    raise BackendError(f"Unknown distribution plan: {rep.distribution!r}. "
                       "Expected one of 'none', 'TPUStrategy', 'MirroredStrategy', 'DataParallel'.")


def training_scope(dist=None):
    """A context manager to build and compile models under `dist` (or nothing)."""
    if dist is None:
        return contextlib.nullcontext()
    return dist.scope()
