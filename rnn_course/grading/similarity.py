"""Answer similarity across a class (`rnn-course similarity`): leads for a human, never a verdict.

    rnn-course similarity SUBMISSION.ipynb [more ...] [--threshold 0.6] [--top 20] [--json pairs.json]

Compares only what students wrote: the answer cells (nbgrader `solution: true`)
and the code cells they added, with the instructor's starter code removed (every
line of the student version of the source notebook in `solutions/`: stubs,
signatures, docstrings, locked and test cells; and every k-gram of it, as
copydetect's boilerplate). The fingerprints are copydetect's
(https://github.com/blingenf/copydetect, after MOSS: Schleimer, Wilkerson and
Aiken, "Winnowing: local algorithms for document fingerprinting", SIGMOD 2003):
the code is tokenised by pygments with every name replaced by one letter, so
renamed variables do not hide a copy, and winnowed k-grams match wherever they
are, so reordered functions do not either.

A pair's similarity is the share of each side's fingerprinted code that the other
contains (copydetect's `similarities`); pairs are ranked by the smaller of the
two, so that a short answer contained in a long one does not rank as a copy of it.
Short, canonical answers (a one-line `get_config`) are written the same way by
students who never met: read the matching lines before concluding anything.
"""

from __future__ import annotations

import bisect
import dataclasses
import io
import json
import re
from pathlib import Path

from rnn_course.grading.errors import GradingError, SubmissionRejected

#: Noise threshold (copydetect's `noise_t`): matches shorter than this many filtered characters are ignored.
NOISE = 25
#: Guarantee threshold (copydetect's `guarantee_t`): matches at least this long are always found.
GUARANTEE = 30
#: Pairs at or above this similarity (the smaller side's share) are reported (see `docs/grading.md`).
DEFAULT_THRESHOLD = 0.6
DISCLAIMER = ("Similarity is a lead for a human to read, not a verdict: students who never met write short, "
              "canonical answers the same way, and a shared source (the lecture, a tutorial) makes answers alike. "
              "Read the matching lines, and the rest of both notebooks, before concluding anything.")
_STUB = re.compile(r"^\s*raise\s+NotImplementedError\s*(\(\s*\))?\s*$")
_MARKER = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")
_SPACE = re.compile(r"\s+")


@dataclasses.dataclass
class StudentCode:
    """What one student wrote in one notebook, starter code removed.

    Attributes:
        submission: the notebook file.
        notebook: the source notebook's name.
        text: the kept lines, one cell after another (what is fingerprinted).
        origins: for each line of `text`, `(cell label, line number in that cell)`.
        skipped: why the submission is not compared (None when it is).
    """

    submission: Path
    notebook: str
    text: str = ""
    origins: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    skipped: str | None = None


@dataclasses.dataclass
class Pair:
    """Two submissions whose code overlaps, with the overlapping lines aligned.

    Attributes:
        a, b: the two `StudentCode`s.
        similarity_a, similarity_b: the share of each side's fingerprinted code found in the other (0..1).
        tokens: the number of overlapping filtered characters on `a`'s side.
        blocks: aligned matches, `((a_first, a_last), (b_first, b_last))`, 0-based line indices of `text`.
    """

    a: StudentCode
    b: StudentCode
    similarity_a: float
    similarity_b: float
    tokens: int
    blocks: list[tuple[tuple[int, int], tuple[int, int]]]

    @property
    def similarity(self) -> float:
        """The smaller side's share: how much of each answer is shared at least."""
        return min(self.similarity_a, self.similarity_b)


# ---------------------------------------------------------------------- extraction
def _squash(line: str) -> str:
    """A line without any whitespace: a starter line re-spaced is still the starter's."""
    return _SPACE.sub("", line)


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


class Starter:
    """The instructor's starter code of one source notebook: what every student received."""

    def __init__(self, source_path: str | Path):
        from rnn_course.grading.restore import ANSWER, load_source

        self.path = Path(source_path)
        src = load_source(self.path)
        self.name = src.name
        self.answer_ids = {c.grade_id for c in src.cells if c.role == ANSWER}
        self.ids = {c.grade_id for c in src.cells}
        texts = [c.student_source for c in src.cells if c.cell_type == "code"]
        texts += [c.source for c in src.cells if c.cell_type == "code" and c.role != ANSWER]
        texts += [t for _, t in src.plain_code]
        self.cell_texts = {_norm(t) for t in texts}
        self.lines = {_squash(line) for t in texts for line in t.splitlines() if line.strip()}
        self.text = "\n".join(texts)


def student_code(submission: str | Path, starter: Starter) -> StudentCode:
    """The code a student wrote in a submission: answer cells and added code cells, starter lines removed.

    A cell is the student's if it is an answer cell (by its nbgrader `grade_id`)
    or a code cell without a source `grade_id` whose text is not one of the
    instructor's cells. Of those cells, a line is kept unless it is a line of
    the instructor's starter code (compared without indentation) or the
    unanswered stub `raise NotImplementedError()`.

    Returns:
        A `StudentCode`; `skipped` says why when the file is not a readable
        notebook or holds no code of the student's.
    """
    from rnn_course.grading.restore import read_notebook

    path = Path(submission)
    code = StudentCode(submission=path, notebook=starter.name)
    try:
        nb, _ = read_notebook(path)
    except SubmissionRejected as err:
        code.skipped = str(err).strip().splitlines()[0] if str(err).strip() else "not a readable notebook"
        return code
    kept: list[str] = []
    last = "the top"
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader")
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if gid in starter.ids and gid not in starter.answer_ids:
            last = gid
            continue
        if gid in starter.answer_ids:
            label = gid
            last = gid
        else:
            if _norm(cell.source) in starter.cell_texts:
                continue
            label = f"a cell added after {last}"
        for n, line in enumerate(cell.source.splitlines(), 1):
            if not line.strip() or _squash(line) in starter.lines or _STUB.match(line) or _MARKER.match(line):
                continue
            kept.append(line)
            code.origins.append((label, n))
    code.text = "\n".join(kept) + ("\n" if kept else "")
    if not kept:
        code.skipped = "no code of the student's: every answer is the starter code (an untouched notebook?)"
    return code


# ---------------------------------------------------------------------- comparison
def _fingerprint(text: str, boilerplate=None, window: int | None = None):
    from copydetect import CodeFingerprint

    return CodeFingerprint("answers.py", NOISE, window or (GUARANTEE - NOISE + 1), boilerplate=boilerplate,
                           fp=io.StringIO(text))


def _raw_positions(fp, positions):
    """copydetect's mapping from filtered-code positions to positions in the raw text."""
    import numpy as np

    positions = np.asarray(positions, dtype=np.int64)
    if len(fp.offsets) == 0:
        return positions
    at = np.clip(np.searchsorted(fp.offsets[:, 0], positions), 0, fp.offsets.shape[0] - 1)
    return positions + fp.offsets[:, 1][at]


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    return starts


def _blocks(fp_a, fp_b, starts_a, starts_b, k: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Aligned line ranges of the k-grams two fingerprints share, merged where they run on together."""
    spans = []
    for h in fp_a.hashes & fp_b.hashes:
        pa, pb = fp_a.hash_idx[h][0], fp_b.hash_idx[h][0]
        ra = _raw_positions(fp_a, [pa, pa + k - 1])
        rb = _raw_positions(fp_b, [pb, pb + k - 1])
        la = (bisect.bisect_right(starts_a, int(ra[0])) - 1, bisect.bisect_right(starts_a, int(ra[1])) - 1)
        lb = (bisect.bisect_right(starts_b, int(rb[0])) - 1, bisect.bisect_right(starts_b, int(rb[1])) - 1)
        spans.append((la, lb))
    spans.sort()
    merged: list[list[list[int]]] = []
    for la, lb in spans:
        if merged:
            (a0, a1), (b0, b1) = merged[-1]
            if la[0] <= a1 + 1 and b0 - 2 <= lb[0] <= b1 + 1:
                merged[-1] = [[a0, max(a1, la[1])], [min(b0, lb[0]), max(b1, lb[1])]]
                continue
        merged.append([list(la), list(lb)])
    return [((a0, a1), (b0, b1)) for (a0, a1), (b0, b1) in merged]


def compare(codes: list[StudentCode], starter_text: str = "", *, threshold: float = DEFAULT_THRESHOLD
            ) -> list[Pair]:
    """Every pair of comparable submissions whose similarity (the smaller side's share) is >= `threshold`.

    Args:
        codes: the students' code, of one notebook (`student_code`); skipped ones are ignored.
        starter_text: the instructor's starter code; its k-grams are boilerplate (never a match).
        threshold: 0..1.

    Returns:
        The pairs, most similar first (ties: more overlapping code first).

    Raises:
        GradingError: `threshold` is not in [0, 1].
    """
    import numpy as np

    if not 0.0 <= threshold <= 1.0:
        raise GradingError(f"threshold={threshold!r}; expected a share between 0 and 1 (e.g. 0.6).")
    boilerplate = None
    if starter_text.strip():
        boilerplate = np.array(sorted(_fingerprint(starter_text, window=1).hashes), dtype=np.int64)
    usable = [c for c in codes if c.skipped is None]
    prints = []
    for c in usable:
        fp = _fingerprint(c.text, boilerplate)
        if fp.token_coverage == 0 or not fp.hashes:
            c.skipped = "too little code of the student's to compare (shorter than the noise threshold)"
        else:
            prints.append((c, fp))
    index: dict[int, list[int]] = {}
    for i, (_, fp) in enumerate(prints):
        for h in fp.hashes:
            index.setdefault(h, []).append(i)
    candidates: set[tuple[int, int]] = set()
    for owners in index.values():
        if len(owners) > 1:
            candidates.update((owners[x], owners[y]) for x in range(len(owners)) for y in range(x + 1, len(owners)))
    from copydetect.detector import compare_files

    pairs = []
    starts = {}
    for i, j in sorted(candidates):
        (ca, fa), (cb, fb) = prints[i], prints[j]
        if threshold > 0:
            # A cheap upper bound first: every overlapping character lies in a shared k-gram occurrence.
            shared = fa.hashes & fb.hashes
            bound_a = NOISE * sum(len(fa.hash_idx[h]) for h in shared) / fa.token_coverage
            bound_b = NOISE * sum(len(fb.hash_idx[h]) for h in shared) / fb.token_coverage
            if min(bound_a, bound_b) < threshold:
                continue
        tokens, (sa, sb), _ = compare_files(fa, fb)
        if min(sa, sb) < threshold or tokens == 0:
            continue
        for c in (ca, cb):
            if id(c) not in starts:
                starts[id(c)] = _line_starts(c.text)
        blocks = _blocks(fa, fb, starts[id(ca)], starts[id(cb)], NOISE)
        pairs.append(Pair(ca, cb, float(min(sa, 1.0)), float(min(sb, 1.0)), int(tokens), blocks))
    pairs.sort(key=lambda p: (-p.similarity, -p.tokens, str(p.a.submission), str(p.b.submission)))
    return pairs


# ---------------------------------------------------------------------- output
def _clip(text: str, width: int) -> str:
    text = text.replace("\t", "    ").rstrip()
    return text if len(text) <= width else text[: width - 1] + "…"


def _indent(lines: list[str]) -> int:
    """The indentation common to these lines (removed when they are shown side by side)."""
    widths = [len(x) - len(x.lstrip()) for x in lines if x.strip()]
    return min(widths, default=0)


def format_pairs(pairs: list[Pair], *, top: int | None = 20, width: int = 60, max_lines: int = 12) -> str:
    """The pairs as text: ranked, each with its matching lines side by side."""
    out = [DISCLAIMER, ""]
    if not pairs:
        out.append("No pair reaches the threshold.")
        return "\n".join(out)
    shown = pairs if top is None else pairs[:top]
    for rank, p in enumerate(shown, 1):
        out.append(f"#{rank}  {100 * p.similarity:.0f}% similar (shares {100 * p.similarity_a:.0f}% of A and "
                   f"{100 * p.similarity_b:.0f}% of B; {p.tokens} matching characters of filtered code)")
        out.append(f"    A: {p.a.submission}")
        out.append(f"    B: {p.b.submission}")
        a_lines, b_lines = p.a.text.splitlines(), p.b.text.splitlines()
        printed = 0
        for (a0, a1), (b0, b1) in p.blocks:
            if printed >= max_lines:
                out.append(f"    ... ({len(p.blocks)} matching blocks in all)")
                break
            la, lb = p.a.origins[a0], p.b.origins[b0]
            out.append(f"    {'A: ' + la[0] + f', line {la[1]}':<{width}} │ B: {lb[0]}, line {lb[1]}")
            rows = max(a1 - a0, b1 - b0) + 1
            count = min(rows, max_lines - printed)
            cut_a, cut_b = _indent(a_lines[a0:min(a1 + 1, a0 + count)]), _indent(b_lines[b0:min(b1 + 1, b0 + count)])
            for r in range(count):
                left = a_lines[a0 + r][cut_a:] if a0 + r <= a1 else ""
                right = b_lines[b0 + r][cut_b:] if b0 + r <= b1 else ""
                out.append(f"    {_clip(left, width):<{width}} │ {_clip(right, width)}")
            if count < rows:
                out.append(f"    ... ({rows - count} more matching line(s) here; --json lists them all)")
            printed += rows
        out.append("")
    if len(pairs) > len(shown):
        out.append(f"({len(pairs) - len(shown)} more pair(s) above the threshold; --top 0 shows all)")
    return "\n".join(out)


def pairs_json(pairs: list[Pair], skipped: list[StudentCode], threshold: float) -> dict:
    """The pairs as JSON-ready data (with the matching lines), and the submissions not compared."""
    def lines(code, first, last):
        return [{"cell": code.origins[i][0], "line": code.origins[i][1], "text": code.text.splitlines()[i]}
                for i in range(first, last + 1)]
    return {"disclaimer": DISCLAIMER, "threshold": threshold, "k": NOISE, "window": GUARANTEE - NOISE + 1,
            "pairs": [{"a": str(p.a.submission), "b": str(p.b.submission), "similarity": round(p.similarity, 4),
                       "similarity_a": round(p.similarity_a, 4), "similarity_b": round(p.similarity_b, 4),
                       "matching_characters": p.tokens,
                       "blocks": [{"a": lines(p.a, *ba), "b": lines(p.b, *bb)} for ba, bb in p.blocks]}
                      for p in pairs],
            "not_compared": [{"submission": str(c.submission), "why": c.skipped} for c in skipped]}


def similarity_report(paths: list[str | Path], *, source_path: str | Path | None = None,
                      solutions_dir: str | Path | None = None, threshold: float = DEFAULT_THRESHOLD
                      ) -> tuple[list[Pair], list[StudentCode]]:
    """Compares the submissions of each notebook with each other.

    Args:
        paths: submitted `.ipynb` files (of one or several notebooks; each is
            compared only with submissions of its own notebook).
        source_path: the instructor notebook (default: found in `solutions/` by file name).
        solutions_dir: where to look for sources.
        threshold: report pairs whose similarity is at least this (0..1).

    Returns:
        `(pairs, skipped)`: the pairs of every notebook, most similar first; the
        submissions that were not compared, each with `skipped` saying why.

    Raises:
        GradingError: no paths, a missing file, a bad threshold, or a source
            that cannot be found or read.
    """
    from rnn_course.grading.grader import find_source

    paths = [Path(p) for p in paths]
    if not paths:
        raise GradingError("no submissions given; expected .ipynb files.")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise GradingError(f"no such submission file: {', '.join(missing[:3])}"
                           f"{' ...' if len(missing) > 3 else ''}; expected .ipynb files.")
    if not 0.0 <= threshold <= 1.0:
        raise GradingError(f"--threshold {threshold!r}; expected a share between 0 and 1 (e.g. 0.6).")
    starters: dict[Path, Starter] = {}
    groups: dict[Path, list[StudentCode]] = {}
    skipped: list[StudentCode] = []
    for p in paths:
        try:
            src = Path(source_path) if source_path else find_source(p, solutions_dir)
        except GradingError as err:
            skipped.append(StudentCode(p, "", skipped=str(err).splitlines()[0]))
            continue
        if src not in starters:
            starters[src] = Starter(src)
        groups.setdefault(src, []).append(student_code(p, starters[src]))
    pairs: list[Pair] = []
    for src, codes in groups.items():
        pairs += compare(codes, starters[src].text, threshold=threshold)
        skipped += [c for c in codes if c.skipped]
    pairs.sort(key=lambda p: (-p.similarity, -p.tokens))
    return pairs, skipped


def write_json(path: str | Path, data: dict) -> Path:
    from rnn_course.grading.results import write_atomic

    return write_atomic(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
