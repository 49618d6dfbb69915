"""Which cells a grade needs: the instructor's experiment cells that no answer or test depends on.

A graded notebook's test cells depend only on the student's answers and small
deterministic inputs (`docs/authoring.md`), so the experiments between them (the
training runs, the plots, the samples) do not change any score; in a FAST-mode
grade of notebook 02 they are more than half of the kernel's time. The
instructor says which cells are such experiments, with the cell tag
`experiment` (`restore.EXPERIMENT_TAG`), and the grader skips a code cell when
all of these hold:

- it is one of the instructor's plain code cells (no nbgrader metadata) tagged
  `experiment`, with the source's text unchanged: a cell the student edited or
  added always runs, and so does every cell without the tag;
- it is plain Python that can be read statically: no `%magic` or `!shell`, no
  `import`, no `global`, no star import, none of the names that read or write
  the namespace dynamically (`DYNAMIC`), no call that changes a module's or the
  process's state (`STATEFUL_CALLS`: seeds, warning filters, the working
  folder, `sys.path`, Keras's config) or writes a file (`WRITING_CALLS`, `open`
  for writing), and no assignment into an imported module (`os.environ[...] =`);
- no cell that runs after it reads a name it may change: a name it assigns,
  defines or deletes anywhere (as `symtable` sees them: `match` captures and
  `except ... as` too), a name whose attributes or items it assigns, a *data*
  name (anything some cell binds but by `def` or `import`) whose methods it
  calls or that it passes to a call (a class passed to a call is used, not
  changed), the data that a notebook function or class it calls or decorates
  with reads or assigns (and the same for the functions that one calls), and
  every data name such a name may alias (`for layer in layers`, `alias = DATA`);
- no cell that runs reads the namespace dynamically, in its own body or in a
  function it defines (then nothing is skipped).

"Reads after it" is decided backwards from the end: answers, tests, locked
cells and the student's own cells always run, and a skippable cell that is
needed runs too, so what it reads is needed in turn. What a function reads is
read whenever it is called, so the names read inside the functions of every
cell that runs count for every cell, before it or after.

The tag is the instructor's promise and the analysis its check: a tagged cell
the analysis finds needed runs, and `tests/test_grading_pruning.py` fails when
a course notebook tags such a cell. The suite proves on every course notebook
that skipping changes no score; `grade_notebook(run_all=True)` (`rnn-course
grade --run-all`) runs every cell.
"""

from __future__ import annotations

import ast
import symtable

from rnn_course.grading.audit import parse_cell, to_python
from rnn_course.grading.restore import STUDENT, PlanCell, SourceNotebook, same_text

#: Names that read or write the namespace dynamically: a cell reading one cannot be analysed. `_`, `__`,
#: `Out` and friends are IPython's output history; `dir()` lists the globals.
DYNAMIC = frozenset({"globals", "locals", "vars", "eval", "exec", "get_ipython", "__import__", "__builtins__",
                     "compile", "dir", "_", "__", "___", "Out", "In", "_oh", "_ih"})
#: Attributes that reach the namespace: `sys.modules["__main__"]`, a frame's `f_globals`.
DYNAMIC_ATTRIBUTES = frozenset({"modules", "f_globals", "_getframe", "currentframe"})
#: Functions that change a module's or the process's state (warnings, logging, the working folder,
#: Keras's and the frameworks' configuration): a cell calling one is never skipped. Seeding is not
#: among them: a training cell seeds its own run, and test cells never depend on the global random
#: state (they seed their own generators, `docs/authoring.md`).
STATEFUL_CALLS = frozenset({
    "seterr", "seterrcall", "set_printoptions",
    "filterwarnings", "simplefilter", "resetwarnings", "setLevel", "set_verbosity", "basicConfig",
    "chdir", "putenv", "unsetenv", "set_floatx", "set_epsilon", "set_image_data_format",
    "set_global_policy", "set_dtype_policy", "set_backend", "clear_session", "run_functions_eagerly",
    "enable_unsafe_deserialization", "set_distribution", "set_logical_device_configuration",
    "set_memory_growth", "set_visible_devices"})
#: Functions that write files: a cell calling one is never skipped (a later cell may read the file).
WRITING_CALLS = frozenset({
    "write_text", "write_bytes", "save", "save_weights", "save_model", "savefig", "savez", "savez_compressed",
    "savetxt", "to_csv", "to_json", "to_pickle", "tofile", "mkdir", "makedirs", "touch", "unlink", "rmtree",
    "rename", "symlink_to"})
#: Common method names that change state or write files when called on an imported module
#: (`jax.config.update`, `matplotlib.use`, `os.environ.setdefault`, `json.dump`, `shutil.copy`, `os.remove`);
#: on the notebook's own data they are ordinary calls (`counts.update(...)`), handled as changes of that data.
MODULE_CALLS = frozenset({"update", "use", "disable", "setdefault", "append", "insert", "extend", "remove",
                          "rmdir", "replace", "copy", "copyfile", "copytree", "move", "write", "writelines",
                          "dump", "export", "pop", "clear"})


class CellNames:
    """What one code cell reads and writes, by name.

    Attributes:
        reads: the global names the cell reads at its top level, as it runs.
        deferred: the global names read inside its functions, lambdas, classes
            and comprehensions (Python's own `symtable` tells a global from a
            local): a function may be called by any later cell, so these count
            for cells before it too.
        binds: the global names it assigns, defines, deletes or imports (at its top
            level, or declared `global` in a function): rebinding a name changes
            that name, not the object it held.
        mutates: names whose attributes or items it assigns anywhere, or that it
            updates in place (`+=`): the object changes, so every name that may
            alias it sees the change.
        calls_with: names it calls a method of (it may change them).
        passes: names it passes to a call or a decorator (the callee may change them).
        data: names it binds other than by `def` or `import` (classes included:
            their attributes are state too).
        functions: `{name: (globals its body reads, globals it assigns)}` for
            each function or class it defines at its top level.
        classes: the classes it defines.
        aliases: `{name: data names the value bound to it was computed from}`
            (`for layer in layers` gives `{"layer": {"layers"}}`).
        imported: names it binds by `import`.
        module_state: the roots of its calls of `MODULE_CALLS` methods and of its attribute or
            item assignments (`os.environ[...] =`): if one is an imported module, the cell
            changes that module's state.
        plain: True if the cell can be skipped at all (see the module docstring).
        dynamic: True if it reads the namespace dynamically at its top level.
        dynamic_later: True if a function it defines reads the namespace dynamically.
    """

    def __init__(self, source: str):
        self.reads: set[str] = set()
        self.deferred: set[str] = set()
        self.binds: set[str] = set()
        self.mutates: set[str] = set()
        self.calls_with: set[str] = set()
        self.passes: set[str] = set()
        self.data: set[str] = set()
        self.functions: dict[str, tuple[set[str], set[str]]] = {}
        self.classes: set[str] = set()
        self.aliases: dict[str, set[str]] = {}
        self.imported: set[str] = set()
        self.module_state: set[str] = set()
        self.dynamic_later = False
        tree = parse_cell(source)
        self.plain = tree is not None and source.lstrip()[:1] not in ("%", "!")
        self.dynamic = tree is None
        if tree is None:
            return
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self.imported.update((a.asname or a.name.split(".")[0]) for a in node.names if a.name != "*")
        in_function = {id(n) for top in ast.walk(tree) if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                              ast.Lambda))
                       for n in ast.walk(top) if n is not top}
        # Local scopes: names bound in a function or a comprehension are not the notebook's globals.
        local = in_function | {id(n) for top in ast.walk(tree)
                               if isinstance(top, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp))
                               for n in ast.walk(top)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in DYNAMIC) or \
                    (isinstance(node, ast.Attribute) and node.attr in DYNAMIC_ATTRIBUTES):
                if id(node) in in_function:
                    self.dynamic_later = True
                else:
                    self.dynamic = True
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if isinstance(node, ast.ClassDef):
                    self.data.add(node.name)
                    self.classes.add(node.name)
                for decorator in node.decorator_list:
                    self.passes.update(n.id for n in ast.walk(decorator) if isinstance(n, ast.Name))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                self.plain = False
                if any(a.name == "*" for a in node.names):
                    self.dynamic = True
                self.binds.update((a.asname or a.name.split(".")[0]) for a in node.names if a.name != "*")
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                self.plain = False
                self.binds.update(node.names)
            elif isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.ctx, (ast.Store, ast.Del)):
                root = _root(node)
                if root:
                    self.mutates.add(root)
                    self.module_state.add(root)
            elif isinstance(node, ast.Call):
                called = _name_of(node.func)
                root = _root(node.func)
                if called in STATEFUL_CALLS or called in WRITING_CALLS or (called == "open" and _writes(node)):
                    self.plain = False
                if called in MODULE_CALLS and root:
                    self.module_state.add(root)
                if called in ("setattr", "delattr") and node.args and _root(node.args[0]):
                    self.mutates.add(_root(node.args[0]))  # an attribute assignment with a computed name
                    self.module_state.add(_root(node.args[0]))
                if root and isinstance(node.func, ast.Attribute):
                    self.calls_with.add(root)
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    self.passes.update(n.id for n in ast.walk(arg) if isinstance(n, ast.Name))
            if isinstance(node, ast.AugAssign):
                self.mutates.update(_target_names(node.target))  # list += [...] changes the list in place
            if id(node) not in local and isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For,
                                                             ast.AsyncFor, ast.With, ast.AsyncWith, ast.NamedExpr)):
                sources = _aliased(_value(node))
                for target in _targets(node):
                    for name in _target_names(target):
                        self.data.add(name)
                        self.aliases.setdefault(name, set()).update(sources - {name})
        try:
            table = symtable.symtable(to_python(source), "<cell>", "exec")
        except (SyntaxError, ValueError):  # valid syntax the compiler still refuses (`return` at top level)
            self.dynamic, self.plain = True, False
            return
        for symbol in table.get_symbols():
            if symbol.is_referenced():
                self.reads.add(symbol.get_name())
            if symbol.is_assigned() or symbol.is_imported():  # match captures, except ... as, del too
                self.binds.add(symbol.get_name())
                if not symbol.is_imported() and not symbol.is_namespace():
                    self.data.add(symbol.get_name())
        for child in table.get_children():
            _globals_of(child, self.deferred, self.binds)
            if child.get_type() in ("function", "class") and \
                    child.get_name() not in ("lambda", "listcomp", "setcomp", "dictcomp", "genexpr"):
                reads, assigns = set(), set()
                _globals_of(child, reads, assigns)
                self.functions[child.get_name()] = (reads, assigns)
        if self.dynamic:
            self.plain = False


def _name_of(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _writes(call: ast.Call) -> bool:
    """True if `open(...)` may write: a mode that is not a constant string without w, a, x or +."""
    mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
    if mode is None:
        return False
    return not (isinstance(mode, ast.Constant) and isinstance(mode.value, str) and not set("wax+") & set(mode.value))


def _globals_of(table: symtable.SymbolTable, reads: set[str], assigns: set[str]) -> None:
    """The global names a nested scope reads (into `reads`) and assigns (`global x; x = ...`, into `assigns`)."""
    for symbol in table.get_symbols():
        if symbol.is_global():
            if symbol.is_referenced():
                reads.add(symbol.get_name())
            if symbol.is_assigned():
                assigns.add(symbol.get_name())
    for child in table.get_children():
        _globals_of(child, reads, assigns)


def _root(node) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _target_names(target) -> set[str]:
    """The names an assignment target binds or changes: `a, b[i], c.x = ...` gives {a, b, c}."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_target_names(t) for t in target.elts)) if target.elts else set()
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    root = _root(target)
    return {root} if root else set()


def _targets(node) -> list:
    if isinstance(node, ast.Assign):
        return node.targets
    if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.comprehension, ast.For, ast.AsyncFor)):
        return [node.target]
    return [item.optional_vars for item in node.items if item.optional_vars is not None]


def _value(node):
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
        return node.value
    if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
        return node.iter
    return ast.Tuple(elts=[item.context_expr for item in node.items], ctx=ast.Load())


def _aliased(value) -> set[str]:
    """The names whose objects `value` may be (part of): `b`, `b.x`, `b[i]`, and those in a tuple or list of them.

    A call or an arithmetic expression makes a new object, so `a = f(b)` does not alias `b`.
    """
    if isinstance(value, (ast.Tuple, ast.List, ast.Set)):
        return set().union(*(_aliased(v) for v in value.elts)) if value.elts else set()
    if isinstance(value, ast.Starred):
        return _aliased(value.value)
    if isinstance(value, (ast.Name, ast.Attribute, ast.Subscript)):
        root = _root(value)
        return {root} if root and not isinstance(value, ast.Call) else set()
    if isinstance(value, ast.IfExp):
        return _aliased(value.body) | _aliased(value.orelse)
    return set()


def _closure(names: set[str], edges: dict[str, set[str]]) -> set[str]:
    """`names` and everything reachable from them along `edges`."""
    out, todo = set(names), list(names)
    while todo:
        for other in edges.get(todo.pop(), ()):
            if other not in out:
                out.add(other)
                todo.append(other)
    return out


def skippable(plan: list[PlanCell], source: SourceNotebook) -> dict[int, str]:
    """The plan cells the grade does not need, with the reason to show in the executed notebook.

    Args:
        plan: the restored notebook (`restore.restore`).
        source: its instructor notebook; only its cells tagged `experiment` may be skipped.

    Returns:
        `{plan index: reason}` for every code cell that can be skipped without
        changing a score (see the module docstring); empty when none can.
    """
    names = {k: CellNames(pc.source) for k, pc in enumerate(plan) if pc.cell_type == "code"}
    if not names or not source.experiments:
        return {}
    if any(cell.dynamic_later for cell in names.values()):
        return {}  # a function reads the namespace dynamically: it may read anything, whenever it is called
    modules = set().union(*(n.imported for n in names.values())) | {"os", "sys"}
    candidates = {k for k, pc in enumerate(plan) if k in names and pc.role == STUDENT and names[k].plain
                  and not names[k].module_state & modules
                  and any(same_text(pc.source, t) for t in source.experiments)}
    if not candidates:
        return {}
    data = set().union(*(n.data for n in names.values()))
    classes = set().union(*(n.classes for n in names.values()))
    reads_of: dict[str, set[str]] = {}
    assigns_of: dict[str, set[str]] = {}
    aliases: dict[str, set[str]] = {}
    for cell in names.values():
        for name, (reads, assigns) in cell.functions.items():
            reads_of.setdefault(name, set()).update(reads)
            assigns_of.setdefault(name, set()).update(assigns)
        for name, sources in cell.aliases.items():
            aliases.setdefault(name, set()).update(sources & data)
    # What calling a notebook function may change: the data it reads (a method call may change it; a class
    # it only reads is used, not changed), the globals it assigns, and the same for the functions it calls.
    calls = {f: reads_of[f] & set(reads_of) for f in reads_of}
    effects = {f: set().union(*((reads_of[g] & (data - classes)) | assigns_of[g] for g in _closure({f}, calls)))
               for f in reads_of}

    def touches(cell: CellNames) -> set[str]:
        # A class passed to a call is used, not changed (`keras.layers.RNN(MyCell(3))`); its own methods are not.
        changed = cell.mutates | (cell.calls_with & data) | (cell.passes & (data - classes))
        for f in cell.reads & set(effects):
            changed |= effects[f]
        return cell.binds | _closure(changed, aliases)

    deferred = set().union(*(names[k].deferred for k in names if k not in candidates))
    while True:
        needed, skip = set(deferred), {}
        for k in sorted(names, reverse=True):
            cell = names[k]
            if k in candidates and not touches(cell) & needed:
                skip[k] = "skipped by the grader: an experiment that no answer or test cell needs"
                continue
            if cell.dynamic:
                # It may read anything bound before it: keep every earlier cell.
                skip = {j: why for j, why in skip.items() if j > k}
                break
            needed |= cell.reads
        more = set().union(*(names[k].deferred for k in candidates - set(skip))) - deferred
        if not more:
            return skip
        deferred |= more
