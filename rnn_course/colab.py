"""On Colab, after the setup cell has installed the course: what Colab lacks or has too old.

The setup cell (`rnn_course.notebook.setup_cell`) can only do one thing before the
course exists: pip-install the pinned install source, without dependencies. The
rest lives here, in the package that was just installed from that same pin, so it
is versioned with the course and unit-tested like the rest of it:

1. read the course's own requirements (`pyproject.toml`, as installed), and find
   those this runtime lacks or has too old (`plan`); TensorFlow is never installed
   or replaced (Colab's build matches its CUDA and TPU stack): a TensorFlow that is
   too old stops the cell with one line;
2. pip-install them (Keras >= 3.15 when Colab's is older), with the installed
   TensorFlow pinned in the same pip run so that pip keeps TensorFlow's own
   requirements; pip's output is kept in `PIP_LOG`, never shown on stderr;
3. print one line saying what changed, or stop with one line (`SetupStopped`, shown
   without a traceback) when pip failed, when nothing was installed, or when a package
   that this process had already imported was replaced (a restart is needed).

Importing this module is cheap: the standard library and `packaging` (which pip
itself vendors) only.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata as metadata
import re
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version
except ImportError:  # pragma: no cover - Colab has packaging; pip always vendors it
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name
    from pip._vendor.packaging.version import InvalidVersion, Version

DISTRIBUTION = "rnn-course"
#: Where the output of every pip run of `complete` is kept (the one-line messages point here).
PIP_LOG = Path(tempfile.gettempdir()) / "rnn-course-setup.log"
#: The distributions that provide TensorFlow: any one satisfies the course's TensorFlow requirement.
TENSORFLOW = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-tpu", "tf-nightly",
              "tensorflow-intel", "tensorflow-macos")
#: Requirements the setup cell leaves alone on Colab, and why.
NOT_ON_COLAB = {
    "jupyter": "Colab is the notebook server",
    "tensorflow-datasets": "used only by the opt-in source='tfds', and Colab ships it",
}
_NETWORK = ("resolve host", "name resolution", "Failed to establish", "unreachable", "Max retries exceeded")


class SetupStopped(Exception):
    """Stops "Run all" after the one line already printed; Jupyter and Colab show no traceback."""

    def _render_traceback_(self):
        return []


@dataclasses.dataclass(frozen=True)
class Plan:
    """What `complete` will do in this runtime.

    Attributes:
        install: requirement strings to pip-install (`"keras>=3.15"`), in the course's order.
        pin: `"tensorflow==2.19.0"`: the installed TensorFlow, kept by pinning it in the same pip run
            ('' if none is installed).
        problem: one line saying why the course cannot run here whatever pip does ('' if none).
    """

    install: tuple[str, ...] = ()
    pin: str = ""
    problem: str = ""


def _version(name: str, versions) -> str | None:
    return versions.get(canonicalize_name(name))


def installed_versions() -> dict[str, str]:
    """`{canonical distribution name: version}` of everything installed in this Python."""
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(canonicalize_name(name), dist.version)
    return found


def _satisfied(req: Requirement, version: str | None) -> bool:
    if version is None:
        return False
    try:
        return req.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def plan(requirements: list[str], versions: dict[str, str]) -> Plan:
    """Decides what to install, given the course's requirements and what this runtime has.

    Args:
        requirements: the course's requirement strings, as `importlib.metadata.requires` gives them
            (markers included; extras' requirements are skipped).
        versions: `{distribution name: version}` installed here (`installed_versions()`).

    Returns:
        A `Plan`: the missing or too-old requirements (never TensorFlow and never `NOT_ON_COLAB`),
        the pin that keeps TensorFlow, and the problem that stops the course if TensorFlow is
        missing or too old.
    """
    versions = {canonicalize_name(k): v for k, v in versions.items()}
    tf_name = next((n for n in TENSORFLOW if n in versions), None)
    install, problem = [], ""
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        if name in NOT_ON_COLAB:
            continue
        if name in TENSORFLOW:
            have = versions.get(tf_name) if tf_name else None
            if not _satisfied(req, have) and not problem:
                found = f"TensorFlow {have} ({tf_name})" if have else "no TensorFlow"
                problem = (f"this runtime has {found} and the course needs tensorflow{req.specifier}; the setup "
                           "cell never replaces Colab's TensorFlow: choose Runtime → Change runtime type → the "
                           "latest runtime version, then run this cell again")
            continue
        if not _satisfied(req, versions.get(name)):
            install.append(f"{req.name}{req.specifier}")
    pin = f"{tf_name}=={versions[tf_name]}" if tf_name else ""
    return Plan(tuple(install), pin, problem)


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """`["keras 3.10.0 -> 3.15.1", "namex 0.1.0 (new)", ...]`: what a pip run changed, sorted by name."""
    out = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        out.append(f"{name} {old} -> {new}" if old and new else f"{name} {new} (new)" if new else f"{name} removed")
    return out


def _pip_reason(log: str, tf_pin: str) -> str:
    if any(s in log for s in _NETWORK):
        return "no network (this runtime cannot reach PyPI)"
    if "ResolutionImpossible" in log or "conflict" in log.lower():
        return (f"it cannot be upgraded in place: it conflicts with this runtime's {tf_pin or 'packages'}; "
                "choose Runtime → Change runtime type → the latest runtime version")
    lines = [s.strip() for s in log.splitlines() if s.strip().startswith("ERROR:")]
    return "pip says: " + (lines[0] if lines else "nothing")[:200]


def _module_names(distribution: str) -> set[str]:
    """The top-level modules a distribution installs (its RECORD), or its name with '_' for '-'."""
    names = {distribution.replace("-", "_")}
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        return names
    for f in files:
        top = f.parts[0] if f.parts else ""
        if top.endswith(".py"):
            names.add(top[:-3])
        elif top and "." not in top and top != "__pycache__":
            names.add(top)
    return names


def _source_label(source: str) -> str:
    return re.sub(r"#sha256=([0-9a-f]{12})[0-9a-f]{52}$", r"#sha256=\1…", source)


def complete(source: str, course_pip: subprocess.CompletedProcess | None = None, *, run=subprocess.run,
             requirements: list[str] | None = None, versions=installed_versions, echo=print,
             imported=lambda: set(sys.modules)) -> list[str]:
    """Installs what this runtime lacks for the course, then prints one line; called by the setup cell on Colab.

    Args:
        source: the install source the setup cell installed the course from.
        course_pip: that pip run (its stdout says whether it installed the course now).
        run: `subprocess.run` (tests pass a fake).
        requirements: the course's requirements (default: those of the installed `rnn-course`).
        versions: returns `{distribution: version}` as installed now (called before and after pip).
        echo: where the one line goes (`print`: stdout).
        imported: returns the names of the modules this process has imported (a replaced one
            needs a restart).

    Returns:
        What changed, as `changes()` lists it.

    Raises:
        SetupStopped: after printing one line, when the course cannot run in this process: TensorFlow
            missing or too old, pip failed, or a package this process had imported was replaced.
    """
    course_now = bool(course_pip is not None and re.search(r"Successfully installed .*rnn[-_]course",
                                                           course_pip.stdout or ""))
    before = versions()
    course = _version(DISTRIBUTION, before) or "?"
    head = f"Colab setup: {'installed' if course_now else 'found'} rnn-course {course} ({_source_label(source)})"
    reqs = (metadata.requires(DISTRIBUTION) or []) if requirements is None else requirements
    todo = plan(reqs, before)
    if todo.problem:
        echo(f"{head}, but it cannot run here: {todo.problem}.")
        raise SetupStopped(todo.problem)
    changed: list[str] = []
    if todo.install:
        imported = set(imported())
        result = run([sys.executable, "-m", "pip", "install", "--no-input", *todo.install,
                      *([todo.pin] if todo.pin else [])], capture_output=True, text=True)
        log = f"$ pip install {' '.join(todo.install)} {todo.pin}\n{result.stdout}\n{result.stderr}"
        try:
            PIP_LOG.write_text(log, encoding="utf-8")
            where = f"pip's output: {PIP_LOG}"
        except OSError:
            where = "pip's output could not be saved"
        after = versions()
        changed = changes(before, after)
        if result.returncode:
            missing = ", ".join(f"{r} (here: {_version(Requirement(r).name, after) or 'none'})" for r in todo.install)
            left = f"pip changed {', '.join(changed)} before it failed" if changed else "nothing else changed"
            echo(f"{head}, but pip could not install {missing}: {_pip_reason(log, todo.pin)}; {left}. "
                 f"The course cannot run without it. {where}")
            raise SetupStopped(missing)
        stale = sorted(name for line in changed for name in [line.split()[0]]
                       if _module_names(name) & {m.split(".")[0] for m in imported})
        if stale:
            echo(f"{head}; changed {', '.join(changed)}. This session had already imported {', '.join(stale)}: "
                 "choose Runtime → Restart session, then run this cell again.")
            raise SetupStopped("restart needed")
    kept = f"; kept Colab's {todo.pin.replace('==', ' ')}" if todo.pin else ""
    echo(f"{head}; " + (f"changed {', '.join(changed)}" if changed else "nothing else to install") + kept + ".")
    return changed
