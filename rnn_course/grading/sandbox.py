"""The grader's sandbox: runs one notebook's code cells in a limited Jupyter kernel.

This file is run as a script in its own process by `rnn_course.grading.sandbox_launcher`,
never imported by the course code, so that it can:

- make itself a Linux *child subreaper*, so every process the notebook starts
  (even a daemon that called `setsid()`) is re-parented here and is killed
  before this process reports anything;
- start the kernel through a small launcher that applies `RLIMIT_AS` (the memory
  limit), disables core dumps and, when it runs as root, drops to an
  unprivileged user (Gradescope);
- run the cells one at a time with nbclient, with a per-cell and a total time
  limit, continuing after errors, and recover from a kernel death (`os._exit`,
  a segfault, the OOM killer) by starting a new kernel and replaying the cells
  that ran before, except the ones that killed or hung it.

Protocol: stdin carries one line with a random token, then the job as JSON.
The result is written to stdout as one line, `<token><json>`, after the kernel
and all its descendants are dead, so nothing the notebook runs can forge it.
It imports only the standard library, nbformat, nbclient and jupyter_client.
"""

from __future__ import annotations

import os
import sys

# Run as a script, Python puts this folder first on sys.path; take it off so the
# package's module names can never shadow a dependency.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

# jsonschema (via nbformat) imports rfc3987_syntax if it is installed, which builds
# a grammar for ~2 s; the sandbox never validates IRIs, so skip it.
sys.modules.setdefault("rfc3987_syntax", None)

import asyncio  # noqa: E402
import ctypes  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402

import nbformat  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellControlSignal, DeadKernelError  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36
#: Seconds a kernel has to answer a trivial request after a timed-out cell was
#: interrupted; past that it is killed and replaced.
PROBE_SECONDS = 5.0
#: Characters of text output kept per cell (the rest is dropped, and said so).
OUTPUT_CHARS = 100_000
#: Bytes of rich (image, html) output kept per cell.
RICH_BYTES = 2_000_000
KERNEL_LOG_TAIL = 4000
#: Largest file the kernel may write (RLIMIT_FSIZE), so a notebook cannot fill the disk.
FILE_BYTES = 4 * 2**30
#: Processes and threads of the kernel's user (RLIMIT_NPROC; only set when the
#: kernel runs as its own unprivileged user, where it stops fork bombs).
MAX_PROCESSES = 4096

# The launcher runs between jupyter_client and ipykernel: it applies the limits
# and then exec()s the real kernel command, so they hold for the kernel process
# and everything it starts.
LAUNCHER = r"""
import json, os, resource, sys
cfg = json.loads(sys.argv[1])
cmd = sys.argv[2:]
if cfg.get("memory_bytes"):
    m = int(cfg["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (m, m))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
if cfg.get("file_bytes"):
    resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["file_bytes"], cfg["file_bytes"]))
user = cfg.get("user")
if user:
    resource.setrlimit(resource.RLIMIT_NPROC, (cfg["max_processes"], cfg["max_processes"]))
    conn = cmd[cmd.index("-f") + 1]
    os.chown(conn, user["uid"], user["gid"])
    os.setgroups([])
    os.setgid(user["gid"])
    os.setuid(user["uid"])
os.execv(cmd[0], cmd)
"""


class LimitedKernelManager(AsyncKernelManager):
    """An IPython kernel manager that starts the kernel through the limits launcher.

    The kernel always runs this interpreter's ipykernel (never a kernelspec that
    points elsewhere), so it imports the same `rnn_course` as the grader.
    """

    launcher_config: dict = {}

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", os.path.realpath(self.connection_file)]
        cmd += list(extra_arguments or [])
        return [sys.executable, "-c", LAUNCHER, json.dumps(self.launcher_config)] + cmd


class GraderClient(NotebookClient):
    """A NotebookClient that records timeouts and replies and caps stored output."""

    def reset_cell_state(self):
        self.timed_out = False
        self.reply_status = None
        self.saw_stderr = False
        self.truncated = False
        self._text_chars = 0
        self._rich_bytes = 0

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    def output(self, outs, msg, display_id, cell_index):
        msg_type = msg["msg_type"]
        content = msg.get("content", {})
        if msg_type == "stream":
            if content.get("name") == "stderr":
                self.saw_stderr = True
            text = content.get("text", "")
            if self._text_chars + len(text) > OUTPUT_CHARS:
                keep = max(0, OUTPUT_CHARS - self._text_chars)
                self.truncated = True
                if keep == 0:
                    return None
                msg = {**msg, "content": {**content, "text": text[:keep] + "\n[output truncated by the grader]\n"}}
                text = msg["content"]["text"]
            self._text_chars += len(text)
        elif msg_type == "error":
            tb = content.get("traceback") or []
            if len(tb) > 50:
                msg = {**msg, "content": {**content, "traceback": tb[:10] + ["..."] + tb[-20:]}}
        elif msg_type in ("display_data", "execute_result", "update_display_data"):
            size = sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in content.get("data", {}).values())
            if self._rich_bytes + size > RICH_BYTES:
                self.truncated = True
                data = content.get("data", {})
                plain = str(data.get("text/plain", ""))[:2000]
                msg = {**msg, "content": {**content, "data": {"text/plain": plain}}}
                size = len(plain)
            self._rich_bytes += size
        return super().output(outs, msg, display_id, cell_index)


def _set_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def kill_descendants() -> int:
    """SIGKILLs every process below this one (re-parented here by the subreaper); returns how many."""
    me = os.getpid()
    killed = 0
    for _ in range(50):
        todo, seen = [me], []
        while todo:
            kids = _children(todo.pop())
            seen += kids
            todo += kids
        alive = [p for p in seen if p != me]
        if not alive:
            break
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.05)
        _reap()
    _reap()
    return killed


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _describe_exit(code) -> str:
    if code is None:
        return "the kernel stopped responding"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        if -code == signal.SIGKILL:
            return f"the kernel was killed by {name} (often the system running out of memory)"
        return f"the kernel was killed by {name}"
    return f"the kernel process exited with status {code} (os._exit() or a fatal error)"


class Sandbox:
    """Runs the job's cells; see the module docstring."""

    def __init__(self, job: dict):
        self.job = job
        self.cells = job["cells"]
        self.cell_timeout = float(job["cell_timeout"])
        self.total_timeout = float(job["total_timeout"])
        self.max_restarts = int(job.get("max_restarts", 3))
        self.workdir = job["workdir"]
        self.runtime_dir = tempfile.mkdtemp(prefix="rnn-grader-rt-")
        self.log_path = os.path.join(self.runtime_dir, "kernel.log")
        self.results = [
            {"status": "not_run", "outputs": [], "reply_status": None, "stderr": False,
             "truncated": False, "elapsed": 0.0, "reason": ""}
            for _ in self.cells
        ]
        self.events: list[str] = []
        self.restarts = 0
        self.km = None
        self.client = None
        self.nb = nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell(c["source"]) for c in self.cells])
        self.start = time.monotonic()

    # ------------------------------------------------------------------ kernel
    def _kernel_env(self) -> dict:
        env = dict(self.job["env"])
        user = self.job.get("kernel_user")
        if user:
            env["HOME"] = self.workdir
            env["IPYTHONDIR"] = os.path.join(self.workdir, ".ipython")
        return env

    async def start_kernel(self) -> None:
        os.environ["JUPYTER_RUNTIME_DIR"] = self.runtime_dir
        user = self.job.get("kernel_user")
        if user:
            os.chmod(self.runtime_dir, 0o711)
        km = LimitedKernelManager(kernel_name="python3")
        km.launcher_config = {"memory_bytes": self.job.get("memory_bytes"), "user": user,
                              "file_bytes": FILE_BYTES, "max_processes": MAX_PROCESSES}
        log = open(self.log_path, "ab")
        try:
            await km.start_kernel(
                extra_arguments=["--HistoryManager.hist_file=:memory:"],
                cwd=self.workdir, env=self._kernel_env(),
                stdin=None, stdout=log, stderr=log)
        finally:
            log.close()
        self.km = km
        client = GraderClient(
            self.nb, km=km, timeout=int(self.cell_timeout), allow_errors=True,
            interrupt_on_timeout=True, record_timing=False, startup_timeout=int(self.job.get("startup_timeout", 60)),
            error_on_timeout={"ename": "CellTimeoutError", "evalue": "",
                              "traceback": ["CellTimeoutError: the cell was stopped by the grader's time limit"]},
        )
        client.log = logging.getLogger("rnn_course.grading.sandbox")

        def on_executed(cell, cell_index, execute_reply):
            client.reply_status = execute_reply.get("content", {}).get("status")

        client.on_cell_executed = on_executed
        try:
            await client.async_start_new_kernel_client()
        except Exception:
            await self.stop_kernel()
            raise
        self.client = client

    async def stop_kernel(self) -> None:
        km, client = self.km, self.client
        self.km = self.client = None
        if client is not None and client.kc is not None:
            try:
                client.kc.stop_channels()
            except Exception:
                pass
        if km is not None:
            try:
                await km.shutdown_kernel(now=True)
            except Exception:
                try:
                    await km._async_kill_kernel()
                except Exception:
                    pass
            try:
                km.cleanup_resources()
            except Exception:
                pass
        kill_descendants()

    def exit_code(self):
        try:
            return self.km.provisioner.process.poll()
        except Exception:
            return None

    def kernel_log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - KERNEL_LOG_TAIL))
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def death_reason(self) -> str:
        reason = _describe_exit(self.exit_code())
        tail = self.kernel_log_tail()
        for line in reversed(tail.splitlines()):
            if "Fatal Python error" in line or "MemoryError" in line:
                reason += f" [{line.strip()[:160]}]"
                break
        return reason

    # ------------------------------------------------------------------ cells
    def remaining(self) -> float:
        return self.total_timeout - (time.monotonic() - self.start)

    async def run_cell(self, index: int, *, replay: bool = False) -> tuple[str, dict]:
        """Runs cell `index`; returns (outcome, info) with outcome ok|error|timeout|died."""
        limit = min(self.cell_timeout, self.remaining())
        by_total = limit < self.cell_timeout
        cell = nbformat.v4.new_code_cell(self.cells[index]["source"])
        client = self.client
        client.timeout = max(1, math.ceil(limit))
        client.reset_cell_state()
        t0 = time.monotonic()
        outcome = None
        try:
            await client.async_execute_cell(cell, index, store_history=not self.cells[index].get("silent"))
        except DeadKernelError:
            outcome = "died"
        except CellControlSignal as exc:  # e.g. an IOPub timeout
            outcome = "error"
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename=type(exc).__name__, evalue=str(exc)[:300], traceback=[]))
        except Exception as exc:  # zmq or protocol trouble: treat as a dead kernel
            outcome = "died"
            self.events.append(f"kernel communication failed in cell {index}: {type(exc).__name__}: {exc}")
        elapsed = time.monotonic() - t0
        if outcome is None:
            if client.timed_out:
                outcome = "timeout"
            else:
                outcome = "ok" if client.reply_status == "ok" else "error"
        info = {"outputs": cell.get("outputs", []), "reply_status": client.reply_status,
                "stderr": client.saw_stderr, "truncated": client.truncated,
                "elapsed": round(elapsed, 3), "by_total": by_total, "limit": limit}
        return outcome, info

    async def probe(self) -> bool:
        """True if the kernel answers a trivial request within PROBE_SECONDS."""
        kc = self.client.kc
        try:
            msg_id = kc.execute("", silent=True, store_history=False)
            deadline = time.monotonic() + PROBE_SECONDS
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                msg = await kc.shell_channel.get_msg(timeout=left)
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    return True
        except Exception:
            return False

    async def restart(self, done: list[int], skip: set[int]) -> bool:
        """Replaces a dead or hung kernel and replays `done` minus `skip`. False if it gave up."""
        while True:
            self.restarts += 1
            if self.restarts > self.max_restarts:
                self.events.append(f"gave up after {self.max_restarts} kernel restarts")
                return False
            await self.stop_kernel()
            try:
                await self.start_kernel()
            except Exception as exc:
                self.events.append(f"could not restart the kernel: {type(exc).__name__}: {exc}")
                return False
            replay = [j for j in done if j not in skip and self.cells[j].get("replay", True)]
            self.events.append(f"kernel restarted ({self.restarts}); replaying {len(replay)} earlier cell(s)")
            ok = True
            for j in replay:
                if self.remaining() <= 0:
                    return False
                outcome, _ = await self.run_cell(j, replay=True)
                if outcome == "died" or outcome == "timeout":
                    self.events.append(f"replaying cell {j} failed ({outcome}); it is left out of the replay")
                    skip.add(j)
                    ok = False
                    break
            if ok:
                return True

    async def run(self) -> dict:
        fatal = None
        try:
            await self.start_kernel()
        except Exception as exc:
            last = (self.kernel_log_tail().strip().splitlines() or ["(empty)"])[-1][:200]
            fatal = (f"the kernel could not start ({type(exc).__name__}: {exc}); the last line of its log is "
                     f"{last!r}. If a memory limit is set, it may be too low for the kernel "
                     f"({(self.job.get('memory_bytes') or 0) // 2**20} MB).")
        done: list[int] = []
        skip: set[int] = set()
        index = 0
        n = len(self.cells)
        stop_reason = None
        while fatal is None and index < n:
            if self.remaining() <= 0:
                stop_reason = f"not run: the total time limit of {self.total_timeout:g} s was reached"
                break
            outcome, info = await self.run_cell(index)
            res = self.results[index]
            res.update(status=outcome, outputs=info["outputs"], reply_status=info["reply_status"],
                       stderr=info["stderr"], truncated=info["truncated"], elapsed=info["elapsed"])
            if outcome in ("ok", "error"):
                done.append(index)
                index += 1
                continue
            if outcome == "timeout":
                if info["by_total"]:
                    res["reason"] = (f"stopped: the total time limit of {self.total_timeout:g} s was reached "
                                     "while this cell ran")
                else:
                    res["reason"] = f"timed out: the cell ran longer than {self.cell_timeout:g} s and was stopped"
                skip.add(index)
                done.append(index)
                index += 1
                if info["by_total"] or self.remaining() <= 0:
                    stop_reason = f"not run: the total time limit of {self.total_timeout:g} s was reached"
                    break
                if await self.probe():
                    self.events.append(f"cell {index - 1} timed out; the kernel was interrupted and went on")
                    continue
                self.events.append(f"cell {index - 1} timed out and the kernel did not stop; restarting it")
                if not await self.restart(done, skip):
                    stop_reason = "not run: the kernel could not be recovered after an earlier cell timed out"
                    break
                continue
            # died
            reason = self.death_reason()
            res["reason"] = f"the kernel died while running this cell: {reason}"
            self.events.append(f"cell {index}: {reason}")
            skip.add(index)
            done.append(index)
            index += 1
            if index < n and not await self.restart(done, skip):
                stop_reason = f"not run: the kernel died in an earlier cell (cell {index - 1}) and was not restarted"
                break
        if stop_reason:
            for j in range(index, n):
                if self.results[j]["status"] == "not_run":
                    self.results[j]["reason"] = stop_reason
        if fatal:
            for res in self.results:
                res["reason"] = "not run: the kernel could not start"
        await self.stop_kernel()
        return {"cells": self.results, "events": self.events, "restarts": max(0, self.restarts),
                "fatal": fatal, "elapsed": round(time.monotonic() - self.start, 3),
                "kernel_log_tail": self.kernel_log_tail()[-1500:]}


def main() -> int:
    token = sys.stdin.readline().strip()
    job = json.loads(sys.stdin.read())
    logging.basicConfig(level=logging.CRITICAL)
    _set_subreaper()
    sandbox = Sandbox(job)
    try:
        result = asyncio.run(sandbox.run())
    except BaseException as exc:  # report, never hang the grader
        result = {"cells": sandbox.results, "events": sandbox.events, "restarts": sandbox.restarts,
                  "fatal": f"the grader's sandbox failed: {type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()[-3000:], "elapsed": 0.0}
    finally:
        kill_descendants()
        shutil.rmtree(sandbox.runtime_dir, ignore_errors=True)
    sys.stdout.write(token + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
