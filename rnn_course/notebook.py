"""What the first (locked) cell of every course notebook does.

The setup cell is the same text in every notebook (`SETUP_CELL` below; `rnn-course
assign --check` enforces it). It installs the course on Colab, then calls `setup()`,
which:

1. keeps library chatter off stderr (nbgrader scores a test cell that writes to
   stderr as 0): TensorFlow's C++ and Python logs, absl, and Python warnings; what
   TensorFlow's C++ code writes to fd 2 while it is imported, which no log level
   silences, is kept off stderr by `rnn_course.quiet_imports` (installed as soon as
   the cell imports `rnn_course`, so any later import of TensorFlow is covered);
2. selects the Keras backend (`KERAS_BACKEND`, TensorFlow by default);
3. seeds Python, NumPy and the backend;
4. chooses the mode: FAST (`RNN_COURSE_FAST=1`, used by CI and the grader),
   full (the default, what a student runs), or GPU scale (`RNN_COURSE_SCALE=gpu`);
5. prints one line saying what was found.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings

from rnn_course import device, quiet_imports
from rnn_course.errors import CourseError

MODES = ("fast", "full", "gpu")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")

#: The first cell of every notebook in solutions/ (and so in notebooks/), verbatim.
SETUP_CELL = '''\
# Setup (locked): run this cell first. It installs the course on Colab, picks the Keras
# backend, seeds everything, keeps library logs off stderr and chooses FAST or full mode.
import os, sys
os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # "jax" or "torch" also work; set before Keras loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")    # TensorFlow's C++ logs would go to stderr
if "google.colab" in sys.modules:
    get_ipython().run_line_magic("pip", "install -q 'keras>=3.15'")
    get_ipython().run_line_magic("pip", "install -q --no-deps " + os.environ.get("RNN_COURSE_PIP", "rnn-course"))
from rnn_course.notebook import setup
COURSE = setup(seed=42)  # FAST mode: RNN_COURSE_FAST=1; GPU scale: RNN_COURSE_SCALE=gpu
FAST = COURSE.fast'''


def mode_from_env(environ=None) -> str:
    """`"fast"`, `"full"` or `"gpu"`, from `RNN_COURSE_FAST` and `RNN_COURSE_SCALE`."""
    environ = os.environ if environ is None else environ
    fast = environ.get("RNN_COURSE_FAST", "").strip().lower()
    scale = environ.get("RNN_COURSE_SCALE", "").strip().lower()
    if fast not in _TRUE + _FALSE:
        raise CourseError(f"RNN_COURSE_FAST must be 1 or 0. Received: {environ['RNN_COURSE_FAST']!r}")
    if scale not in ("", "cpu", "full", "gpu"):
        raise CourseError(f"RNN_COURSE_SCALE must be 'full' or 'gpu'. Received: {environ['RNN_COURSE_SCALE']!r}")
    if fast in _TRUE:
        return "fast"  # FAST wins: CI and the grader must never run at GPU scale
    return "gpu" if scale == "gpu" else "full"


def silence_logs() -> None:
    """Keeps TensorFlow, absl and Python warnings off stderr (and TensorFlow's import-time C++ notices)."""
    quiet_imports.install()  # already done by `import rnn_course`; idempotent
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    warnings.filterwarnings("ignore")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("jax").setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


@dataclasses.dataclass
class CourseConfig:
    """The result of `setup()`: what every later cell may consult."""

    mode: str
    seed: int
    backend: str
    report: device.DeviceReport

    @property
    def fast(self) -> bool:
        return self.mode == "fast"

    def pick(self, *, fast, full, gpu=None):
        """The value for the current mode, e.g. `steps = COURSE.pick(fast=20, full=2000)`."""
        return {"fast": fast, "full": full, "gpu": full if gpu is None else gpu}[self.mode]

    def distribution(self):
        """The distribution setup for this machine (`None` on CPU); see `rnn_course.device`."""
        return device.distribution(self.report)

    def summary(self) -> str:
        from rnn_course import __version__

        r = self.report
        return (f"rnn-course {__version__} | Keras {r.versions.get('keras')} on {self.backend} | "
                f"{r.accelerator} x{len(r.devices)} | mode {self.mode.upper()} | seed {self.seed}")


def setup(seed: int = 42, *, backend: str | None = None, verbose: bool = True) -> CourseConfig:
    """Prepares a notebook: quiet logs, backend, seeds, mode, device report.

    Args:
        seed: seeds Python's `random`, NumPy and the backend (`keras.utils.set_random_seed`).
        backend: overrides `KERAS_BACKEND` (only before Keras is first imported).
        verbose: print the one-line summary.
    """
    silence_logs()
    backend = device.select_backend(backend)
    mode = mode_from_env()
    import keras

    silence_logs()  # TensorFlow resets its logger level on import
    keras.utils.set_random_seed(seed)
    try:
        import matplotlib

        matplotlib.rcParams.update({"figure.figsize": (7, 4), "figure.dpi": 100, "axes.grid": True})
    except ImportError:
        pass
    config = CourseConfig(mode=mode, seed=seed, backend=backend, report=device.report(backend))
    if verbose:
        print(config.summary())
    return config
