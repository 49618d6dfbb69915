"""Running a list of code cells in the grader's sandbox process (see `sandbox.py`).

`run_cells` starts `sandbox.py` with this interpreter, hands it the cells and
the limits, and reads back one result line, which is marked with a random token
known only to this process and the sandbox. The kernel's working directory is a
fresh empty folder, so a notebook finds nothing of the grader's there, and the
grader writes its own outputs only after the sandbox has exited.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from rnn_course.grading.errors import GradingError

SANDBOX_SCRIPT = Path(__file__).with_name("sandbox.py")
#: Extra seconds the sandbox gets beyond the notebook's total time limit
#: (kernel start-ups, replays after a restart, shutting down).
SANDBOX_SLACK = 120
RUN_MARKER = "RNN_COURSE_GRADER_RUN"


def package_parent() -> str:
    """The folder that holds the `rnn_course` package the grader runs from."""
    import rnn_course

    return str(Path(rnn_course.__file__).resolve().parents[1])


#: Variables the kernel inherits from the grader; everything else (tokens, keys,
#: paths to the solutions) stays out of reach of student code.
INHERITED = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "SHELL",
             "TERM", "PYTHONPATH", "PYTHONHASHSEED", "VIRTUAL_ENV", "LD_LIBRARY_PATH", "MPLCONFIGDIR",
             "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "SSL_CERT_FILE", "MALLOC_ARENA_MAX"}
INHERITED_PREFIXES = ("LC_", "KERAS_", "TF_", "TFDS_", "XLA_", "JAX_", "CUDA_", "NVIDIA_", "OMP_", "MKL_",
                      "OPENBLAS_", "TORCH_", "PYTORCH_", "CONDA_", "RNN_COURSE_")
WITHHELD = {"RNN_COURSE_SOLUTIONS", "RNN_COURSE_AUTOGRADER_ROOT", "RNN_COURSE_AUTOGRADER_PYTHON"}


def kernel_environment(env: dict[str, str] | None, run_id: str) -> dict[str, str]:
    """The kernel's environment: an allow-listed part of ours, FAST mode, headless plots, then `env`.

    `env` wins over everything, so `env={"RNN_COURSE_FAST": "0"}` grades in full mode.
    """
    kenv = {k: v for k, v in os.environ.items()
            if (k in INHERITED or k.startswith(INHERITED_PREFIXES)) and k not in WITHHELD}
    kenv.update({
        "RNN_COURSE_FAST": "1",
        "MPLBACKEND": "Agg",
        "PYTHONFAULTHANDLER": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    })
    # Under RLIMIT_AS, glibc's per-thread malloc arenas (64 MB of address space
    # each) would eat the limit on many-core machines.
    kenv.setdefault("MALLOC_ARENA_MAX", "4")
    kenv.update({str(k): str(v) for k, v in (env or {}).items()})
    paths = [p for p in kenv.get("PYTHONPATH", "").split(os.pathsep) if p]
    parent = package_parent()
    if parent not in paths:
        paths.append(parent)
    kenv["PYTHONPATH"] = os.pathsep.join(paths)
    kenv[RUN_MARKER] = run_id
    return kenv


def _user_ids(kernel_user: str | None):
    if not kernel_user:
        return None
    import pwd

    if os.geteuid() != 0:
        raise GradingError(f"kernel_user={kernel_user!r} needs the grader to run as root (it runs as uid "
                           f"{os.geteuid()}); expected kernel_user=None outside an autograder container.")
    try:
        entry = pwd.getpwnam(kernel_user)
    except KeyError:
        raise GradingError(f"kernel_user={kernel_user!r} is not a user on this machine; "
                           "expected an existing unprivileged account (setup.sh creates one).") from None
    return {"uid": entry.pw_uid, "gid": entry.pw_gid}


def _kill_marked(run_id: str) -> None:
    """Last resort: SIGKILL every process whose environment carries this run's marker."""
    needle = f"{RUN_MARKER}={run_id}".encode()
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle in fh.read().split(b"\0"):
                    os.kill(int(entry), signal.SIGKILL)
        except OSError:
            continue


def _kill_sandbox(proc: subprocess.Popen, run_id: str) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    _kill_marked(run_id)
    proc.wait()


def run_cells(cells: list[dict], *, cell_timeout: float, total_timeout: float, memory_limit_mb: int | None,
              env: dict[str, str] | None = None, kernel_user: str | None = None,
              max_restarts: int = 3) -> dict:
    """Runs code cells in a fresh, limited kernel and returns what happened to each.

    Args:
        cells: dicts with `source` and optionally `replay` (False: never re-run
            after a kernel restart) and `silent` (True: not in the kernel's history).
        cell_timeout: seconds one cell may run.
        total_timeout: seconds all cells together may run.
        memory_limit_mb: the kernel's address-space limit (RLIMIT_AS), or None.
        env: extra environment variables for the kernel.
        kernel_user: run the kernel as this user (needs root; for autograder containers).
        max_restarts: how many times a dead or hung kernel is replaced.

    Returns:
        The sandbox report: `cells` (one dict per cell with `status` ok, error,
        timeout, died or not_run, `outputs`, `reply_status`, `stderr`,
        `elapsed`, `reason`), `events`, `restarts`, `fatal` and `elapsed`.

    Raises:
        GradingError: the kernel could not start, or the sandbox itself failed.
    """
    user = _user_ids(kernel_user)
    run_id = secrets.token_hex(8)
    token = "RNNGRADER" + secrets.token_hex(16) + ":"
    workdir = tempfile.mkdtemp(prefix="rnn-grader-kernel-")
    try:
        if user:
            os.chown(workdir, user["uid"], user["gid"])
            os.chmod(workdir, 0o700)
        job = {
            "cells": cells, "cell_timeout": cell_timeout, "total_timeout": total_timeout,
            "memory_bytes": int(memory_limit_mb * 2**20) if memory_limit_mb else None,
            "env": kernel_environment(env, run_id), "workdir": workdir,
            "kernel_user": user, "max_restarts": max_restarts,
        }
        payload = (token + "\n" + json.dumps(job)).encode()
        hard_limit = total_timeout + SANDBOX_SLACK + 30 * max_restarts
        proc = subprocess.Popen([sys.executable, str(SANDBOX_SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True, cwd=tempfile.gettempdir())
        try:
            out, err = proc.communicate(payload, timeout=hard_limit)
        except subprocess.TimeoutExpired:
            _kill_sandbox(proc, run_id)
            raise GradingError(f"the grader's sandbox did not finish within {hard_limit:g} s "
                               f"(total limit {total_timeout:g} s + {hard_limit - total_timeout:g} s slack) "
                               "and was killed.") from None
        except BaseException:  # Ctrl-C: the sandbox and the kernel live in other sessions; stop them
            _kill_sandbox(proc, run_id)
            raise
        finally:
            _kill_marked(run_id)
        report = None
        for line in out.decode("utf-8", errors="replace").splitlines():
            if line.startswith(token):
                report = json.loads(line[len(token):])
        if report is None:
            tail = err.decode("utf-8", errors="replace").strip().splitlines()[-3:]
            raise GradingError(f"the grader's sandbox exited with status {proc.returncode} without a result: "
                               + (" | ".join(tail) or "no message"))
        if report.get("fatal"):
            raise GradingError(report["fatal"])
        return report
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
