"""A static scan of the code a student controls, for code that could tamper with grading.

The grader already defends against the common tricks (test cells restored from
the source, check modules re-imported before every test cell, outputs written
by the grader after the kernel is dead). Code in the kernel can still do
anything Python can, so this scan *flags* the patterns that tampering needs,
for an instructor to review: patching a module's attributes, `sys.modules`,
builtins or IPython internals, dynamic code (`exec`, `eval`, `__import__`),
process control (`os._exit`, `sys.exit`, `signal`, `subprocess`, shell
commands), `ctypes`, and anything that reaches how the kernel runs cells or
reports errors (IPython's and ipykernel's internals, `set_custom_exc`, event
callbacks, cell transformers), in whichever spelling it is imported. Ordinary
use of IPython (`IPython.display`, `%matplotlib inline`, `get_ipython()`
running a harmless line magic) is not flagged.

A flag alone never changes a score. What the tests rely on is also restored
before each test cell, and the kernel must prove that it still reports errors
(see `integrity`); a kernel that fails that proof scores 0 from there on.
"""

from __future__ import annotations

import ast

#: Names that are always treated as modules, whether or not an import is seen.
KNOWN_MODULES = {"np", "numpy", "keras", "tf", "tensorflow", "torch", "jax", "jnp", "sys", "os", "math",
                 "random", "builtins", "importlib", "rnn_course", "checks", "unittest", "pytest", "nbgrader"}
SUSPICIOUS_IMPORTS = {
    "ctypes": "imports ctypes (raw memory access)",
    "importlib": "imports importlib (can swap modules)",
    "builtins": "imports builtins (can replace built-in functions)",
    "gc": "imports gc (can reach and rewrite any object)",
    "subprocess": "imports subprocess (runs other programs)",
    "multiprocessing": "imports multiprocessing (starts processes)",
    "signal": "imports signal (can block the grader's interrupts)",
    "threading": "imports threading (a thread can act while the tests run)",
    "_thread": "imports _thread (a thread can act while the tests run)",
    "inspect": None,
}
SUSPICIOUS_CALLS = {
    "exec": "calls exec() (runs code built at run time)",
    "eval": "calls eval() (runs code built at run time)",
    "compile": "calls compile() (builds code at run time)",
    "__import__": "calls __import__()",
    "get_ipython": "uses get_ipython() (reaches the kernel's internals)",
    "exit": "calls exit()",
    "quit": "calls quit()",
}
SUSPICIOUS_ATTR_CALLS = {
    ("os", "_exit"): "calls os._exit() (kills the kernel)",
    ("os", "kill"): "calls os.kill()",
    ("os", "killpg"): "calls os.killpg()",
    ("os", "system"): "calls os.system() (runs a shell command)",
    ("os", "popen"): "calls os.popen() (runs a shell command)",
    ("os", "fork"): "calls os.fork()",
    ("os", "setsid"): "calls os.setsid()",
    ("sys", "exit"): "calls sys.exit()",
    ("sys", "settrace"): "calls sys.settrace()",
    ("sys", "setprofile"): "calls sys.setprofile()",
    ("sys", "addaudithook"): "calls sys.addaudithook()",
    ("signal", "signal"): "installs a signal handler",
}
DUNDER_ATTRS = {"__code__", "__globals__", "__builtins__", "__closure__", "__defaults__", "__kwdefaults__"}
#: Attributes through which code can change how the kernel runs cells or reports errors.
KERNEL_ATTRS = {"showtraceback", "_showtraceback", "showsyntaxerror", "showindentationerror", "run_cell",
                "run_cell_async", "run_code", "run_ast_nodes", "CustomTB", "custom_exceptions", "InteractiveTB",
                "SyntaxTB", "excepthook", "displayhook", "ast_transformers", "input_transformers_cleanup",
                "input_transformers_post", "input_transformer_manager", "do_execute", "execute_request",
                "shell_handlers", "structured_traceback", "error_in_exec", "error_before_exec", "success",
                "get_exception_only", "transform_cell", "transform_ast", "should_run_async"}
#: Method calls that hook into the kernel: `.set_custom_exc(...)`, `.events.register(...)`, ...
KERNEL_CALLS = {"set_custom_exc": "installs a custom exception handler (set_custom_exc: can hide errors)",
                "register_magic_function": "registers a magic"}
#: IPython modules a notebook may import without a flag; other IPython.core modules are kernel internals.
IPYTHON_PUBLIC = ("IPython", "IPython.display", "IPython.core.display", "IPython.core.display_functions",
                  "IPython.core.getipython", "IPython.core.pylabtools", "IPython.lib", "IPython.utils")
KERNEL_PACKAGES = ("ipykernel", "jupyter_client", "zmq", "traitlets", "comm")
#: Line magics that `get_ipython().run_line_magic(...)` may run without a flag (`%matplotlib inline`).
SAFE_MAGICS = {"matplotlib", "time", "timeit", "precision", "pprint", "who", "whos", "who_ls"}


def to_python(source: str) -> str:
    """The cell's text with IPython syntax (`%magic`, `!shell`) turned into Python."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def parse_cell(source: str) -> ast.Module | None:
    """Parses a notebook cell (IPython syntax allowed); None if it is not valid Python."""
    try:
        return ast.parse(to_python(source))
    except (SyntaxError, ValueError):
        return None


def _kernel_internal(module: str) -> bool:
    top = module.split(".")[0]
    if top in KERNEL_PACKAGES:
        return True
    if top != "IPython":
        return False
    return not any(module == p or (p != "IPython" and module.startswith(p + ".")) for p in IPYTHON_PUBLIC)


def imported_names(sources: list[str]) -> dict[str, str]:
    """Names that imports in these cells bind: `module` for a module, else where it comes from.

    `import numpy as np` gives `{"np": "module"}`; `from IPython.core.interactiveshell
    import InteractiveShell` gives `{"InteractiveShell": "IPython.core.interactiveshell"}`.
    The names in `KNOWN_MODULES` are always modules.
    """
    names = {n: "module" for n in KNOWN_MODULES}
    for src in sources:
        tree = parse_cell(src)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names[alias.asname or alias.name.split(".")[0]] = "module"
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name != "*":
                        names.setdefault(alias.asname or alias.name, node.module or ".")
    return names


def module_names(sources: list[str]) -> set[str]:
    """Names that `import` statements in these cells bind to modules."""
    return {name for name, origin in imported_names(sources).items() if origin == "module"}


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id + "()"
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    try:
        return ast.unparse(node)[:80]
    except Exception:
        return "?"


def scan(source: str, modules: set[str]) -> list[str]:
    """Flags in one cell's text.

    Args:
        source: the cell's text.
        modules: names bound to modules in the notebook (see `module_names`).

    Returns:
        One short description per suspicious construct, with its line number.
    """
    tree = parse_cell(source)
    if tree is None:
        return []
    flags: list[str] = []
    origins = modules if isinstance(modules, dict) else {n: "module" for n in modules}
    for node in ast.walk(tree):  # names this cell binds by import count too
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                origins.setdefault(alias.asname or alias.name, node.module or ".")
    modules = {n for n, origin in origins.items() if origin == "module"}
    benign = _benign_get_ipython(tree)

    def flag(node, text):
        flags.append(f"{text} (line {getattr(node, 'lineno', '?')})")

    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.Delete)):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for target in targets:
            for t in (target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]):
                root = _root(t)
                if isinstance(t, ast.Attribute) and root in modules:
                    flag(t, f"replaces the module attribute {_dotted(t)}")
                elif isinstance(t, ast.Attribute) and root in origins:
                    flag(t, f"replaces {_dotted(t)} ({root} is imported from {origins[root]})")
                elif isinstance(t, ast.Attribute) and t.attr in KERNEL_ATTRS and root not in ("self", "cls"):
                    flag(t, f"rewrites {_dotted(t)} (how the kernel runs cells or reports errors)")
                elif isinstance(t, ast.Subscript) and _dotted(t.value) in ("sys.modules", "globals()", "builtins.__dict__"):
                    flag(t, f"writes to {_dotted(t.value)}")
                elif isinstance(t, ast.Attribute) and t.attr in DUNDER_ATTRS | {"__dict__", "__class__"}:
                    flag(t, f"rewrites {_dotted(t)}")
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if SUSPICIOUS_IMPORTS.get(top):
                    flag(node, SUSPICIOUS_IMPORTS[top])
                if _kernel_internal(alias.name):
                    flag(node, f"imports the kernel's internals ({alias.name}: can change how errors are reported)")
        elif isinstance(node, ast.ImportFrom):
            top = (node.module or "").split(".")[0]
            if SUSPICIOUS_IMPORTS.get(top):
                flag(node, SUSPICIOUS_IMPORTS[top])
            inner = [f"{node.module}.{a.name}" for a in node.names] if node.module == "IPython" else [node.module or ""]
            for name in inner:
                if _kernel_internal(name) and not (node.module == "IPython" and name.split(".")[-1] in (
                        "get_ipython", "display", "version_info", "__version__")):
                    flag(node, f"imports the kernel's internals ({name}: can change how errors are reported)")
        elif isinstance(node, ast.Call):
            func = node.func
            if _writes_python_file(node):
                flag(node, "writes a .py file (could stand in for a module)")
            if isinstance(func, ast.Name):
                if func.id == "get_ipython" and id(node) in benign:
                    pass
                elif func.id in SUSPICIOUS_CALLS:
                    text = SUSPICIOUS_CALLS[func.id]
                    if func.id == "get_ipython" and "get_ipython().system(" in to_python(source):
                        text = "runs a shell command (!cmd)"
                    flag(node, text)
                elif func.id in ("setattr", "delattr") and node.args:
                    if _root(node.args[0]) in modules:
                        flag(node, f"calls {func.id}() on the module {_dotted(node.args[0])}")
                    elif _root(node.args[0]) not in ("self", "cls"):
                        flag(node, f"calls {func.id}() on {_dotted(node.args[0])} (can replace a module's "
                                   "functions by name)")
            elif isinstance(func, ast.Attribute):
                if func.attr in ("insert", "append", "extend") and _dotted(func.value) == "sys.path":
                    flag(node, f"changes sys.path (sys.path.{func.attr})")
                if func.attr in KERNEL_CALLS:
                    flag(node, KERNEL_CALLS[func.attr])
                elif func.attr == "register" and isinstance(func.value, ast.Attribute) and func.value.attr == "events":
                    flag(node, "registers an IPython event callback (runs code around every cell, tests included)")
                elif func.attr in ("append", "insert", "extend", "__setitem__") and \
                        isinstance(func.value, ast.Attribute) and func.value.attr in KERNEL_ATTRS:
                    flag(node, f"changes {_dotted(func.value)} (how the kernel runs cells or reports errors)")
                if isinstance(func.value, ast.Name):
                    text = SUSPICIOUS_ATTR_CALLS.get((func.value.id, func.attr))
                    if text:
                        flag(node, text)
                    elif func.value.id == "os" and func.attr.startswith(("exec", "spawn")):
                        flag(node, f"calls os.{func.attr}() (runs another program)")
        elif isinstance(node, ast.Attribute) and node.attr in DUNDER_ATTRS and isinstance(node.ctx, ast.Load):
            flag(node, f"reads {_dotted(node)}")
        elif isinstance(node, ast.Name) and node.id == "__builtins__":
            flag(node, "uses __builtins__")
    seen, unique = set(), []
    for f in flags:
        if f not in seen:
            seen.add(f)
            unique.append(f)
    return unique


def _benign_get_ipython(tree: ast.AST) -> set[int]:
    """ids of `get_ipython()` calls used only to run a harmless line magic (`%matplotlib inline`)."""
    out = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "run_line_magic" and isinstance(node.func.value, ast.Call)
                and isinstance(node.func.value.func, ast.Name) and node.func.value.func.id == "get_ipython"
                and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in SAFE_MAGICS):
            out.add(id(node.func.value))
    return out


def _py_name(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith(".py")


def _writes_python_file(call: ast.Call) -> bool:
    """`open('x.py', 'w')`, `Path('x.py').write_text(...)` and the like."""
    func = call.func
    if isinstance(func, ast.Name) and func.id == "open" and call.args and _py_name(call.args[0]):
        mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
        return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and any(c in mode.value for c in "wax+")
    if isinstance(func, ast.Attribute) and func.attr in ("write_text", "write_bytes", "open"):
        inner = func.value
        return isinstance(inner, ast.Call) and bool(inner.args) and _py_name(inner.args[-1])
    return False


def top_level_imports(source: str) -> list[str]:
    """The unconditional top-level import statements of a cell, as Python text."""
    tree = parse_cell(source)
    if tree is None:
        return []
    return [ast.unparse(node) for node in tree.body
            if isinstance(node, ast.Import)
            or (isinstance(node, ast.ImportFrom) and node.module != "__future__" and not node.level)]
