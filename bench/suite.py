"""What each graded notebook costs the test suite, as a multiple of its own FAST run.

`make test` writes pytest's JUnit reports to `build/test-tf.xml` and `build/test-jax.xml`
(git-ignored). This script reads them and charges every test to a notebook:

- **FAST run (nbval)**: the notebook's cells under nbval (TensorFlow): the anchor, one
  execution of the notebook in FAST mode;
- **JAX run**: `tests/notebooks/test_other_backends.py` for that notebook;
- **student run**: `tests/notebooks/test_student_notebooks.py` (its student version);
- **grading run**: `tests/notebooks/test_gradescope_course.py` (one Gradescope grade); in the reports
  of the suite before issue 9, also each notebook's `test_grading_baselines.py` and
  `test_nbgrader_course.py` tests, so that the old reports can be charged the same way;
- **mutation tests**: `tests/test_checks_<topic>.py`, both passes, for the checks module
  the notebook imports (the wrong variants, run outside Jupyter);
- everything else is shared: the package's unit tests, the grader's tests on small fixture
  notebooks, one `nbgrader generate_assignment` over all graded notebooks (it executes nothing)
  and the real `nbgrader autograde` of notebook 01 alone (`test_nbgrader_course.py`'s
  unparametrized tests). These are fixed costs: a new notebook does not add to them, so they
  are charged to no notebook, 01 included.

It prints, per notebook, each part in seconds and the total as a multiple of the FAST run,
with and without the mutation tests. By default the FAST run is nbval's time for the
notebook's cells (without the kernel's start); `--fast-runs build/course.json` takes the
wall time of a whole FAST run instead (kernel start and setup included), as measured by
`python bench/course.py --modes fast --json build/course.json`.

It prints two tables. The first counts the tests' own times: with `-n 2` two tests run at
once, each on about one core, so they add up to about twice the wall time. The second
charges each notebook its share of `make test`'s wall time: every test's own time times its
report's wall time over the sum of that report's test times (the workers' average
parallelism). That is what the notebook adds to the suite's time if the workers stay as
busy without it; it is an attribution, not a run of the suite without the notebook. Issue
9's goal: a notebook costs the suite at most about 3x its FAST run. The issue counted the
executions of the notebook (about ten before it), so the column to hold to it is "runs only";
the mutation tests are shown beside it, since they too grow with each notebook.

Usage:
    make test && python bench/suite.py
    python bench/suite.py build/test-tf.xml build/test-jax.xml --fast-runs build/course.json
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = {"test_other_backends": "JAX run", "test_student_notebooks": "student run",
        "test_gradescope_course": "grading run",
        # Reports of the suite before issue 9 (commit 39593ff and older; its Makefile writes none: give
        # `make test-tf` and `make test-jax` PYTEST="... --junitxml=build/test-tf.xml"), which graded each
        # notebook seven times: the solution, the untouched version, a tampered copy and a wrong submission
        # by our grader, the instructor's, the untouched and the wrong one by `nbgrader autograde`.
        "test_grading_baselines": "grading run", "test_nbgrader_course": "grading run"}
PARTS = ["FAST run (nbval)", "JAX run", "student run", "grading run", "mutation tests"]


def checks_of_notebooks() -> dict[str, str]:
    """{checks module name: notebook stem}, from the solutions' `from rnn_course.checks import X` lines."""
    found = {}
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        for topic in re.findall(r"from rnn_course\.checks import (\w+)", text):
            found.setdefault(topic, path.stem)
    return found


def charge(reports: list[Path], *, wall_share: bool = False
           ) -> tuple[dict[str, dict[str, float]], float, dict[str, float]]:
    """Per notebook and part, the seconds; the shared seconds; each report's wall time.

    With `wall_share`, each test's seconds are scaled by its report's wall time over the sum of
    the report's test times: the test's share of the suite's wall time.
    """
    stems = [p.stem for p in sorted((ROOT / "solutions").glob("*.ipynb"))]
    topics = checks_of_notebooks()
    costs = {s: dict.fromkeys(PARTS, 0.0) for s in stems}
    shared, walls = 0.0, {}
    for report in reports:
        root = ET.parse(report).getroot()
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        walls[report.name] = sum(float(s.get("time", 0)) for s in suites)
        own = sum(float(case.get("time", 0)) for case in root.iter("testcase"))
        scale = walls[report.name] / own if wall_share and own else 1.0
        for case in root.iter("testcase"):
            cls, name = case.get("classname", ""), case.get("name", "")
            seconds = float(case.get("time", 0)) * scale
            module = cls.rsplit(".", 1)[-1]
            if cls.startswith("solutions.") and cls.endswith(".ipynb"):
                costs.setdefault(cls[len("solutions."):-len(".ipynb")], dict.fromkeys(PARTS, 0.0))
                costs[cls[len("solutions."):-len(".ipynb")]]["FAST run (nbval)"] += seconds
            elif module in RUNS and (stem := next((s for s in stems if f"[{s}" in name), None)):
                costs[stem][RUNS[module]] += seconds
            elif module.startswith("test_checks_") and module[len("test_checks_"):] in topics:
                costs[topics[module[len("test_checks_"):]]]["mutation tests"] += seconds
            else:
                shared += seconds
    return costs, shared, walls


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="*", type=Path,
                        default=[ROOT / "build" / "test-tf.xml", ROOT / "build" / "test-jax.xml"])
    parser.add_argument("--fast-runs", type=Path, metavar="course.json",
                        help="anchor on the whole FAST runs timed by bench/course.py --json, not on nbval's cells")
    args = parser.parse_args(argv)
    missing = [str(r) for r in args.reports if not r.is_file()]
    if missing:
        print(f"no JUnit report at {', '.join(missing)}; run `make test` first (it writes them).", file=sys.stderr)
        return 2
    costs, shared, walls = charge(args.reports)
    anchors = {stem: parts["FAST run (nbval)"] for stem, parts in costs.items()}
    label = "nbval's cells"
    if args.fast_runs:
        anchors.update(json.loads(args.fast_runs.read_text())["seconds"]["fast"])
        label = f"the whole FAST run ({args.fast_runs})"
    print(f"anchor: {label}")
    print("wall time per report: " + ", ".join(f"{k} {v:.0f} s" for k, v in walls.items()))
    print("\nthe tests' own times (two workers: they add up to about twice the wall time)")
    table(costs, anchors, shared)
    costs, shared, _ = charge(args.reports, wall_share=True)
    print("\nshare of make test's wall time (each test's time x its report's wall time / the sum of its test times)")
    table(costs, anchors, shared)
    return 0


def table(costs: dict[str, dict[str, float]], anchors: dict[str, float], shared: float) -> None:
    print(f"{'notebook':34s}" + "".join(f"{p:>18s}" for p in PARTS) + f"{'FAST run':>10s}{'x FAST':>9s}"
          f"{'x FAST, runs only':>19s}")
    for stem, parts in costs.items():
        fast, total = anchors[stem], sum(parts.values())
        runs = total - parts["mutation tests"]
        ratio = f"{total / fast:>9.1f}" if fast else f"{'-':>9s}"
        ratio_runs = f"{runs / fast:>19.1f}" if fast else f"{'-':>19s}"
        print(f"{stem:34s}" + "".join(f"{parts[p]:>17.1f}s" for p in PARTS) + f"{fast:>9.1f}s" + ratio + ratio_runs)
    graded = [stem for stem, parts in costs.items() if parts["grading run"] > 0]
    if graded:
        fast = sum(anchors[s] for s in graded)
        total = sum(sum(costs[s].values()) for s in graded)
        runs = total - sum(costs[s]["mutation tests"] for s in graded)
        print(f"graded notebooks together: {total:.0f} s for {fast:.0f} s of FAST runs: "
              f"{total / fast:.1f}x ({runs / fast:.1f}x counting only the notebook runs, not the mutation tests)")
    print(f"shared (unit tests, grader fixtures, nbgrader's generate for all and autograde of 01): {shared:.0f} s")


if __name__ == "__main__":
    raise SystemExit(main())
