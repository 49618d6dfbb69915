"""Kernel integrity: undo what student code rewired, and prove the kernel still reports errors.

Student code runs in the same Python process as the test cells, so it can
rewrite what those cells rely on: the functions they compare with
(`np.allclose`, `math.isclose`, `abs`), or how the kernel reports an error
(`InteractiveShell.showtraceback`, `ExecutionResult.success`, `run_cell`,
`set_custom_exc`, event callbacks, AST transformers). A static scan cannot
catch every spelling of that, so the grader adds two behaviours:

1. **Snapshot and restore.** A hidden *snapshot* cell runs right before the
   first cell whose text comes from the submission. It records the functions,
   classes and submodules of the modules the tests rely on (see
   `relied_on_modules`), IPython's and ipykernel's classes and the shell's
   error-reporting and cell-transforming machinery, `sys`'s hooks, the signal
   handlers and interval timers, and `gc.callbacks`. Before
   every test cell, the reset cell puts all of it back (`restore_source`).
2. **Proof of honest reporting.** The reset cell then ends by raising a
   deliberate error that carries a random token. It must come back as an error
   reply *and* an iopub error message with that token (`probe_verdict`). A
   kernel that fails this proof cannot be trusted for the test cells after it:
   the grader scores them 0 and flags the submission.

The kernel-side code is the function `_kernel_guard` below; its source is sent
to the kernel, so it may use only what it imports itself.

Limits: code that is determined enough can still tell the grader's cells from
the test cells (their text differs) and behave honestly only for the former.
The restore makes that much harder (every hook it knows of is undone before
each test), and the static audit flags the attempt for review.
"""

from __future__ import annotations

import ast
import inspect
import secrets
from pathlib import Path

from rnn_course.grading import audit

#: The key in the kernel's `sys.modules` under which the snapshot lives.
GUARD_MODULE = "__rnn_course_grader_guard__"
#: The name of the deliberate error's class (its message carries the run's token).
PROBE_NAME = "RNNCourseGraderProbe"
#: The prefix of the error raised when the snapshot is gone or could not be restored.
BROKEN_MARK = "rnn-course-grader-integrity"
#: Modules always snapshotted (the snapshot imports them: they are cheap and side-effect free).
CORE_MODULES = ("builtins", "math", "numpy", "collections", "operator", "functools")
#: Packages whose own functions may stay registered as IPython event callbacks (`%matplotlib inline`,
#: `%load_ext autoreload` register some); any other callback added after the snapshot is removed.
TRUSTED_CALLBACK_PACKAGES = ("IPython", "ipykernel", "matplotlib", "matplotlib_inline")


def new_token() -> str:
    """A random token for one grading run (it marks the probe's error)."""
    return secrets.token_hex(12)


# ---------------------------------------------------------------------- what the tests rely on
def _imported_modules(tree: ast.AST) -> set[str]:
    """Every absolute module an AST imports, with its parents (`a.b.c` gives a, a.b, a.b.c)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names if a.name != "*"]
        for name in names:
            parts = name.split(".")
            found.update(".".join(parts[:i + 1]) for i in range(len(parts)))
    return found


def _attribute_chains(tree: ast.AST) -> set[str]:
    """Dotted module paths reached through attributes of imported names (`_keras.ops.x` gives keras.ops.x)."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    chains: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parts, inner = [node.attr], node.value
            while isinstance(inner, ast.Attribute):
                parts.append(inner.attr)
                inner = inner.value
            if isinstance(inner, ast.Name) and inner.id in aliases:
                full = aliases[inner.id].split(".") + parts[::-1]
                chains.update(".".join(full[:i + 1]) for i in range(len(full) - 1))
    return chains


def relied_on_modules(instructor_sources: list[str], check_files: list[str | Path],
                      check_modules) -> list[str]:
    """The modules whose functions the test cells and the checks rely on.

    They are: `CORE_MODULES`; every module imported by the instructor's code
    cells (locked, test and plain cells) and by the check modules' files; and
    the submodules the test cells reach through attributes (`np.random`,
    `_keras.ops`). Names that are not modules in the kernel are skipped there.

    Args:
        instructor_sources: the text of the source notebook's code cells.
        check_files: the `.py` files of the pinned check modules.
        check_modules: the check module names (reloaded fresh anyway, so left out).

    Returns:
        Sorted dotted module names.
    """
    names: set[str] = set(CORE_MODULES)
    for text in instructor_sources:
        tree = audit.parse_cell(text)
        if tree is not None:
            names |= _imported_modules(tree) | _attribute_chains(tree)
    for path in check_files:
        try:
            tree = ast.parse(Path(path).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        names |= _imported_modules(tree)
    return sorted(n for n in names
                  if not any(n == m or n.startswith(m + ".") for m in check_modules) and n != "__future__")


# ---------------------------------------------------------------------- the kernel side
def _kernel_guard(token, modules, core, guard_name, trusted_roots):  # runs inside the kernel
    """Takes the snapshot in the kernel; returns the guard module holding `restore()`."""
    import builtins
    import gc
    import importlib
    import importlib.util
    import signal
    import sys
    import types

    missing = object()
    callable_, getattr_, hasattr_, isinstance_ = builtins.callable, builtins.getattr, builtins.hasattr, \
        builtins.isinstance
    setattr_, delattr_, list_, dict_, vars_, type_ = builtins.setattr, builtins.delattr, builtins.list, \
        builtins.dict, builtins.vars, builtins.type
    module_type, str_ = types.ModuleType, builtins.str
    type_setattr, type_delattr = type.__setattr__, type.__delattr__

    def code_like(value):
        return callable_(value) or isinstance_(value, module_type) or hasattr_(type_(value), "__get__")

    for name in core:
        try:
            importlib.import_module(name)
        except Exception:
            pass

    snapped_modules = {}   # module name -> (module, registered in sys.modules, {key: value})

    def snap_module(module):
        name = getattr_(module, "__name__", None)
        if not isinstance_(name, str_) or name in snapped_modules:
            return
        snapped_modules[name] = (module, sys.modules.get(name) is module,
                                 {k: v for k, v in dict_(vars_(module)).items() if code_like(v)})

    def snap_all_modules():
        for dotted in modules:
            parts = dotted.split(".")
            obj = sys.modules.get(parts[0])
            if obj is None:
                continue
            for part in parts[1:] + [None]:
                if not isinstance_(obj, module_type):
                    break
                snap_module(obj)
                if part is None:
                    break
                obj = vars_(obj).get(part, sys.modules.get(obj.__name__ + "." + part))

    snap_all_modules()

    shell = None
    try:
        from IPython import get_ipython
        from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult

        shell = get_ipython()
    except Exception:
        ExecutionInfo = ExecutionResult = None
    kernel = getattr_(shell, "kernel", None)
    session = getattr_(kernel, "session", None)
    #: Shell attributes (plain or traitlets) whose object must stay the one seen at the snapshot.
    shell_attrs = ("custom_exceptions", "CustomTB", "InteractiveTB", "SyntaxTB", "compile", "events",
                   "displayhook", "display_pub", "display_trap", "builtin_trap", "display_formatter",
                   "ast_transformers", "input_transformers_cleanup", "input_transformers_post",
                   "input_transformer_manager", "kernel", "excepthook", "showtraceback", "_showtraceback",
                   "run_cell", "run_cell_async", "run_code", "run_ast_nodes", "should_run_async",
                   "transform_cell", "transform_ast", "showsyntaxerror", "get_exception_only")
    kernel_attrs = ("shell", "session", "iopub_socket", "iopub_thread", "shell_handlers", "control_handlers",
                    "do_execute", "execute_request", "send_response")
    instances = [(o, attrs) for o, attrs in (
        (shell, shell_attrs), (kernel, kernel_attrs), (session, ("send", "serialize", "pack")),
        (getattr_(shell, "InteractiveTB", None), ()), (getattr_(shell, "SyntaxTB", None), ()),
        (getattr_(shell, "compile", None), ("flags",)), (getattr_(shell, "displayhook", None), ()),
        (getattr_(shell, "display_pub", None), ()), (getattr_(shell, "events", None), ()),
        (getattr_(shell, "input_transformer_manager", None), ()), (sys.stdout, ()), (sys.stderr, ()),
    ) if o is not None]
    wanted_roots = ("IPython", "ipykernel", "jupyter_client", "traitlets", "comm")
    classes = {}
    for o, _ in instances:
        for cls in type_(o).__mro__:
            if str_(getattr_(cls, "__module__", "")).split(".")[0] in wanted_roots:
                classes[cls] = dict_(vars_(cls))
    for cls in (ExecutionResult, ExecutionInfo):
        if cls is not None:
            classes[cls] = dict_(vars_(cls))

    def attr_snapshot(o, names):
        own = vars_(o) if hasattr_(o, "__dict__") else {}
        traits = own.get("_trait_values", {}) if isinstance_(own.get("_trait_values"), dict_) else {}
        out = {}
        for n in names:
            if n in own:
                out[n] = ("own", own[n])
            elif n in traits:
                out[n] = ("trait", traits[n])
            else:
                out[n] = ("absent", None)
        return out

    snapped_instances = [(o, dict_(vars_(o)) if hasattr_(o, "__dict__") else {}, attr_snapshot(o, attrs))
                         for o, attrs in instances]
    containers = []  # (container, copy): lists and dicts whose content must not change
    for o in (getattr_(shell, "ast_transformers", None), getattr_(shell, "input_transformers_cleanup", None),
              getattr_(shell, "input_transformers_post", None), getattr_(kernel, "shell_handlers", None),
              getattr_(kernel, "control_handlers", None)):
        if isinstance_(o, (list_, dict_)):
            containers.append((o, o.copy()))
    manager = getattr_(shell, "input_transformer_manager", None)
    for attr in ("cleanup_transforms", "line_transforms", "token_transformers"):
        o = getattr_(manager, attr, None)
        if isinstance_(o, list_):
            containers.append((o, o.copy()))
    trusted_dirs = []
    for root in trusted_roots:
        try:
            spec = importlib.util.find_spec(root)
        except Exception:
            spec = None
        trusted_dirs += list_(getattr_(spec, "submodule_search_locations", None) or [])

    def trusted(callback):
        """An event callback added since the snapshot that comes from IPython or matplotlib's own code."""
        code = getattr_(getattr_(callback, "__func__", callback), "__code__", None)
        filename = str_(getattr_(code, "co_filename", ""))
        return type_(callback) in (types.FunctionType, types.MethodType) and \
            any(filename.startswith(d.rstrip("/") + "/") for d in trusted_dirs)

    callbacks = getattr_(getattr_(shell, "events", None), "callbacks", None)
    event_lists = []   # (list, its content at the snapshot)
    if isinstance_(callbacks, dict_):
        containers.append((callbacks, callbacks.copy()))
        event_lists = [(v, v.copy()) for v in callbacks.values() if isinstance_(v, list_)]
    sys_hooks = {n: getattr_(sys, n) for n in ("excepthook", "displayhook", "stdout", "stderr", "breakpointhook",
                                               "unraisablehook") if hasattr_(sys, n)}
    gettrace, getprofile, settrace, setprofile = sys.gettrace, sys.getprofile, sys.settrace, sys.setprofile
    trace, profile = gettrace(), getprofile()
    # Signal handlers and interval timers (a timer's handler could re-patch during a test), gc callbacks.
    getsignal, setsignal, getitimer, setitimer = signal.getsignal, signal.signal, signal.getitimer, signal.setitimer
    handlers = {}
    for number in signal.valid_signals():
        try:
            handler = getsignal(number)
        except (ValueError, OSError):
            continue
        if handler is not None:
            handlers[number] = handler
    timers = {t: getitimer(t) for t in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF)}
    gc_callbacks, gc_callbacks_then = gc.callbacks, list_(gc.callbacks)

    def restore():
        """Puts back everything in the snapshot; returns a list of what could not be restored."""
        problems = []
        snap_all_modules()  # modules first imported since (by the instructor's cells) are recorded now
        for name, (module, registered, entries) in list_(snapped_modules.items()):
            try:
                if registered and sys.modules.get(name) is not module:
                    sys.modules[name] = module
                space = vars_(module)
                for k, v in entries.items():
                    if space.get(k, missing) is not v:
                        space[k] = v
            except Exception as err:
                problems.append(f"module {name}: {err!r}")
        for cls, entries in classes.items():
            try:
                now = vars_(cls)
                for k, v in entries.items():
                    if now.get(k, missing) is not v:
                        type_setattr(cls, k, v)
                for k in list_(now):
                    if k not in entries and code_like(now[k]):
                        type_delattr(cls, k)
            except Exception as err:
                problems.append(f"class {cls!r}: {err!r}")
        for o, own_then, attrs in snapped_instances:
            try:
                own = vars_(o) if hasattr_(o, "__dict__") else {}
                for k in list_(own):
                    if k not in own_then and code_like(own[k]) and hasattr_(type_(o), k):
                        del own[k]
                for k, v in own_then.items():
                    if code_like(v) and own.get(k, missing) is not v:
                        own[k] = v
                traits = own.get("_trait_values") if isinstance_(own.get("_trait_values"), dict_) else {}
                for n, (where, v) in attrs.items():
                    if where == "own":
                        if own.get(n, missing) is not v:
                            own[n] = v
                    elif where == "trait":
                        if traits.get(n, missing) is not v:
                            traits[n] = v
                    elif n in own:
                        del own[n]
            except Exception as err:
                problems.append(f"object {type_(o).__name__}: {err!r}")
        for container, content in containers:
            try:
                if isinstance_(container, list_):
                    if container != content or any(a is not b for a, b in zip(container, content)):
                        container[:] = content
                else:
                    if container.keys() != content.keys() or any(container[k] is not v for k, v in content.items()):
                        container.clear()
                        container.update(content)
            except Exception as err:
                problems.append(f"{type_(container).__name__}: {err!r}")
        for callbacks_now, content in event_lists:
            try:
                keep = content + [c for c in callbacks_now if trusted(c) and not any(c is d for d in content)]
                if len(keep) != len(callbacks_now) or any(a is not b for a, b in zip(callbacks_now, keep)):
                    callbacks_now[:] = keep
            except Exception as err:
                problems.append(f"event callbacks: {err!r}")
        for n, v in sys_hooks.items():
            if getattr_(sys, n, missing) is not v:
                try:
                    setattr_(sys, n, v)
                except Exception as err:
                    problems.append(f"sys.{n}: {err!r}")
        if gettrace() is not trace:
            settrace(trace)
        if getprofile() is not profile:
            setprofile(profile)
        try:
            for timer, then in timers.items():
                if then == (0.0, 0.0) and getitimer(timer) != then:
                    setitimer(timer, 0)
            for number, handler in handlers.items():
                if getsignal(number) is not handler:
                    setsignal(number, handler)
        except Exception as err:
            problems.append(f"signal handlers: {err!r}")
        if len(gc_callbacks) != len(gc_callbacks_then) or any(a is not b for a, b in zip(gc_callbacks,
                                                                                         gc_callbacks_then)):
            gc_callbacks[:] = gc_callbacks_then
        return problems

    guard = module_type(guard_name)
    guard.token = token
    guard.restore = restore
    return guard


def snapshot_source(token: str, modules: list[str]) -> str:
    """The hidden cell that takes the snapshot (runs before the first cell the submission supplies)."""
    body = inspect.getsource(_kernel_guard)
    return (
        body.replace("def _kernel_guard(", "def __rnn_course_kernel_guard(", 1)
        + f"\nimport sys as __rnn_course_sys\n"
        f"__rnn_course_sys.modules[{GUARD_MODULE!r}] = __rnn_course_kernel_guard({token!r}, {list(modules)!r}, "
        f"{list(CORE_MODULES)!r}, {GUARD_MODULE!r}, {list(TRUSTED_CALLBACK_PACKAGES)!r})\n"
        "del __rnn_course_kernel_guard, __rnn_course_sys\n"
    )


def restore_source(token: str) -> str:
    """Lines that put the snapshot back (the start of every reset cell)."""
    mark = f"{BROKEN_MARK}:{token}: "
    return "\n".join([
        "def __rnn_course_grader_restore():",
        "    import sys",
        f"    guard = sys.modules.get({GUARD_MODULE!r})",
        f"    if guard is None or getattr(guard, 'token', None) != {token!r}:",
        f"        raise RuntimeError({mark + 'the snapshot of what the tests rely on is gone'!r})",
        "    problems = guard.restore()",
        "    if problems:",
        f"        raise RuntimeError({mark + 'could not restore '!r} + '; '.join(problems)[:500])",
        "__rnn_course_grader_restore()",
        "del __rnn_course_grader_restore",
    ]) + "\n"


def probe_source(token: str) -> str:
    """The last line of every reset cell: a deliberate error that must come back as an error."""
    return (f"class {PROBE_NAME}(Exception):\n    pass\n"
            f"raise {PROBE_NAME}({'probe ' + token!r})\n")


def probe_verdict(res: dict, token: str) -> tuple[str, str]:
    """What a reset cell's outcome says about the kernel.

    Args:
        res: the sandbox's result for the reset cell (`status`, `reply_status`, `outputs`).
        token: the run's token.

    Returns:
        `(verdict, detail)`: `ok` (the deliberate error came back as an error
        reply and an iopub error message carrying the token), `failed` (the
        reset itself failed before the probe, for example a check module that
        does not import, or the kernel died; `detail` is empty), or `untrusted`
        (the kernel reported the deliberate error dishonestly, or the snapshot
        was gone; `detail` says how).
    """
    if res.get("status") in ("timeout", "died", "not_run"):
        return "failed", ""
    errors = [o for o in res.get("outputs", []) if o.get("output_type") == "error"]
    for o in errors:
        text = f"{o.get('ename', '')}: {o.get('evalue', '')}"
        if BROKEN_MARK + ":" + token in text:
            return "untrusted", str(o.get("evalue", "")).split(": ", 1)[-1][:300]
    probe = [o for o in errors if o.get("ename") == PROBE_NAME and token in str(o.get("evalue", ""))]
    if res.get("reply_status") == "error" and probe:
        return "ok", ""
    if probe:
        return "untrusted", ("a deliberate error was published but its execute reply said "
                             f"{res.get('reply_status')!r}, not 'error'")
    if errors:  # the reset failed before the probe (a check module that does not import)
        return "failed", ""
    if res.get("reply_status") == "error":
        return "untrusted", "a deliberate error came back as an error reply without its error message"
    return "untrusted", f"a deliberate error came back as {res.get('reply_status')!r}, not as an error"
