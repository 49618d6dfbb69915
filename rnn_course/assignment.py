"""Student notebooks from instructor notebooks, with nbgrader's own preprocessors.

`solutions/NN_topic.ipynb` is the one hand-edited source of each notebook.
`generate_student_notebook` runs the preprocessors that `nbgrader
generate_assignment` runs, in the same order, minus the two that need an nbgrader
course database (SaveCells) or a header file (IncludeHeaderFooter):

    LockCells -> ClearSolutions -> ClearOutput -> CheckCellMetadata -> ComputeChecksums
    -> ClearHiddenTests -> ClearMarkScheme -> ComputeChecksums -> CheckCellMetadata

`assign()` writes `notebooks/`; `assign(check=True)` writes nothing and fails if
`notebooks/` is stale or if solution or hidden-test text leaked into it.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import nbformat

from rnn_course.errors import NotebookFormatError
from rnn_course import notebook as _notebook

NB_VERSION = 4
GRADE_ID = re.compile(r"^[a-z0-9][a-z0-9_]*$")
MARKERS = {
    "solution": ("### BEGIN SOLUTION", "### END SOLUTION"),
    "hidden": ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
}
#: Tag for ungraded cells that use a student's answer, so an unanswered
#: student notebook may fail there (the test of notebooks/ allows it).
USES_ANSWERS_TAG = "uses-answers"


def repo_root(start: Path | None = None) -> Path:
    """The course checkout that holds `solutions/` (searched upwards from `start` or the cwd)."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "solutions").is_dir() and (folder / "pyproject.toml").exists():
            return folder
    raise NotebookFormatError(
        f"No course checkout found at or above {start}. Expected a folder with solutions/ and "
        "pyproject.toml (run the command from the repository)."
    )


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def read_notebook(path: Path):
    try:
        return nbformat.read(str(path), as_version=NB_VERSION)
    except Exception as err:  # nbformat raises several kinds for broken JSON
        raise NotebookFormatError(f"{path}: not a readable Jupyter notebook ({type(err).__name__}: {err}).") from None


# ------------------------------------------------------------------ validation
def validate_source(nb, name: str = "notebook") -> None:
    """Checks an instructor notebook's nbgrader metadata and course conventions.

    Raises:
        NotebookFormatError: naming the notebook, the cell and what is expected.
    """
    from nbgrader.nbgraderformat import ValidationError
    from nbgrader.nbgraderformat.v3 import MetadataValidatorV3

    def fail(msg):
        raise NotebookFormatError(f"{name}: {msg}")

    if not nb.cells:
        fail("has no cells. Expected the locked setup cell first.")
    for i, cell in enumerate(nb.cells):
        meta = _meta(cell)
        if meta and meta.get("schema_version") != 3:
            fail(f"cell {i} has nbgrader schema_version {meta.get('schema_version')!r}. Expected 3.")
    try:
        MetadataValidatorV3().validate_nb(nb)
    except ValidationError as err:
        fail(f"nbgrader metadata is invalid: {str(err).splitlines()[0]}")

    first = nb.cells[0]
    if (first.cell_type != "code" or not _meta(first).get("locked")
            or (_notebook.setup_cell_source(first.source) is None and first.source != _notebook.LEGACY_SETUP_CELL)):
        fail("cell 0 must be the locked setup cell, rnn_course.notebook.setup_cell() verbatim (`rnn-course assign` "
             "writes it from course.toml).")

    ids = {}
    for i, cell in enumerate(nb.cells):
        meta = _meta(cell)
        gid = meta.get("grade_id")
        where = f"cell {i} ({gid!r})" if gid else f"cell {i}"
        for kind, (begin, end) in MARKERS.items():
            n_begin, n_end = cell.source.count(begin), cell.source.count(end)
            if n_begin != n_end:
                fail(f"{where} has {n_begin} '{begin}' but {n_end} '{end}'. Expected them in pairs.")
            if n_begin and kind == "solution" and not meta.get("solution"):
                fail(f"{where} has '{begin}' but is not a solution cell. Expected nbgrader solution: true.")
            if n_begin and kind == "hidden" and not meta.get("grade"):
                fail(f"{where} has '{begin}' but is not a grade cell. Expected nbgrader grade: true.")
        if gid is None:
            continue
        if not GRADE_ID.match(gid):
            fail(f"{where} has grade_id {gid!r}. Expected lowercase letters, digits and '_', like 'q2_1_rnn_cell'.")
        ids[gid] = i
        if meta.get("grade"):
            points = meta.get("points")
            if not isinstance(points, (int, float)) or points <= 0:
                fail(f"grade cell {gid!r} has points={points!r}. Expected a positive number.")
    for gid, i in ids.items():
        meta = _meta(nb.cells[i])
        if meta.get("solution") and not meta.get("grade") and nb.cells[i].cell_type == "code":
            if f"{gid}_tests" not in ids:
                fail(f"answer cell {gid!r} has no test cell. Expected a grade cell with grade_id '{gid}_tests'.")
    problem = result_problem_in_test_cells(nb)
    if problem:
        fail(problem)


# ------------------------------------------------------------------ test cells end without a result
#: Where the public checks live: a test cell may end with a call to one of their `check_*` functions.
CHECKS_PACKAGE = "rnn_course.checks"


def _python(source: str) -> str:
    """A cell's source as plain Python (IPython's magics and shell escapes translated)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with nbgrader
        return source
    return TransformerManager().transform_cell(source)


def _dotted(node) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id] + parts[::-1])


def _import_aliases(tree) -> dict[str, str]:
    """The names that top-level imports bind, and the dotted module or object each stands for."""
    aliases = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            for a in stmt.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    head = a.name.split(".")[0]
                    aliases[head] = head
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
            for a in stmt.names:
                aliases[a.asname or a.name] = f"{stmt.module}.{a.name}"
    return aliases


def _public_checks(module: str) -> set[str]:
    """The `check_*` functions a module of `rnn_course.checks` defines (read from its file, not imported)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return set()
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return set()
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    names = {s.name for s in tree.body if isinstance(s, ast.FunctionDef)}
    names |= {t.id for s in tree.body if isinstance(s, ast.Assign) for t in s.targets if isinstance(t, ast.Name)}
    return {n for n in names if n.startswith("check_")}


def _is_public_check_call(expr: ast.expr, aliases: dict[str, str]) -> bool:
    if not isinstance(expr, ast.Call):
        return False
    name = _dotted(expr.func)
    if name is None:
        return False
    head, _, rest = name.partition(".")
    full = aliases.get(head, head) + (f".{rest}" if rest else "")
    module, _, func = full.rpartition(".")
    return ((module == CHECKS_PACKAGE or module.startswith(CHECKS_PACKAGE + "."))
            and func.startswith("check_") and func in _public_checks(module))


def result_problem_in_test_cells(nb) -> str:
    """Why a test cell of `nb` may display a result ('' if none may).

    nbgrader and `rnn-course grade` both read a number that a test cell
    displays as its result as the cell's partial credit, but nbgrader reads
    only what `float()` parses: `np.float64(0.0)`, a wrong answer, earns full
    marks there and 0 in our grader. So that the two routes cannot disagree on
    the course's notebooks, a test cell must not end with a bare expression,
    except a call to a public check (`checks.check_perplexity(perplexity)`),
    which returns None. Both the instructor's cell and the students' copy of it
    (hidden tests removed) are read.

    Returns:
        One line naming the cell, the expression and the fix, or ''.
    """
    aliases: dict[str, str] = {}
    begin, end = MARKERS["hidden"]
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = _meta(cell)
        versions = [("", cell.source)]
        if begin in cell.source:
            visible = re.sub(re.escape(begin) + r".*?" + re.escape(end), "", cell.source, flags=re.S)
            versions.append((" in the students' copy (hidden tests removed)", visible))
        for where, text in versions:
            try:
                tree = ast.parse(_python(text))
            except SyntaxError as err:
                if meta.get("grade") and not meta.get("solution"):
                    return (f"test cell {meta.get('grade_id')!r} (cell {i}){where} is not valid Python "
                            f"({err.msg}, line {err.lineno}). Expected a test cell that runs.")
                break
            if not where:
                aliases.update(_import_aliases(tree))
            if not (meta.get("grade") and not meta.get("solution")) or not tree.body:
                continue
            last = tree.body[-1]
            if isinstance(last, ast.Expr) and not _is_public_check_call(last.value, {**aliases,
                                                                                     **_import_aliases(tree)}):
                shown = ast.unparse(last.value)
                shown = shown if len(shown) <= 60 else shown[:57] + "..."
                return (f"test cell {meta.get('grade_id')!r} (cell {i}){where} ends with the bare expression "
                        f"`{shown}`, whose value nbgrader would read as partial credit (and misread: "
                        "np.float64(0.0) earns full marks there). Expected a test cell that ends with a statement "
                        f"(an assert, an assignment `_ = ...`) or with a call to a public check of {CHECKS_PACKAGE} "
                        "(`checks.check_...(answer)`).")
    return ""


# ------------------------------------------------------------------ generation
def generate_student_notebook(nb):
    """The student version of an instructor notebook (a new notebook; `nb` is untouched)."""
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearHiddenTests,
        ClearMarkScheme,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
    )

    nb = nbformat.from_dict(nbformat.from_dict(nb))  # deep copy
    resources: dict = {}
    for pre in (LockCells, ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums,
                ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata):
        nb, resources = pre().preprocess(nb, resources)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:  # run timestamps of the instructor's last run: noise in every regeneration
        cell.metadata.pop("execution", None)
    return nb


def _regions(source: str, begin: str, end: str) -> list[str]:
    return re.findall(re.escape(begin) + r"(.*?)" + re.escape(end), source, flags=re.S)


def secret_lines(nb) -> set[str]:
    """Lines that occur only inside solution or hidden-test regions of `nb`.

    Such a line in a student notebook means the answer (or a hidden test) leaked.
    """
    inside, outside = set(), set()
    for cell in nb.cells:
        text = cell.source
        for begin, end in MARKERS.values():
            for region in _regions(text, begin, end):
                inside.update(line.strip() for line in region.splitlines())
                text = text.replace(region, "\n")
        outside.update(line.strip() for line in text.splitlines())
    return {line for line in inside - outside if len(line) >= 12 and not line.startswith("#")}


def leaks(student_nb, source_nb) -> list[str]:
    """What of `source_nb`'s solutions or hidden tests appears in `student_nb`."""
    found = []
    secrets = secret_lines(source_nb)
    for i, cell in enumerate(student_nb.cells):
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            if marker in cell.source:
                found.append(f"cell {i} contains the marker '{marker}'")
        for line in cell.source.splitlines():
            if line.strip() in secrets:
                found.append(f"cell {i} contains solution/hidden-test text: {line.strip()[:60]!r}")
    return found


def _dumps(nb) -> str:
    return nbformat.writes(nb) + "\n"


# ------------------------------------------------------------------ cells written from course.toml
def sync_setup(nb, settings, notebook: str) -> list[str]:
    """Writes the cells that `course.toml` decides into an instructor notebook, in place.

    Cell 0 becomes `setup_cell(settings.install)`; the markdown cell right after it, tagged
    `colab-link`, holds the "Open in Colab" link of `notebooks/<notebook>` (it is added when a
    repository is configured and removed when none is). Outputs and ids of existing cells are kept.

    Args:
        nb: the instructor notebook (cell 0 must already be a setup cell, see `validate_source`).
        settings: `rnn_course.notebook.ColabSettings` (from `load_settings`).
        notebook: the notebook's file name, e.g. `01_ngram_language_models.ipynb`.

    Returns:
        What changed (`["setup cell", "Colab link"]`), empty if the notebook was already current.
    """
    changed = []
    cell = _notebook.setup_cell(settings.install)
    if nb.cells[0].source != cell:
        nb.cells[0].source = cell
        changed.append("setup cell")
    links = [i for i, c in enumerate(nb.cells) if _notebook.COLAB_LINK_TAG in c.metadata.get("tags", [])]
    text = settings.link_cell(notebook)
    if text and links == [1] and nb.cells[1].cell_type == "markdown":
        if nb.cells[1].source != text:
            nb.cells[1].source = text
            changed.append("Colab link")
        return changed
    for i in reversed(links):
        del nb.cells[i]
    if text:
        nb.cells.insert(1, nbformat.v4.new_markdown_cell(text, metadata={"tags": [_notebook.COLAB_LINK_TAG]}))
    if links or text:
        changed.append("Colab link")
    return changed


#: The README table that lists the notebooks; its last column holds the "Open in Colab" links.
README_TABLE_HEADER = "| nb | topic | status | Colab |"


def sync_readme(text: str, settings, student_notebooks: list[str]) -> str:
    """`text` (README.md) with the Colab column of its notebook table written from `settings`.

    A row `| NN | ... |` gets `[Open in Colab](...)` when `notebooks/NN_*.ipynb` exists and a
    repository is configured, else `–`. Text without the table comes back unchanged.
    """
    lines = text.split("\n")
    try:
        start = lines.index(README_TABLE_HEADER)
    except ValueError:
        return text
    by_number = {name[:2]: name for name in student_notebooks}
    columns = README_TABLE_HEADER.count("|")
    for i in range(start + 2, len(lines)):
        number = re.match(r"\| (\d\d) \|", lines[i])
        if not number or lines[i].count("|") not in (columns - 1, columns):
            break
        if lines[i].count("|") == columns - 1:  # a row written without the Colab column
            lines[i] += " – |"
        url = settings.colab_url(by_number[number[1]]) if number[1] in by_number else ""
        lines[i] = lines[i][:lines[i].rstrip(" |").rindex("|")] + f"| {f'[Open in Colab]({url})' if url else '–'} |"
    return "\n".join(lines)


@dataclasses.dataclass
class AssignReport:
    written: list[str]
    stale: list[str]
    leaked: list[str]
    orphans: list[str]
    #: Solutions (and README.md) whose cells written from course.toml are not current (a failure).
    unsynced: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.stale or self.leaked or self.orphans or self.unsynced)


def assign(root: Path | None = None, *, check: bool = False, names: list[str] | None = None) -> AssignReport:
    """Generates `notebooks/` from `solutions/` (or, with `check=True`, verifies it).

    First it writes what `course.toml` decides into the solutions (`sync_setup`: the setup cell
    with its install source, the "Open in Colab" link cell) and into README.md's notebook table
    (`sync_readme`); with `check=True` it reports those that are not current instead.

    Args:
        root: the repository root (found from the cwd by default).
        check: write nothing; report stale, leaking or orphaned student notebooks.
        names: restrict to these notebook file names.
    """
    root = repo_root(root)
    settings = _notebook.load_settings(root)
    sources = sorted((root / "solutions").glob("*.ipynb"))
    every_source = sources
    if names:
        sources = [p for p in sources if p.name in names or p.stem in names]
    out_dir = root / "notebooks"
    report = AssignReport([], [], [], [])
    # A solution that still holds the setup cell from before course.toml (which installed a package
    # named rnn-course from PyPI on Colab) is accepted by validate_source so that this command can
    # migrate it, and is STALE for `--check` like any other out-of-date setup cell.
    for src in sources:
        nb = read_notebook(src)
        validate_source(nb, name=str(src.relative_to(root)))
        if check:
            pending = sync_setup(nbformat.from_dict(nbformat.from_dict(nb)), settings, src.name)
            if pending:
                report.unsynced.append(f"{src.relative_to(root)}: its {' and '.join(pending)} "
                                       f"{'is' if len(pending) == 1 else 'are'} not what {_notebook.CONFIG_FILE} gives")
        elif sync_setup(nb, settings, src.name):
            src.write_text(_dumps(nb))
            report.written.append(str(src.relative_to(root)))
        student = generate_student_notebook(nb)
        target = out_dir / src.name
        text = _dumps(student)
        if check:
            if not target.exists() or target.read_text() != text:
                report.stale.append(str(target.relative_to(root)))
            if target.exists():
                report.leaked += [f"{target.relative_to(root)}: {m}"
                                  for m in leaks(read_notebook(target), nb)]
        else:
            out_dir.mkdir(exist_ok=True)
            target.write_text(text)
            report.written.append(str(target.relative_to(root)))
    if not names:
        source_names = {p.name for p in sources}
        report.orphans = [f"notebooks/{p.name}" for p in sorted(out_dir.glob("*.ipynb"))
                          if p.name not in source_names]
    readme = root / "README.md"
    if readme.exists():
        text = readme.read_text(encoding="utf-8")
        synced = sync_readme(text, settings, [p.name for p in every_source])
        if synced != text and check:
            report.unsynced.append(f"README.md: its Colab links are not what {_notebook.CONFIG_FILE} gives")
        elif synced != text:
            readme.write_text(synced, encoding="utf-8")
            report.written.append("README.md")
    return report
