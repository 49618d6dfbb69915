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
from pathlib import Path

import nbformat
import pytest

from rnn_course.assignment import USES_ANSWERS_TAG
from rnn_course.grading.audit import parse_cell
from rnn_course.grading.pruning import CellNames, skippable
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

    def _mark(self, name: str, how: str) -> None:
        self.first.setdefault(name, how)

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

    def visit_For(self, node):
        self.visit(node.iter)
        self.visit(node.target)
        for stmt in node.body + node.orelse:
            self.visit(stmt)

    def visit_FunctionDef(self, node):  # the body runs later; the defaults and decorators now
        for expr in node.decorator_list + node.args.defaults + [d for d in node.args.kw_defaults if d]:
            self.visit(expr)
        self._mark(node.name, "store")

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        for expr in node.decorator_list + node.bases:
            self.visit(expr)
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


#: Methods that put values into a container: `curves.append(h)` fills `curves`.
FILLING = frozenset({"append", "extend", "insert", "update", "setdefault", "add"})


def _filled(node) -> set[str]:
    """The names a statement fills in through a method of `FILLING` (all of them for an unreadable cell)."""
    if node is None:
        return set()
    return {sub.func.value.id for sub in ast.walk(node) if isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute) and sub.func.attr in FILLING and isinstance(sub.func.value, ast.Name)}


def answer_tainted(path: Path) -> list[tuple[int, set[str]]]:
    """(cell index, the tainted names it reads) for every code cell of `path` that reads one.

    Statement by statement, in the order the cells run: a name is tainted when an answer or test
    cell binds it; when a statement that reads a tainted name, or any statement after it in the
    same cell, binds it or fills it in (the value was computed from an answer, or the unanswered stub
    stopped the cell before it); or when it is a function or class whose body reads a tainted name (calling it
    runs the answer). A statement that binds a name before reading any tainted one cleans it.
    """
    cells = nbformat.read(str(path), 4).cells
    modules = set().union(*(CellNames(c.source).imported for c in cells if c.cell_type == "code"))
    tainted: set[str] = set()
    readers = []
    for i, cell in enumerate(cells):
        if cell.cell_type != "code":
            continue
        grader = cell.metadata.get("nbgrader", {})
        tree = parse_cell(cell.source)
        statements = [(cell.source, None)] if tree is None else [(ast.unparse(stmt), stmt) for stmt in tree.body]
        stopped = bool(grader.get("solution") or grader.get("grade"))  # everything it binds is the answer's
        found: set[str] = set()
        for text, node in statements:
            names = CellNames(text)
            functions = {f for f, (reads, _) in names.functions.items() if reads & tainted}
            order = _FirstUse()
            order.visit(parse_cell(text) or ast.parse(""))
            now = names.reads
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                # Comprehensions and lambdas run now (a lambda in a loop, a dict comprehension of results):
                # what they read counts, and so does what a function defined inside a loop reads.
                now = now | names.deferred
            # A name the statement binds before it reads it is its own (a loop variable), not the answer's.
            reads = {n for n in now & tainted if order.first.get(n) != "store"}
            found |= reads
            stopped = stopped or bool(reads)
            if stopped:  # what it binds, and the data it fills in (results[key] = ..., curves.append(...))
                tainted |= (names.binds - (names.imported if grader.get("grade") else set())
                            | (names.mutates | _filled(node)) - modules)
            else:
                tainted = (tainted - names.binds) | functions
        if found:
            readers.append((i, found))
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


def test_the_taint_of_answers_follows_names_functions_and_rebinding(tmp_path):
    """The proof above on a notebook small enough to check by hand."""
    def code(source, **grader):
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": grader} if grader else {})

    nb = nbformat.v4.new_notebook(cells=[
        code("import numpy as np\ndata = np.ones(3)"),                       # 0
        code("def norm(v):\n    raise NotImplementedError()", solution=True, grade_id="q"),  # 1
        code("from math import sqrt\nassert norm(data) == sqrt(3)", grade=True, grade_id="q_tests"),  # 2
        code("result = norm(data)"),                                          # 3: reads norm
        code("shown = result * 2"),                                           # 4: computed from an answer
        code("def report():\n    return shown"),                              # 5: a function that reads one
        code("report()"),                                                     # 6: calls it
        code("shown = 0"),                                                    # 7: rebinds it: clean again
        code("print(shown, sqrt, data)"),                                     # 8: sqrt is the test's import
        code("early = data.sum()\nprint(norm(data))\nlate = 1"),              # 9: stops at norm: early ran
        code("print(early)"),                                                 # 10: clean
        code("print(late)"),                                                  # 11: the stub stopped it
    ])
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    assert answer_tainted(path) == [(2, {"norm"}), (3, {"norm"}), (4, {"result"}), (6, {"report"}), (9, {"norm"}),
                                    (11, {"late"})]


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=[p.name for p in STUDENT_NOTEBOOKS])
def test_student_notebook_runs_and_its_ungraded_cells_work(path, tmp_path, without_nbgrader):
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
