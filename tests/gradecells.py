"""Run a solution notebook's graded cells outside Jupyter, to prove they reject wrong answers.

`answer_namespace` executes an answer cell (the instructor's solution) and returns its
definitions; `run_test_cell` executes a test cell, public part and hidden part, against a
namespace where the student's function may have been replaced by a wrong variant.
`AnswerCells` does the same for a whole notebook's answers and proves the verdicts in one place:
`passes` (the solution or a valid alternative), `rejects` (a wrong variant, three times) and
`unanswered_fail` (the untouched student version).
"""

from __future__ import annotations

import linecache
import re
from functools import lru_cache
from pathlib import Path

import nbformat

from rnn_course.assignment import MARKERS

ROOT = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=None)
def _cells(notebook: str) -> dict[str, str]:
    nb = nbformat.read(str(ROOT / "solutions" / notebook), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells if "grade_id" in c.metadata.get("nbgrader", {})}


def cell_source(notebook: str, grade_id: str, part: str = "all") -> str:
    """The source of a graded cell; `part="hidden"` keeps only the hidden tests,
    `part="public"` drops them."""
    source = _cells(notebook)[grade_id]
    begin, end = MARKERS["hidden"]
    pattern = re.escape(begin) + r"(.*?)" + re.escape(end)
    if part == "hidden":
        return "\n".join(re.findall(pattern, source, flags=re.S))
    if part == "public":
        return re.sub(pattern, "", source, flags=re.S)
    return source


def answer_namespace(notebook: str, grade_id: str, prelude: dict) -> dict:
    namespace = dict(prelude)
    exec(compile(cell_source(notebook, grade_id), f"<{grade_id}>", "exec"), namespace)
    return namespace


def run_test_cell(notebook: str, grade_id: str, namespace: dict, part: str = "all") -> None:
    """Executes the test cell `{grade_id}_tests` of the exercise `grade_id`."""
    test_id = f"{grade_id}_tests"
    exec(compile(cell_source(notebook, test_id, part), f"<{test_id}:{part}>", "exec"), dict(namespace))


def exec_cell(source: str, name: str, namespace: dict) -> None:
    """Runs a cell's source as IPython does: registered with linecache, so `inspect.getsource` works on it."""
    filename = f"<notebook cell {name} {abs(hash(source)):x}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)


class AnswerCells:
    """The answer cells of a solution notebook, run as a kernel runs them, for mutation tests.

    Args:
        notebook: the notebook's file name in solutions/.
        answers: the grade_ids of its answer cells, in notebook order.
        prelude: the imports the notebook's own cells give the answer cells.
    """

    def __init__(self, notebook: str, answers: tuple[str, ...], prelude: str):
        self.notebook, self.answers, self.prelude = notebook, tuple(answers), prelude
        self.sources = {grade_id: cell_source(notebook, grade_id) for grade_id in self.answers}

    def hidden_tests(self, grade_id: str) -> str:
        """The hidden part of `{grade_id}_tests` (which must have one)."""
        source = cell_source(self.notebook, f"{grade_id}_tests", part="hidden")
        assert source.strip(), f"{grade_id}_tests has no hidden tests"
        return source

    def run(self, **replaced: str) -> dict:
        """The notebook's namespace after its answer cells ran; `replaced` swaps in other answer-cell sources.

        Each cell is registered with linecache as IPython does, so `inspect.getsource` works on it.
        """
        namespace: dict = {"__name__": "__main__"}
        exec(self.prelude, namespace)
        for grade_id in self.answers:
            exec_cell(replaced.get(grade_id, self.sources[grade_id]), grade_id, namespace)
        return namespace

    def unanswered(self) -> dict[str, str]:
        """The answer cells of the untouched student notebook (notebooks/), each checked to be the stub."""
        student = nbformat.read(str(ROOT / "notebooks" / self.notebook), as_version=4)
        stubs = {c.metadata["nbgrader"]["grade_id"]: c.source for c in student.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
        assert set(stubs) == set(self.answers), (sorted(stubs), self.answers)
        assert all("raise NotImplementedError()" in s for s in stubs.values()), "an answer cell is not the stub"
        return stubs

    def test_cell(self, grade_id: str, namespace: dict) -> None:
        """The whole test cell `{grade_id}_tests`, public call and hidden tests, as the autograder runs it."""
        exec_cell(cell_source(self.notebook, f"{grade_id}_tests"), f"{grade_id}_tests", dict(namespace))

    def passes(self, grade_id: str, answer: str | None = None) -> None:
        """The whole test cell accepts `answer` (default: the solution's answer cell).

        The cell's first statement is the public check (`rnn-course assign` keeps it so), so this is
        the check's pass too; the caller reads the check's "✓" line from the output. The mutation
        tests call it for valid alternatives, not for the solution: the notebook runs of `make test`
        (nbval on TensorFlow, tests/notebooks/test_other_backends.py on JAX) pass the solution
        through these very test cells, and the alternatives are the harness's proof that a right
        answer passes.
        """
        replaced = {} if answer is None else {grade_id: answer}
        self.test_cell(grade_id, self.run(**replaced))

    def rejects(self, grade_id: str, wrong: str, run_check, hint: str, code: str, *, hidden: bool = True) -> None:
        """`wrong` is rejected three times: by the public check (a `CheckFailed` whose hint matches `hint` and
        ends with `[mistake: code]`), by the whole test cell, and (unless `hidden=False`) by the hidden tests alone."""
        import pytest

        from rnn_course.checks import CheckFailed

        with pytest.raises(CheckFailed, match=hint) as info:
            run_check(grade_id, self.run(**{grade_id: wrong}))
        assert info.value.code == code and str(info.value).endswith(f" [mistake: {code}]"), str(info.value)
        with pytest.raises(Exception):  # noqa: B017: any exception fails the test cell in nbgrader
            self.test_cell(grade_id, self.run(**{grade_id: wrong}))
        if hidden:
            with pytest.raises(Exception):  # noqa: B017: the hidden tests do not lean on the public check
                exec_cell(self.hidden_tests(grade_id), f"{grade_id}_tests hidden", self.run(**{grade_id: wrong}))

    def unanswered_fail(self, run_check) -> None:
        """Every check and test cell of the untouched student notebook fails, with the NotImplementedError verdict."""
        import pytest

        from rnn_course.checks import CheckFailed

        namespace = self.run(**self.unanswered())
        for grade_id in self.answers:
            with pytest.raises(CheckFailed, match="NotImplementedError") as info:
                run_check(grade_id, namespace)
            assert info.value.code == "NotImplementedError", str(info.value)
            with pytest.raises(Exception):  # noqa: B017
                self.test_cell(grade_id, namespace)

    def mutate(self, grade_id: str, edits) -> str:
        """The solution's answer cell with `edits` [(old, new), ...] applied; each `old` must occur exactly once."""
        source = self.sources[grade_id]
        for old, new in edits:
            count = source.count(old)
            assert count == 1, f"edit target found {count} times in {grade_id}: {old!r}"
            source = source.replace(old, new)
        return source
