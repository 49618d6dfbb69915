"""Every student notebook in notebooks/ runs top to bottom in FAST mode, as the grader runs it.

An untouched student notebook has unanswered exercises (`raise NotImplementedError()`),
so errors are allowed exactly where they must happen: in answer cells, in the graded
test cells, and in cells tagged `uses-answers` (experiments that call the student's
code). Every other cell must work, and no cell may write to stderr (nbgrader would
score a test cell with stderr output as 0).

The notebook runs with nbgrader blocked, as on Colab: the self-checks in the test cells must
still give their verdict (NotImplementedError) for every unanswered exercise. That verdict is
also why the untouched student version earns 0 from the grader: it restores each test cell from
the source, whose visible part (the check that fails here) comes first.

**What does not run.** The instructor's experiments that no answer or test cell needs are left
out, exactly as the grader leaves them out of a grade (`rnn_course.grading.pruning`): they are
most of a notebook's time, and what they do is proved elsewhere. An experiment is the same text
in the student version as in the solution, which nbval runs on TensorFlow and
`tests/notebooks/test_other_backends.py` on JAX. All the untouched version changes is what the
answers give: `test_uses_answers_tags_exactly_the_cells_that_read_an_answer` proves, from the
names each statement reads and binds, that a cell without the tag `uses-answers` reads nothing
that an answer defines or that was computed from one, so it runs in the student version exactly
as in the solution; a cell with the tag may fail here anyway.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import nbformat
import pytest

from rnn_course.assignment import USES_ANSWERS_TAG
from rnn_course.grading.audit import parse_cell
from rnn_course.grading.pruning import CellNames, _aliased, _closure, _root, _target_names, skippable
from rnn_course.grading.restore import GRADE, load_source, restore, same_text
from rnn_course.runner import run_notebook

ROOT = Path(__file__).resolve().parents[2]


def _code(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(str(path), 4).cells if c.cell_type == "code"]


#: A student notebook whose code is the solution's (no exercise, e.g. 00) runs in nbval already.
STUDENT_NOTEBOOKS = [p for p in sorted((ROOT / "notebooks").glob("*.ipynb"))
                     if _code(p) != _code(ROOT / "solutions" / p.name)]


def _may_fail(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("grade") or USES_ANSWERS_TAG in cell.metadata.get("tags", []))


def left_out(path: Path) -> dict[int, str]:
    """{cell index: reason} for the cells of the untouched student notebook `path` that the grader skips."""
    nb = nbformat.read(str(path), 4)
    source = load_source(ROOT / "solutions" / path.name)
    plan, notes = restore(source, nb)
    # An untouched student notebook needs no repair: the plan is its cells, in order (test cells restored
    # with their hidden tests).
    assert not notes, notes
    assert len(plan) == len(nb.cells) and all(c.cell_type == pc.cell_type and (pc.role == GRADE or same_text(
        c.source, pc.source)) for c, pc in zip(nb.cells, plan))
    return skippable(plan, source)


class _FirstUse(ast.NodeVisitor):
    """Whether a cell's top level first reads or first binds each global name, in the order Python runs it."""

    def __init__(self):
        self.first: dict[str, str] = {}
        # One set per body that may not run (an if's, a loop's, a try's), innermost last: the names bound so far
        # in it, which what follows in that body reads as its own. A store there does not make a name the
        # statement's: after the body, it may not be bound.
        self.bodies: list[set[str]] = []

    def _mark(self, name: str, how: str) -> None:
        if how == "store" and self.bodies:
            self.bodies[-1].add(name)
        elif not any(name in bound for bound in self.bodies):
            self.first.setdefault(name, how)

    def _maybe(self, *bodies, bound: set[str] = frozenset()) -> None:
        for body in bodies:
            self.bodies.append(set(bound))
            for stmt in body:
                self.visit(stmt)
            self.bodies.pop()

    def visit_If(self, node):
        self.visit(node.test)
        self._maybe(node.body, node.orelse)

    def visit_While(self, node):
        self.visit(node.test)
        self._maybe(node.body, node.orelse)

    def visit_Try(self, node):
        self._maybe(node.body, *[h.body for h in node.handlers], node.orelse)
        for stmt in node.finalbody:
            self.visit(stmt)

    visit_TryStar = visit_Try

    def visit_Name(self, node):
        self._mark(node.id, "load" if isinstance(node.ctx, ast.Load) else "store")

    def visit_Assign(self, node):
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self.visit(node.value)
        self.visit(node.target)

    def visit_AugAssign(self, node):
        if isinstance(node.target, ast.Name):
            self._mark(node.target.id, "load")  # x += 1 reads x first
        self.visit(node.value)
        self.visit(node.target)

    def visit_NamedExpr(self, node):
        self.visit(node.value)
        self.visit(node.target)

    def visit_For(self, node):  # the target is bound before the body runs; after the loop, maybe not at all
        self.visit(node.iter)
        self.visit(node.target)
        self._maybe(node.body, bound={n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)})
        self._maybe(node.orelse)

    def visit_With(self, node):
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self.visit(item.optional_vars)
        for stmt in node.body:
            self.visit(stmt)

    visit_AsyncWith = visit_With

    visit_AsyncFor = visit_For

    def visit_FunctionDef(self, node):  # the body runs later; the defaults and decorators now
        for expr in node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d]:
            self.visit(expr)
        self._mark(node.name, "store")

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):  # the class body runs now, its methods later
        for expr in node.decorator_list + node.bases:
            self.visit(expr)
        for stmt in node.body:
            self.visit(stmt)
        self._mark(node.name, "store")

    def _nested(self, node, own: set[str]):
        """A lambda or comprehension, at the point where it runs: it reads every name that is not its own."""
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) and sub.id not in own:
                self._mark(sub.id, "load")

    def visit_Lambda(self, node):
        args = node.args
        self._nested(node, {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
                     | {a.arg for a in (args.vararg, args.kwarg) if a})

    def _comprehension(self, node):
        self._nested(node, {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)})

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension


BUILTINS = frozenset(dir(builtins))
#: Methods that put values into a container: `curves.append(h)` fills `curves`.
FILLING = frozenset({"append", "extend", "insert", "update", "setdefault", "add"})


def _filled(node) -> set[str]:
    """The names a statement fills in through a method of `FILLING` (all of them for an unreadable cell)."""
    if node is None:
        return set()
    return {sub.func.value.id for sub in ast.walk(node) if isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute) and sub.func.attr in FILLING and isinstance(sub.func.value, ast.Name)}


def _function_effects(node) -> set[str]:
    """The globals that calling the function (or a method of the class) defined by `node` may change: those it
    declares `global`, and the roots of its item and attribute stores and `FILLING` calls that are not its own."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return set()
    declared = {n for sub in ast.walk(node) if isinstance(sub, ast.Global) for n in sub.names}
    own = {a.arg for sub in ast.walk(node) if isinstance(sub, ast.arguments)
           for a in sub.posonlyargs + sub.args + sub.kwonlyargs + [x for x in (sub.vararg, sub.kwarg) if x]}
    own |= {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store)}
    roots = {_root(sub) for sub in ast.walk(node)
             if isinstance(sub, (ast.Attribute, ast.Subscript)) and isinstance(sub.ctx, (ast.Store, ast.Del))}
    return (roots - {None} | _filled(node) | declared) - (own - declared)


def _alias_edges(node) -> list[tuple[str, str]]:
    """(name, name) pairs that may hold the same object after `node`: `alias = DATA`, `for c in CORPORA.items()`."""
    edges = []
    for sub in [node] + [n for n in ast.walk(node) if isinstance(n, (ast.For, ast.AsyncFor, ast.Assign, ast.With))]:
        if isinstance(sub, (ast.For, ast.AsyncFor)):
            sources = {n.id for n in ast.walk(sub.iter) if isinstance(n, ast.Name)}  # CORPORA.items(), zip(a, b)
            targets = [sub.target]
        elif isinstance(sub, ast.Assign):
            sources, targets = _aliased(sub.value), sub.targets
        else:
            continue
        for target in targets:
            edges += [(t, src) for t in _target_names(target) for src in sources if t != src]
    return edges


def _mutated_parameters(path: Path) -> dict[str, set[int | str] | None]:
    """For each function the solution's answer cells define, the parameters (by position and name) its body may
    change in place; None for a class (its instances may keep and change what they are given)."""
    out: dict[str, set[int | str] | None] = {}
    path = Path(path)
    solution = nbformat.read(str(ROOT / "solutions" / path.name), 4) if (ROOT / "solutions" / path.name).is_file() \
        else nbformat.read(str(path), 4)
    for cell in solution.cells:
        if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        for node in (parse_cell(cell.source) or ast.parse("")).body:
            if isinstance(node, ast.ClassDef):
                out[node.name] = None
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                params = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
                changed = {_root(sub) for sub in ast.walk(node) if isinstance(sub, (ast.Attribute, ast.Subscript))
                           and isinstance(sub.ctx, (ast.Store, ast.Del))} | _filled(node)
                changed |= {sub.target.id for sub in ast.walk(node)
                            if isinstance(sub, ast.AugAssign) and isinstance(sub.target, ast.Name)}
                out[node.name] = {p for p in params if p in changed} | {i for i, p in enumerate(params) if p in changed}
    return out


def _handed(node, mutating: dict[str, set[int | str] | None]) -> set[str]:
    """The names a statement hands to an answer that changes them in the solution (`fill(box)`): the unanswered
    stub leaves them as they were, so what they hold differs from the solution's."""
    if node is None:
        return set()
    out = set()
    for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
        callee = _root(call.func)
        if callee not in mutating:
            continue
        which = mutating[callee]
        args = [a for i, a in enumerate(call.args) if which is None or i in which]
        args += [k.value for k in call.keywords if which is None or k.arg in which]
        out |= {n.id for a in args for n in ast.walk(a) if isinstance(n, ast.Name)}
    return out


def answer_tainted(path: Path) -> list[tuple[int, set[str]]]:
    """(cell index, the tainted names it reads) for every code cell of `path` that reads one.

    Statement by statement, in the order the cells run, a name is tainted when:

    - an answer or test cell binds it;
    - a statement that reads a tainted name, or any statement after it in the same cell, binds it,
      fills it in (`results[key] = ...`, `curves.append(...)`, through any name that may hold the
      same object, as `c` in `for name, c in CORPORA.items()`), or calls a notebook function that
      changes it: the value was computed from an answer, or the unanswered stub stopped the cell
      before it.

    A statement reads what it reads at its top level, in the comprehensions and lambdas it runs,
    and whatever the notebook functions it calls or passes on read (followed through the
    functions they call), judged when it runs. One that reads the namespace dynamically or runs
    a magic reads everything. An unconditional top-level assignment that reads no tainted name
    cleans the names it binds; a name bound in an `if`, a loop or a `try` stays as it was.

    Known limits, none met in the course's notebooks: a method outside `FILLING` that changes its
    object with an answer's value (`box.__iadd__([norm(v)])`), and a statement that runs a magic
    or reads the namespace dynamically after the first answer (refused: an `AssertionError`).
    """
    cells = nbformat.read(str(path), 4).cells
    modules = set().union(*(CellNames(c.source).imported for c in cells if c.cell_type == "code"))
    tainted: set[str] = set()
    mutating = _mutated_parameters(path)
    unreadable: list[int] = []
    fn_reads: dict[str, set[str]] = {}
    fn_effects: dict[str, set[str]] = {}
    aliases: dict[str, set[str]] = {}
    readers = []
    for i, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        grader = cell.metadata.get("nbgrader", {})
        tree = parse_cell(cell.source)
        statements = [(cell.source, None)] if tree is None else [(ast.unparse(stmt), stmt) for stmt in tree.body]
        # Everything an answer binds is the answer's. A test cell binds the hidden tests' names, which the
        # student version never has: only its imports before the first read of an answer are bound for sure.
        stopped = bool(grader.get("solution"))
        found: set[str] = set()
        for text, node in statements:
            names = CellNames(text)
            order = _FirstUse()
            order.visit(parse_cell(text) or ast.parse(""))
            now = set(names.reads)
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                # Comprehensions and lambdas run now (a lambda in a loop, a dict comprehension of results):
                # what they read counts, and so does what a function defined inside a loop reads.
                now |= names.deferred
            elif isinstance(node, ast.ClassDef):  # its body runs now (class attributes, methods' defaults)
                now |= {n for n, how in order.first.items() if how == "load"} - {node.name}
            called = _closure(now & set(fn_reads), {f: fn_reads[f] & set(fn_reads) for f in fn_reads})
            dynamic = node is None or names.dynamic or "run_line_magic" in text or "run_cell_magic" in text
            if dynamic and tainted:
                unreadable.append(i)  # a magic or a dynamic read: what it reads and binds cannot be known
            # A name the statement binds before it reads it is its own (a loop variable), not the answer's.
            reads = {n for n in now & tainted if order.first.get(n) == "load"}
            reads |= set().union(*(fn_reads[f] for f in called)) & tainted
            reads |= tainted if dynamic else set()
            found |= reads
            stopped = stopped or bool(reads)
            # What may hold the same object, from this statement on (`for name, c in CORPORA.items()`).
            for name in names.binds:  # a name bound again no longer holds what it held
                for other in aliases.pop(name, set()):
                    aliases.get(other, set()).discard(name)
            if node is not None:  # only data can be shared: not a module, a builtin or a notebook function
                for a, b in _alias_edges(node):
                    if not {a, b} & (modules | BUILTINS | set(fn_reads)):
                        aliases.setdefault(a, set()).add(b)
                        aliases.setdefault(b, set()).add(a)
            if stopped or (grader.get("grade") and not isinstance(node, (ast.Import, ast.ImportFrom))):
                # Rebinding a name changes that name; changing an object changes every name that may hold it:
                # what the statement fills in, what the notebook functions it calls change, and what it hands
                # to an answer's function or class.
                changed = (names.mutates | _filled(node) | set().union(*(fn_effects[f] for f in called))
                           | _handed(node, mutating))
                tainted |= names.binds
                tainted |= _closure(changed - modules, aliases)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                tainted.discard(node.name)  # not the names it declares global: they change only when it is called
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom)):
                tainted -= names.binds
            for name, (body_reads, assigns) in names.functions.items():
                fn_reads[name] = body_reads
                fn_effects[name] = _function_effects(node) | assigns
        if found:
            readers.append((i, found))
    assert not unreadable, f"cells {unreadable} run a magic or read the namespace dynamically: the proof cannot read them"
    return readers


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=[p.name for p in STUDENT_NOTEBOOKS])
def test_uses_answers_tags_exactly_the_cells_that_read_an_answer(path):
    """The tag is the instructor's promise, the names each cell reads its proof, both ways: a cell that reads an
    answer without the tag would fail for a student with no warning (and, left out below, unnoticed), and a tag on
    a cell that reads none would excuse a failure the cell cannot have."""
    nb = nbformat.read(str(path), 4)
    graded = {i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("solution")
              or c.metadata.get("nbgrader", {}).get("grade")}
    readers = {i: sorted(names) for i, names in answer_tainted(path) if i not in graded}
    tagged = {i for i, c in enumerate(nb.cells) if USES_ANSWERS_TAG in c.metadata.get("tags", [])}
    assert tagged, f"no cell of {path.name} is tagged {USES_ANSWERS_TAG!r}: the proof below proves nothing"
    assert {i: readers[i] for i in set(readers) - tagged} == {}, f"read an answer, not tagged {USES_ANSWERS_TAG!r}"
    assert sorted(tagged - set(readers)) == [], f"tagged {USES_ANSWERS_TAG!r}, read no answer"


def _cell(source, **grader):
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": grader} if grader else {})


def test_the_taint_of_answers_follows_names_functions_and_rebinding(tmp_path):
    """The proof above on a notebook small enough to check by hand (the later cases from a review that tried to
    break it)."""
    nb = nbformat.v4.new_notebook(cells=[
        _cell("import numpy as np\ndata = np.ones(3)"),                     # 0
        _cell("def norm(v):\n    raise NotImplementedError()", solution=True, grade_id="q"),  # 1
        _cell("from math import sqrt\nassert norm(data) == sqrt(3)", grade=True, grade_id="q_tests"),  # 2
        _cell("result = norm(data)"),                                        # 3: reads norm
        _cell("shown = result * 2"),                                         # 4: computed from an answer
        _cell("def report():\n    return shown"),                            # 5: a function that reads one...
        _cell("report()"),                                                   # 6: ...read when it is called
        _cell("shown = 0"),                                                  # 7: rebinds it: clean again
        _cell("print(shown, sqrt, data)"),                                   # 8: sqrt, imported before the check
        _cell("early = data.sum()\nprint(norm(data))\nlate = 1"),            # 9: stops at norm: early ran
        _cell("print(early)"),                                               # 10: clean
        _cell("print(late)"),                                                # 11: the stub stopped it
        _cell("CORPORA = {'a': {}}"),                                        # 12
        _cell("for name, c in CORPORA.items():\n    c['ids'] = norm(data)"),  # 13: fills CORPORA through c
        _cell("print(CORPORA)"),                                             # 14
        _cell("def later():\n    return value"),                             # 15: defined before value is tainted
        _cell("value = norm(data)"),                                         # 16
        _cell("later()"),                                                    # 17
        _cell("if data.sum() > 5:\n    value = 1"),                          # 18: may not run: cleans nothing
        _cell("print(value)"),                                               # 19
        _cell("class Experiment:\n    size = norm(data)"),                   # 20: a class body runs now
        _cell("def fill(box):\n    box.append(1)", solution=True, grade_id="q2"),  # 21: changes its argument
        _cell("box = []"),                                                   # 22
        _cell("fill(box)"),                                                  # 23: the stub leaves box empty
        _cell("print(box)"),                                                 # 24
    ])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    assert answer_tainted(path) == [
        (2, {"norm"}), (3, {"norm"}), (4, {"result"}), (6, {"shown"}), (9, {"norm"}), (11, {"late"}),
        (13, {"norm"}), (14, {"CORPORA"}), (16, {"norm"}), (17, {"value"}), (19, {"value"}), (20, {"norm"}),
        (23, {"fill"}), (24, {"box"})]


def test_a_magic_after_an_answer_is_refused_not_guessed(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[_cell("def norm(v):\n    raise NotImplementedError()", solution=True,
                                               grade_id="q"),
                                         _cell("%time result = norm(3)"), _cell("print(result)")])
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    with pytest.raises(AssertionError, match=r"cells \[1\] run a magic"):
        answer_tainted(tmp_path / "nb.ipynb")


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=[p.name for p in STUDENT_NOTEBOOKS])
def test_student_notebook_runs_and_its_ungraded_cells_work(path, tmp_path, without_nbgrader, monkeypatch):
    # ipykernel forwards what is written to file descriptor 2 (C logs, subprocesses) only when it does not
    # inherit PYTEST_CURRENT_TEST: without it, the kernel sees what a student in JupyterLab would.
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    nb = nbformat.read(str(path), 4)
    skipped = left_out(path)
    for i, why in skipped.items():
        nb.cells[i].source = f"# [test] {why}"
    work = tmp_path / path.name  # run a copy: the repo's student notebooks stay output-free
    nbformat.write(nb, str(work))
    result = run_notebook(work, mode="fast", allow_errors=True, cell_timeout=300, env=without_nbgrader)
    unexpected = [(i, msg) for i, msg in result.errors if not _may_fail(result.notebook.cells[i])]
    assert not unexpected, f"ungraded cells failed: {unexpected}"
    stderr = [(i, out.text[:200]) for i, cell in enumerate(result.notebook.cells) if cell.cell_type == "code"
              for out in cell.outputs if out.get("output_type") == "stream" and out.get("name") == "stderr"]
    assert not stderr, f"cells wrote to stderr: {stderr}"
    if not any(_may_fail(c) for c in result.notebook.cells[1:]):
        assert result.errors == []
    errors = dict(result.errors)
    for i, cell in enumerate(result.notebook.cells):
        if cell.metadata.get("nbgrader", {}).get("grade"):  # a test cell: its public check answers
            assert errors.get(i, "").startswith("CheckFailed") and "NotImplementedError" in errors[i], (i, errors.get(i))
