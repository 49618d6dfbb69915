"""Which cells a grade needs: the instructor's experiment cells that no answer or test depends on.

A graded notebook's test cells depend only on the student's answers and small
deterministic inputs (`docs/authoring.md`), so the experiments between them (the
training runs, the plots, the samples) do not change any score; in a FAST-mode
grade of notebook 02 they are more than half of the kernel's time. The grader
skips a code cell when all of these hold:

- it is one of the instructor's plain code cells (no nbgrader metadata), with
  the source's text unchanged: a cell the student added or edited always runs;
- it is plain Python that can be read statically: no `%magic` or `!shell`, no
  `import`, no `global`, no star import, and none of `globals`, `locals`,
  `vars`, `eval`, `exec`, `get_ipython`, `__import__` or `setattr`;
- no cell that runs after it reads a name it binds or may change: the names it
  assigns, defines or deletes anywhere (in any function, loop or `with`), the
  names whose attributes or items it assigns, and the *data* names (bound by an
  assignment somewhere in the notebook, not only by `def`, `class` or `import`)
  whose methods it calls or that it passes to a call, which may change them;
- no cell that runs after it reads the namespace dynamically (the same names as
  above), which could read anything.

"Reads after it" is decided backwards from the end: answers, tests, locked
cells and the student's own cells always run, and a skippable cell that is
needed runs too, so what it reads is needed in turn. What a function reads is
read whenever it is called, so the names read inside the functions of every
cell that runs count for every cell, before it or after. The analysis is
conservative (a cell is kept whenever it might matter), and the suite proves on
every course notebook that skipping changes no score (`tests/test_grading_pruning.py`);
`grade_notebook(run_all=True)` (`rnn-course grade --run-all`) runs every cell.
"""

from __future__ import annotations

import ast
import symtable

from rnn_course.grading.audit import parse_cell, to_python
from rnn_course.grading.restore import STUDENT, PlanCell, SourceNotebook, same_text

#: Names that read or write the namespace dynamically: a cell using one cannot be analysed.
DYNAMIC = frozenset({"globals", "locals", "vars", "eval", "exec", "get_ipython", "__import__", "setattr",
                     "delattr", "__builtins__", "compile"})


class CellNames:
    """What one code cell reads and writes, by name.

    Attributes:
        reads: the global names the cell reads at its top level, as it runs.
        deferred: the global names read inside its functions, lambdas, classes
            and comprehensions (Python's own `symtable` tells a global from a
            local): a function may be called by any later cell, so these count
            for cells before it too.
        binds: names it assigns, defines, deletes or imports anywhere, and names
            whose attributes or items it assigns.
        calls_with: names it calls a method of, or passes to a call (it may change them).
        data: names it binds by an assignment (not by `def`, `class` or `import`).
        plain: True if the cell can be skipped at all (see the module docstring).
        dynamic: True if it reads the namespace dynamically.
    """

    def __init__(self, source: str):
        self.reads: set[str] = set()
        self.deferred: set[str] = set()
        self.binds: set[str] = set()
        self.calls_with: set[str] = set()
        self.data: set[str] = set()
        tree = parse_cell(source)
        self.plain = tree is not None and source.lstrip()[:1] not in ("%", "!")
        self.dynamic = tree is None
        if tree is None:
            return
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Load):
                    if node.id in DYNAMIC:
                        self.dynamic = True
                else:
                    self.binds.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.binds.add(node.name)
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
                    self.binds.add(root)
            elif isinstance(node, ast.Call):
                root = _root(node.func) if isinstance(node.func, ast.Attribute) else None
                if root:
                    self.calls_with.add(root)
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    self.calls_with.update(n.id for n in ast.walk(arg) if isinstance(n, ast.Name))
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With, ast.NamedExpr,
                                   ast.comprehension)):
                for target in _targets(node):
                    self.data.update(_target_names(target))
        if self.dynamic:
            self.plain = False
        try:
            table = symtable.symtable(to_python(source), "<cell>", "exec")
        except (SyntaxError, ValueError):  # valid syntax the compiler still refuses (`return` at top level)
            self.dynamic, self.plain = True, False
            return
        self.reads = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
        for child in table.get_children():
            _global_reads(child, self.deferred)


def _global_reads(table: symtable.SymbolTable, out: set[str]) -> None:
    for symbol in table.get_symbols():
        if symbol.is_referenced() and symbol.is_global():
            out.add(symbol.get_name())
    for child in table.get_children():
        _global_reads(child, out)


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
    if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.comprehension, ast.For)):
        return [node.target]
    return [item.optional_vars for item in node.items if item.optional_vars is not None]


def skippable(plan: list[PlanCell], source: SourceNotebook) -> dict[int, str]:
    """The plan cells the grade does not need, with the reason to show in the executed notebook.

    Args:
        plan: the restored notebook (`restore.restore`).
        source: its instructor notebook.

    Returns:
        `{plan index: reason}` for every code cell that can be skipped without
        changing a score (see the module docstring); empty when none can.
    """
    instructor = [text for _, text in source.plain_code]
    names = {k: CellNames(pc.source) for k, pc in enumerate(plan) if pc.cell_type == "code"}
    data = set().union(*(n.data for n in names.values())) if names else set()
    candidates = {k for k, pc in enumerate(plan) if k in names and pc.role == STUDENT and names[k].plain
                  and any(same_text(pc.source, t) for t in instructor)}
    deferred = set().union(*(names[k].deferred for k in names if k not in candidates)) if names else set()
    while True:
        needed, skip = set(deferred), {}
        for k in sorted(names, reverse=True):
            cell = names[k]
            if k in candidates and not (cell.binds | (cell.calls_with & data)) & needed:
                skip[k] = "skipped by the grader: no answer or test cell needs what this cell computes"
                continue
            if cell.dynamic:
                # It may read anything bound before it: keep every earlier cell.
                skip = {j: why for j, why in skip.items() if j > k}
                break
            needed |= cell.reads
        more = set().union(*(names[k].deferred for k in candidates - set(skip))) - deferred if candidates else set()
        if not more:
            return skip
        deferred |= more
