"""Reading notebooks and restoring a submission from its instructor source.

Before a submission runs, the grader rebuilds it from two inputs:

- the **source** (the instructor notebook in `solutions/`), which supplies every
  locked cell and every test cell, hidden tests included, by `grade_id`;
- the **submission**, which supplies only the answer cells (`solution: true`)
  and any cells the student added.

Cells run in the source's order. A cell the student added runs right after the
graded cell it followed in the submission. A deleted test or locked cell is put
back; a deleted answer cell comes back as the unanswered stub (nbgrader's
`ClearSolutions`), never as the solution. Cells whose nbgrader metadata was lost
(a cell re-created by hand, an editor that drops metadata) are matched by their
text (locked and test cells); answers by what they define (the last cell between
the neighbouring matched cells that defines every top-level name of the answer's
stub), else by their place (the only unmatched cell there). A student's own code
is never replaced by the stub: when no cell matches an answer, its stub runs only
if no cell the student added defines one of its names.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import re
import warnings
from pathlib import Path

import nbformat

from rnn_course.grading.errors import GradingError, SubmissionRejected

HIDDEN_REGION = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S)

#: The tag an instructor puts on a plain code cell that no answer or test depends on (a training run,
#: a plot): the grader may skip it (`pruning`).
EXPERIMENT_TAG = "experiment"

#: Roles of the cells of a restored notebook.
LOCKED, ANSWER, GRADE, MANUAL, FREE, STUDENT, GUARD = (
    "locked", "answer", "grade", "manual", "free", "student", "guard")


@dataclasses.dataclass
class SourceCell:
    """One nbgrader cell of the instructor notebook.

    Attributes:
        position: index among the source's nbgrader cells (its order).
        grade_id: the cell's nbgrader `grade_id`.
        role: `locked`, `answer`, `grade` (autograded test), `manual`
            (graded by hand) or `free` (has an id but is neither locked nor an answer).
        cell_type: `code` or `markdown`.
        source: the instructor's text (solutions and hidden tests included).
        student_source: the text nbgrader gives students (stubs, no hidden tests).
        points: the cell's points (grade cells only).
        hidden: True if the cell has a `### BEGIN HIDDEN TESTS` region.
    """

    position: int
    grade_id: str
    role: str
    cell_type: str
    source: str
    student_source: str
    points: float = 0.0
    hidden: bool = False


@dataclasses.dataclass
class SourceNotebook:
    """An instructor notebook, indexed by `grade_id`."""

    path: Path
    cells: list[SourceCell]
    #: The source's code cells without nbgrader metadata, as `(n, text)`: `n` nbgrader cells come before it.
    #: Students may edit these cells; the grader re-runs their imports before later test cells.
    plain_code: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    #: The texts of the plain code cells the instructor tagged `experiment` (`EXPERIMENT_TAG`): no
    #: answer or test depends on them, so the grader may skip them (`pruning`).
    experiments: list[str] = dataclasses.field(default_factory=list)

    def plain_imports_before(self, position: int) -> list[str]:
        """The top-level imports of the plain code cells before the nbgrader cell at `position`."""
        from rnn_course.grading.audit import top_level_imports

        return [stmt for n, text in self.plain_code if n <= position for stmt in top_level_imports(text)]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def by_id(self) -> dict[str, SourceCell]:
        return {c.grade_id: c for c in self.cells}

    @property
    def grade_cells(self) -> list[SourceCell]:
        return [c for c in self.cells if c.role == GRADE]

    @property
    def max_score(self) -> float:
        return float(sum(c.points for c in self.grade_cells))


@dataclasses.dataclass
class PlanCell:
    """One cell of the restored notebook that the grader runs.

    Attributes:
        role: see the module constants (`locked`, `answer`, `grade`, `student`, `guard`, ...).
        cell_type: `code` or `markdown`.
        source: the text that runs.
        grade_id: the nbgrader id (None for student-added and guard cells).
        origin: `instructor`, `submission` or `stub` (a missing answer).
        points: points of a grade cell.
        hidden: True for a grade cell with hidden tests.
    """

    role: str
    cell_type: str
    source: str
    grade_id: str | None = None
    origin: str = "submission"
    points: float = 0.0
    hidden: bool = False


def _nbgrader_meta(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def _role(meta: dict, cell_type: str) -> str:
    grade, solution = bool(meta.get("grade")), bool(meta.get("solution"))
    if grade and solution:
        return MANUAL
    if grade:
        return GRADE if cell_type == "code" else LOCKED
    if solution:
        return ANSWER
    if meta.get("locked") or meta.get("task"):
        return LOCKED
    return FREE


def _student_sources(nb) -> list[str]:
    """The student text of every cell, made by nbgrader's own preprocessors."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions

    student = nbformat.from_dict(copy.deepcopy(nb))
    student.metadata.setdefault("kernelspec", {}).setdefault("language", "python")
    resources: dict = {}
    for pre in (ClearSolutions, ClearHiddenTests, ClearMarkScheme):
        student, resources = pre().preprocess(student, resources)
    return [cell.source for cell in student.cells]


def _read_json(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise SubmissionRejected(f"{path.name} is not a text file (byte {err.start} is not UTF-8); "
                                 "expected a Jupyter notebook (.ipynb, JSON).") from None
    if not text.strip():
        raise SubmissionRejected(f"{path.name} is empty; expected a Jupyter notebook (.ipynb, JSON).")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SubmissionRejected(
            f"{path.name} is not valid JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
            "expected a Jupyter notebook saved by Jupyter or Colab.") from None
    if not isinstance(data, dict) or "nbformat" not in data:
        kind = type(data).__name__ if not isinstance(data, dict) else "JSON object without 'nbformat'"
        raise SubmissionRejected(f"{path.name} is JSON but not a notebook (got a {kind}); "
                                 "expected a Jupyter notebook with 'nbformat' and 'cells'.")
    return data


def read_notebook(path: str | Path, *, what: str = "submission"):
    """Reads a notebook as nbformat 4, upgrading nbformat 3.

    Args:
        path: the `.ipynb` file.
        what: `submission` or `source`, for the error messages.

    Returns:
        `(notebook, notes)`: an nbformat 4 `NotebookNode` and a list of notes
        (for example that it was upgraded from nbformat 3).

    Raises:
        SubmissionRejected: the file is not a readable notebook.
    """
    path = Path(path)
    data = _read_json(path)
    major = data.get("nbformat")
    notes = []
    if major == 3:
        if not isinstance(data.get("worksheets"), list):
            raise SubmissionRejected(f"{path.name} says nbformat 3 but has no 'worksheets' list.")
        notes.append(f"{path.name} is in nbformat 3; it was upgraded to nbformat 4 before grading")
    elif major == 4:
        if not isinstance(data.get("cells"), list):
            raise SubmissionRejected(f"{path.name} says nbformat 4 but has no 'cells' list.")
    else:
        raise SubmissionRejected(f"{path.name} has nbformat {major!r}; expected 4 (or 3, which is upgraded).")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nb = nbformat.reads(json.dumps(data), as_version=4, capture_validation_error={})
    except Exception as err:
        raise SubmissionRejected(f"{path.name} is not a valid notebook ({type(err).__name__}: "
                                 f"{str(err).splitlines()[0][:200]}).") from None
    for i, cell in enumerate(nb.cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise SubmissionRejected(f"{path.name}: cell {i} has no valid cell_type; "
                                     "expected 'code', 'markdown' or 'raw'.")
        if not isinstance(cell.get("source", ""), str):
            raise SubmissionRejected(f"{path.name}: cell {i} has a source of type "
                                     f"{type(cell.get('source')).__name__}; expected text.")
        cell.setdefault("source", "")
        cell.setdefault("metadata", {})
    return nb, notes


def load_source(path: str | Path) -> SourceNotebook:
    """Reads and checks an instructor notebook.

    Raises:
        GradingError: the file is missing or unreadable, has duplicate
            `grade_id`s, or a grade cell without numeric points.
    """
    path = Path(path)
    if not path.is_file():
        raise GradingError(f"source notebook {path} does not exist; expected an instructor notebook "
                           "from solutions/ (pass --source).")
    try:
        nb, _ = read_notebook(path, what="source")
    except SubmissionRejected as err:
        raise GradingError(f"source notebook {path}: {err}") from None
    try:
        students = _student_sources(nb)
    except Exception as err:
        raise GradingError(f"source notebook {path}: nbgrader could not make its student version "
                           f"({type(err).__name__}: {err}).") from None
    cells, seen, plain, experiments = [], {}, [], []
    for i, cell in enumerate(nb.cells):
        meta = _nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if not meta or not gid:
            if cell.cell_type == "code" and cell.source.strip():
                plain.append((len(cells), cell.source))
                if EXPERIMENT_TAG in (cell.get("metadata", {}).get("tags") or []):
                    experiments.append(cell.source)
            continue
        if gid in seen:
            raise GradingError(f"source notebook {path}: grade_id {gid!r} is used by cells {seen[gid]} and {i}; "
                               "expected every grade_id once.")
        seen[gid] = i
        role = _role(meta, cell.cell_type)
        points = 0.0
        if meta.get("grade"):
            try:
                points = float(meta.get("points"))
            except (TypeError, ValueError):
                raise GradingError(f"source notebook {path}: grade cell {gid!r} has points="
                                   f"{meta.get('points')!r}; expected a number.") from None
        cells.append(SourceCell(
            position=len(cells), grade_id=gid, role=role, cell_type=cell.cell_type, source=cell.source,
            student_source=students[i], points=points,
            hidden="### BEGIN HIDDEN TESTS" in cell.source))
    if not any(c.role == GRADE for c in cells):
        raise GradingError(f"source notebook {path} has no autograded test cells (nbgrader grade: true, "
                           "solution: false); expected an instructor notebook from solutions/.")
    return SourceNotebook(path=path, cells=cells, plain_code=plain, experiments=experiments)


def same_text(a: str, b: str) -> bool:
    """True if two cell texts are equal but for trailing spaces and blank lines at either end."""
    return "\n".join(line.rstrip() for line in a.strip().splitlines()) == \
        "\n".join(line.rstrip() for line in b.strip().splitlines())


def restore(source: SourceNotebook, submission) -> tuple[list[PlanCell], list[str]]:
    """Rebuilds a submission around the source's locked and test cells.

    Args:
        source: the instructor notebook.
        submission: the student's notebook (nbformat 4).

    Returns:
        `(plan, notes)`: the cells to run, in order, and one-line notes on
        everything the grader changed.

    Raises:
        SubmissionRejected: the submission belongs to another notebook (none of
            its graded cells is in the source).
    """
    by_id = source.by_id
    sub_cells = list(submission.cells)
    assigned: dict[int, SourceCell] = {}     # submission index -> source cell
    taken: dict[str, int] = {}               # grade_id -> submission index
    notes: list[str] = []
    unknown_ids, duplicate_ids = [], []
    for i, cell in enumerate(sub_cells):
        gid = _nbgrader_meta(cell).get("grade_id")
        if not gid:
            continue
        if gid not in by_id:
            unknown_ids.append(str(gid))
        elif gid in taken:
            duplicate_ids.append(str(gid))
        else:
            taken[gid] = i
            assigned[i] = by_id[gid]
    submitted_ids = bool(taken or unknown_ids or duplicate_ids)

    # Cells whose metadata was lost: locked and test cells by their text.
    free_idx = [i for i, c in enumerate(sub_cells) if i not in assigned and not _nbgrader_meta(c).get("grade_id")]
    by_content = 0
    for sc in source.cells:
        if sc.grade_id in taken or sc.role not in (LOCKED, GRADE):
            continue
        for i in free_idx:
            cell = sub_cells[i]
            if i not in assigned and cell.cell_type == sc.cell_type and same_text(cell.source, sc.student_source):
                assigned[i], taken[sc.grade_id] = sc, i
                by_content += 1
                break

    def window(sc: SourceCell) -> tuple[int, int, int, int]:
        """The submission indices (lo, hi) of the matched cells around `sc`, and their source positions."""
        anchors = sorted((by_id[gid].position, i) for gid, i in taken.items())
        before = [a for a in anchors if a[0] < sc.position]
        after = [a for a in anchors if a[0] > sc.position]
        p_lo, lo = before[-1] if before else (-1, -1)
        p_hi, hi = after[0] if after else (len(source.cells), len(sub_cells))
        return lo, hi, p_lo, p_hi

    # ... answers by what they define: the last orphan between the neighbouring matched cells that
    # defines every top-level name of the answer's stub (a student's code must never lose to the stub) ...
    plain_texts = [text for _, text in source.plain_code]
    orphan_names = {i: defined_names(c.source) for i, c in enumerate(sub_cells)
                    if c.cell_type == "code" and i not in assigned and not _nbgrader_meta(c).get("grade_id")
                    and not any(same_text(c.source, t) for t in plain_texts)}
    by_names = 0
    named_notes: list[str] = []
    for sc in source.cells:
        if sc.grade_id in taken or sc.role not in (ANSWER, MANUAL) or sc.cell_type != "code":
            continue
        names = stub_names(sc)
        lo, hi, _, _ = window(sc)
        candidates = [i for i in range(lo + 1, hi) if i not in assigned and names
                      and names <= orphan_names.get(i, set())]
        if candidates:
            assigned[candidates[-1]], taken[sc.grade_id] = sc, candidates[-1]
            by_names += 1
            named_notes.append(f"the {_kind(sc)} {sc.grade_id} had lost its nbgrader metadata; it was matched "
                               f"by the names it defines ({', '.join(sorted(names))})")
    # ... and answers by their place between matched cells.
    by_place = 0
    answerish = (ANSWER, MANUAL, FREE)
    for sc in source.cells:
        if sc.grade_id in taken or sc.role not in answerish:
            continue
        lo, hi, p_lo, p_hi = window(sc)
        if lo >= hi:
            continue
        rivals = [c for c in source.cells if p_lo < c.position < p_hi and c.grade_id not in taken
                  and c.role in answerish and c.cell_type == sc.cell_type]
        candidates = [i for i in range(lo + 1, hi) if i not in assigned and sub_cells[i].cell_type == sc.cell_type
                      and not _nbgrader_meta(sub_cells[i]).get("grade_id")
                      and not any(same_text(sub_cells[i].source, t) for t in plain_texts)]
        if len(candidates) == 1 and len(rivals) == 1:
            assigned[candidates[0]], taken[sc.grade_id] = sc, candidates[0]
            by_place += 1

    if not any(sc.role in (ANSWER, GRADE) for sc in assigned.values()):
        if submitted_ids:
            shown = ", ".join(sorted(set(unknown_ids))[:4]) or "none"
            raise SubmissionRejected(
                f"wrong notebook: none of its answer or test cells belongs to {source.name} (its grade_ids: "
                f"{shown}); expected the student copy of {source.name}.")
        raise SubmissionRejected(
            f"no cell of this notebook matches {source.name}: it has no nbgrader metadata and none of "
            f"its cells is a test or answer of {source.name}; expected the student copy of {source.name}.")
    if by_content or by_place or by_names:
        notes.append(f"{by_content + by_names + by_place} cell(s) had lost their nbgrader metadata and were "
                     f"matched by their text ({by_content}), the names they define ({by_names}) or their place "
                     f"({by_place})")
        notes += named_notes
    if duplicate_ids:
        notes.append("duplicated cell(s) with grade_id " + ", ".join(sorted(set(duplicate_ids)))
                     + ": the first copy counts, the others run as ordinary cells")
    if unknown_ids:
        notes.append(f"{len(unknown_ids)} cell(s) with grade_ids unknown to {source.name} "
                     f"({', '.join(sorted(set(unknown_ids))[:3])}) run as ordinary cells")
    positions = [assigned[i].position for i in sorted(assigned)]
    if positions != sorted(positions):
        notes.append("graded cells were out of order; they run in the instructor's order")

    # Anchor every other cell after the matched cell it followed.
    extras: dict[int | None, list[PlanCell]] = {}
    anchor: int | None = None
    for i, cell in enumerate(sub_cells):
        if i in assigned:
            anchor = assigned[i].position
            continue
        if cell.cell_type not in ("code", "markdown"):
            continue
        extras.setdefault(anchor, []).append(PlanCell(role=STUDENT, cell_type=cell.cell_type, source=cell.source))

    extras_at = {i: names for i, names in orphan_names.items() if i not in assigned and names}
    plan = list(extras.get(None, []))
    for sc in source.cells:
        i = taken.get(sc.grade_id)
        sub = sub_cells[i] if i is not None else None
        if sc.role in (LOCKED, GRADE):
            if sub is None:
                notes.append(f"restored the missing {_kind(sc)} {sc.grade_id}")
            elif sub.cell_type != sc.cell_type or not (same_text(sub.source, sc.student_source)
                                                        or same_text(sub.source, sc.source)):
                notes.append(f"restored the {_kind(sc)} {sc.grade_id} from the instructor's copy "
                             "(the submitted one had been edited)")
            plan.append(PlanCell(role=sc.role, cell_type=sc.cell_type, source=sc.source, grade_id=sc.grade_id,
                                 origin="instructor", points=sc.points, hidden=sc.hidden))
        else:
            if sub is None:
                names = stub_names(sc) if sc.role != FREE else set()
                mine = sorted(i for i in extras_at if names & extras_at[i])
                if mine:
                    # The student defines (some of) these names in a cell of their own: never overwrite it.
                    notes.append(f"the {_kind(sc)} {sc.grade_id} was missing; no stub runs for it because a cell "
                                 f"you added defines {', '.join(sorted(names & extras_at[mine[-1]]))}")
                    plan.extend(extras.get(sc.position, []))
                    continue
                if sc.role != FREE:
                    notes.append(f"the {_kind(sc)} {sc.grade_id} was missing; it runs as the unanswered stub")
                text, origin = (sc.student_source if sc.role != FREE else sc.source), "stub"
            else:
                text, origin = sub.source, "submission"
                if sub.cell_type != sc.cell_type:
                    notes.append(f"the {_kind(sc)} {sc.grade_id} was turned into {sub.cell_type}; "
                                 f"it runs as {sc.cell_type} again")
            plan.append(PlanCell(role=sc.role, cell_type=sc.cell_type, source=text, grade_id=sc.grade_id,
                                 origin=origin, points=sc.points, hidden=sc.hidden))
        plan.extend(extras.get(sc.position, []))
    return plan, notes


def defined_names(source: str) -> set[str]:
    """The names a code cell binds at its top level: functions, classes, assignments and imports.

    Cells that are not valid Python (IPython syntax is allowed) define nothing.
    """
    from rnn_course.grading.audit import parse_cell

    tree = parse_cell(source)
    names: set[str] = set()
    if tree is None:
        return names

    def targets(node):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                targets(elt)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                targets(t)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)) and getattr(node, "value", None) is not None:
            targets(node.target)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name.split(".")[0]) for a in node.names if a.name != "*")
    return names


def stub_names(sc: SourceCell) -> set[str]:
    """What an answer cell must define: the top-level names of its stub (else of the solution)."""
    return defined_names(sc.student_source) or defined_names(sc.source)


def _kind(sc: SourceCell) -> str:
    return {LOCKED: "locked cell", GRADE: "test cell", ANSWER: "answer cell",
            MANUAL: "hand-graded answer", FREE: "cell"}[sc.role]
