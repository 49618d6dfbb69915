"""What the first (locked) cell of every course notebook does.

The setup cell is the same text in every notebook: `setup_cell(install)`, rendered
from the install source in the course's `course.toml` (`load_settings`); `rnn-course
assign` writes it into every solution and `rnn-course assign --check` enforces it. On
Colab it installs the course from that pinned source (then `rnn_course.colab.complete`
installs what Colab lacks); everywhere it then calls `setup()`, which:

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
import json
import logging
import os
import re
import warnings

from rnn_course import device, quiet_imports
from rnn_course.errors import CourseError

MODES = ("fast", "full", "gpu", "gpu-dry")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")

#: The setup cell before course.toml: on Colab it installed `rnn-course` from PyPI, a name that is not
#: ours. `rnn-course assign` accepts it in a solution only to replace it with `setup_cell(...)`;
#: `rnn-course assign --check` reports it as STALE.
LEGACY_SETUP_CELL = """\
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
FAST = COURSE.fast"""

_SOURCE_SLOT = "<<COURSE_SOURCE>>"

#: The setup cell, with `<<COURSE_SOURCE>>` where `setup_cell()` writes the install source as a
#: Python string. Only the first step on Colab lives here, because nothing else can run before
#: the course is installed: pip-install the pinned source without dependencies, or stop with one
#: line. Everything after that (what Colab lacks or has too old, the one-line report, the restart
#: notice) is `rnn_course.colab.complete`, from the package just installed at the same pin.
SETUP_TEMPLATE = f"""\
# Setup (locked): run this cell first. On Colab it installs the course from the pinned source
# below and whatever Colab lacks or has too old (Keras >= 3.15; never TensorFlow), in one line.
# Everywhere it picks the Keras backend, seeds everything, keeps library logs off stderr and
# chooses FAST or full mode.
import os, sys
os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # "jax" or "torch" also work; set before Keras loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")    # TensorFlow's C++ logs would go to stderr
COURSE_SOURCE = {_SOURCE_SLOT}  # from course.toml, written here by `rnn-course assign`
if "google.colab" in sys.modules:
    class SetupStopped(Exception):  # stops "Run all" after the one line printed above, without a traceback
        def _render_traceback_(self):
            return []
    if not COURSE_SOURCE:
        print("Colab setup: nothing installed: this course has no install source yet. Instructor: set "
              "[colab] install in course.toml, then run `rnn-course assign`.")
        raise SetupStopped("no install source")
    import subprocess
    _pip = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-input", COURSE_SOURCE],
                          capture_output=True, text=True)  # pip's own output and warnings stay in _pip
    if _pip.returncode:
        _log = _pip.stdout + _pip.stderr
        if any(s in _log for s in ("resolve host", "name resolution", "Failed to establish", "unreachable")):
            _why = "no network (this runtime cannot reach the source's host)"
        elif any(s in _log for s in ("not found", "404", "did not match", "not a tree", "HASHES", "No such")):
            _why = "the source does not resolve (a wrong address, commit or sha256; instructor: course.toml)"
        else:
            _why = "pip says: " + ([s for s in _log.splitlines() if s.strip()] or ["nothing"])[-1].strip()[:200]
        print(f"Colab setup: nothing installed: could not install the course from {{COURSE_SOURCE}}: {{_why}}. "
              "pip's output: print(_pip.stderr)")
        raise SetupStopped(_why)
    from rnn_course import colab
    colab.complete(COURSE_SOURCE, _pip)  # installs what Colab lacks or has too old; prints one line
from rnn_course.notebook import setup
COURSE = setup(seed=42)  # FAST mode: RNN_COURSE_FAST=1; GPU scale: RNN_COURSE_SCALE=gpu
FAST = COURSE.fast"""

_GIT_SOURCE = re.compile(r"git\+(https|file)://[^\s@\"'\\#]+@(?P<commit>[0-9a-f]{40})")
_WHEEL_SOURCE = re.compile(r"(https|file)://[^\s\"'\\#]+\.whl#sha256=[0-9a-f]{64}")
_GITHUB_REPO = re.compile(r"https://github\.com/(?P<owner>[A-Za-z0-9][A-Za-z0-9-]*)/"
                          r"(?P<repo>[A-Za-z0-9._-]+?)(?:\.git)?/?")
_REF = re.compile(r"[A-Za-z0-9._/-]+")
_PIN_EXAMPLES = ("'git+https://github.com/OWNER/REPO@<40-hex commit>' (`git rev-parse HEAD`) or "
                 "'https://…/rnn_course-0.1.0-py3-none-any.whl#sha256=<64 hex>' (`sha256sum` of the wheel)")


def check_install_source(source: str) -> str:
    """Checks what the setup cell pip-installs on Colab: a pinned source, never a package name.

    Args:
        source: `git+https://…@<40-hex commit>` (or `git+file://` for tests), or a wheel URL
            (`https://` or `file://`) ending in `#sha256=<64 hex>`; `""` means not configured.

    Returns:
        `source`, unchanged.

    Raises:
        CourseError: naming what was received and the two accepted forms.
    """
    if not isinstance(source, str):
        raise CourseError(f"course.toml [colab] install must be a string. Received: {source!r}")
    if source == "" or _GIT_SOURCE.fullmatch(source) or _WHEEL_SOURCE.fullmatch(source):
        return source
    if re.search(r"[\s\"'\\]", source):
        hint = "a URL has no spaces, quotes or backslashes"
    elif source.startswith("git+") and "@" in source.rsplit("/", 1)[-1]:
        hint = "a branch or tag moves and a short hash is ambiguous; pin the full 40-hex commit"
    elif source.startswith("git+"):
        hint = "it names no commit, so every student would get whatever the branch holds that day"
    elif ".whl" in source and "#sha256=" not in source:
        hint = "a wheel URL needs its #sha256=<64 hex> so pip refuses any other file"
    elif "://" not in source:
        hint = "a bare package name installs whatever PyPI serves under that name, which may not be ours"
    else:
        hint = "it is neither a pinned git URL nor a wheel with its hash"
    raise CourseError(f"course.toml [colab] install must pin the course: {_PIN_EXAMPLES}; {hint}. "
                      f"Received: {source!r}")


def setup_cell(install: str = "") -> str:
    """The text of every notebook's first cell, for the install source `install` (see `check_install_source`).

    With `install=""` the cell still works everywhere but on Colab, where it stops with one line
    telling the instructor what to set.

    Raises:
        CourseError: if `install` is not a pinned source.
    """
    return SETUP_TEMPLATE.replace(_SOURCE_SLOT, json.dumps(check_install_source(install)))


def setup_cell_source(text: str) -> str | None:
    """The install source written in a setup cell's text, or None if `text` is not a setup cell."""
    head, tail = SETUP_TEMPLATE.split(_SOURCE_SLOT)
    match = re.fullmatch(re.escape(head) + r'("(?:[^"\\]|\\.)*")' + re.escape(tail), text)
    if not match:
        return None
    try:
        return json.loads(match.group(1))
    except ValueError:
        return None


#: The setup cell of a course with no install source yet (on Colab it stops with one line).
SETUP_CELL = setup_cell("")


# ------------------------------------------------------------------ course.toml: the instructor's settings
CONFIG_FILE = "course.toml"
COLAB_LINK_TAG = "colab-link"


@dataclasses.dataclass(frozen=True)
class ColabSettings:
    """The `[colab]` table of `course.toml`, checked.

    Attributes:
        install: what the setup cell pip-installs on Colab (`check_install_source`), `""` if unset.
        repository: the course's GitHub repository, `https://github.com/OWNER/REPO`, `""` if unset.
        ref: the branch, tag or commit whose `notebooks/` the "Open in Colab" links open.
    """

    install: str = ""
    repository: str = ""
    ref: str = "main"

    def __post_init__(self):
        check_install_source(self.install)
        if self.repository and not _GITHUB_REPO.fullmatch(self.repository):
            raise CourseError("course.toml [colab] repository must be a GitHub repository, "
                              "'https://github.com/OWNER/REPO' (Colab opens notebooks from GitHub). "
                              f"Received: {self.repository!r}")
        if not isinstance(self.ref, str) or not _REF.fullmatch(self.ref):
            raise CourseError("course.toml [colab] ref must be a branch, tag or commit, like 'main'. "
                              f"Received: {self.ref!r}")

    def colab_url(self, notebook: str) -> str:
        """`https://colab.research.google.com/github/OWNER/REPO/blob/REF/notebooks/<notebook>` ('' if no repository)."""
        if not self.repository:
            return ""
        m = _GITHUB_REPO.fullmatch(self.repository)
        return (f"https://colab.research.google.com/github/{m['owner']}/{m['repo']}/blob/{self.ref}/"
                f"notebooks/{notebook}")

    def link_cell(self, notebook: str) -> str:
        """The markdown of the cell after the setup cell: the "Open in Colab" link ('' if no repository)."""
        url = self.colab_url(notebook)
        if not url:
            return ""
        return (f"**[Open in Colab]({url})** · on Colab, run the setup cell above first; for a GPU, choose "
                "*Runtime → Change runtime type → T4 GPU* before you run it.")


def load_settings(root) -> ColabSettings:
    """The checked `[colab]` settings of the course checkout at `root` (defaults if it has no course.toml).

    Raises:
        CourseError: unreadable TOML, an unknown key, or a value `ColabSettings` refuses.
    """
    from pathlib import Path

    path = Path(root) / CONFIG_FILE
    if not path.exists():
        return ColabSettings()
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise CourseError(f"{path}: not valid TOML ({err}).") from None
    unknown = sorted(set(data) - {"colab"}) + sorted(f"colab.{k}" for k in set(data.get("colab", {}))
                                                      - {f.name for f in dataclasses.fields(ColabSettings)})
    if unknown:
        raise CourseError(f"{path}: unknown setting(s) {', '.join(unknown)}. Expected [colab] with install, "
                          "repository and ref.")
    return ColabSettings(**data.get("colab", {}))


def mode_from_env(environ=None) -> str:
    """`"fast"`, `"full"`, `"gpu"` or `"gpu-dry"`, from `RNN_COURSE_FAST` and `RNN_COURSE_SCALE`.

    `RNN_COURSE_SCALE=gpu-dry` is the dry run of the GPU scale: the GPU-scale sizes with FAST
    step counts (`CourseConfig.steps`), to prove the GPU configuration on a CPU.
    """
    environ = os.environ if environ is None else environ
    fast = environ.get("RNN_COURSE_FAST", "").strip().lower()
    scale = environ.get("RNN_COURSE_SCALE", "").strip().lower()
    if fast not in _TRUE + _FALSE:
        raise CourseError(f"RNN_COURSE_FAST must be 1 or 0. Received: {environ['RNN_COURSE_FAST']!r}")
    if scale not in ("", "cpu", "full", "gpu", "gpu-dry"):
        raise CourseError("RNN_COURSE_SCALE must be 'full', 'gpu' or 'gpu-dry'. "
                          f"Received: {environ['RNN_COURSE_SCALE']!r}")
    if fast in _TRUE:
        return "fast"  # FAST wins: CI and the grader must never run at GPU scale
    return scale if scale in ("gpu", "gpu-dry") else "full"


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
    #: The tables this run published (`publish`), by name.
    tables: dict = dataclasses.field(default_factory=dict)

    @property
    def fast(self) -> bool:
        return self.mode == "fast"

    def pick(self, *, fast, full, gpu=None):
        """The value for the current mode, e.g. `units = COURSE.pick(fast=32, full=256, gpu=1024)`.

        `gpu` defaults to `full`; the GPU dry run (`gpu-dry`) takes the `gpu` value too. For a
        count of training steps or epochs use `steps`, which a dry run keeps small.
        """
        gpu = full if gpu is None else gpu
        return {"fast": fast, "full": full, "gpu": gpu, "gpu-dry": gpu}[self.mode]

    def steps(self, *, fast, full, gpu=None, dry=None):
        """An amount of work for the current mode: `COURSE.steps(fast=20, full=1500, gpu=20000)`.

        Like `pick`, except in the GPU dry run (`rnn-course run --mode gpu-dry`), which takes
        the GPU-scale sizes (`pick`'s `gpu` values) but `dry` work (default: the `fast`
        value), so that the whole GPU configuration runs end to end on a CPU in minutes. Use it
        for whatever makes a run long rather than large: training steps or epochs, a time
        budget in seconds, the number of tokens evaluated (notebook 06).
        """
        if self.mode == "gpu-dry":
            return fast if dry is None else dry
        return self.pick(fast=fast, full=full, gpu=gpu)

    def publish(self, name: str, table) -> None:
        """Records a result table of this run under `name`, for `rnn-course run --in-process --out DIR`.

        That run writes every published table into `DIR/<notebook>/run.json`, so the results
        of a run on a machine without Jupyter (a lent GPU) come back as data, to be quoted
        in the notebook and the README. In Jupyter it only stores the table here.

        Args:
            name: a non-empty string; publishing a name again replaces its table.
            table: JSON-serialisable data, typically a list of rows (dicts of numbers and
                strings). NumPy scalars and arrays are converted.

        Raises:
            TypeError: `name` is not a non-empty string, or `table` holds something JSON cannot store.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"publish() needs a non-empty string name. Received: {name!r}")

        def plain(value):
            if hasattr(value, "tolist"):  # NumPy scalars and arrays, tensors converted by the caller
                return value.tolist()
            raise TypeError(f"table {name!r} holds a {type(value).__name__} ({value!r:.60}), which JSON cannot store; "
                            "expected numbers, strings, booleans, None, lists and dicts with string keys.")

        try:
            self.tables[name] = json.loads(json.dumps(table, default=plain, allow_nan=True))
        except ValueError as err:  # e.g. a circular reference
            raise TypeError(f"table {name!r} cannot be stored as JSON: {err}") from None

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
