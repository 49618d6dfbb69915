"""Who a submitted notebook belongs to: the `student` and `student_id` columns of grades.csv.

The student is read from the submission's path, in this order:

1. **Canvas** "Download Submissions" (all files in one folder):
   `<sortable name>_[LATE_]<user id>_<file id>_<uploaded name>`, for example
   `smithbob_LATE_12345_678901_Copy of 01_ngram_language_models.ipynb` is student
   `smithbob`, id `12345`, marked late. With anonymous grading the name is
   `[LATE_]anon_<anonymous id>_<file id>_<uploaded name>` (student `anon_<id>`).
   Source: Canvas's `ContentZipper` (`lib/content_zipper.rb`, `get_filename` and
   `add_upload_submission`): the name is the lower-cased sortable name with
   everything but letters, digits and `_` removed.
2. **Moodle** assignment "Download all submissions": the file
   `<Full Name>_<participant id>_assignsubmission_file_<uploaded name>`, or, with
   "download submissions in folders" (the default since Moodle 3.1), the folder
   `<Full Name>_<participant id>_assignsubmission_file[_]/<uploaded name>`. Moodle
   replaces `_` in names by spaces. With blind marking the name is `Participant`;
   for team submissions it is `<Group>-<Full Name>`.
   Source: Moodle's `mod/assign` `download_submissions` (`$prefix . '_' . $subtype . '_' . $type`).
3. **nbgrader**'s course directory: `submitted/<student>/<assignment>/<notebook>.ipynb`
   (also `autograded/` and `feedback/`).
4. A **name before the notebook's name** in the file name, once copy decorations
   are removed: `alice_01_ngram_language_models.ipynb` is `alice`.
5. The **folder**: `alice/Copy of 01_ngram_language_models.ipynb` is `alice`.

Copy decorations are not names: Colab's "Copy of" in the languages seen in
notebook names ("Copia de", "Copie de", "Kopie von", "Cópia de", "Copia di",
"Kopie van", "Kopia av", "Salinan dari", "Bản sao của", "Копия блокнота", "Kopia
notatnika", ...), repeated ("Copy of Copy of"), with spaces or underscores
(`Copy_of_…`, as GitHub copies save them), and the quotes some languages put
around the name (`Копия блокнота "…"`, `「…」的副本`). Decorations after the
notebook's name (" (1)", " - Copy", " copy 2", "-1", "-Copy1", "_ipynb의_사본",
" のコピー") never reach the name: what follows the notebook's name is not read.

Two rows of the same notebook never share a student silently: `unique_students`
names them apart (by the LMS id when the LMS gave distinct ids, else by their
path) and says so in each row's note and in a warning.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

#: Colab's "Copy of" (and Drive's), as it appears before a notebook's name, lower case.
COPY_PREFIXES = (
    "copy of", "copia de", "copie de", "kopie von", "cópia de", "copia di", "kopie van", "kopia av",
    "kopi af", "kopi av", "salinan dari", "salinan", "bản sao của", "копия блокнота", "копія блокнота",
    "копия", "копія", "kopia notatnika", "kopia", "kopie", "kopio", "copy",
)
_SEP = r"[\s_]+"
_COPY_WORDS = "|".join(_SEP.join(map(re.escape, p.split())) for p in sorted(COPY_PREFIXES, key=len, reverse=True))
_COPY = re.compile(r"^(?:" + _COPY_WORDS + r")(?=$|[\s_\"'“”„«»「」『』])", re.IGNORECASE)
#: What separates a decoration or a name from the notebook's name: spaces, _, -, dashes, dots and quotes.
_PUNCT = " \t_-–—.,;:\"'“”„«»「」『』()[]"

_CANVAS = re.compile(r"^(?P<name>[^\W_][\w]*?)(?P<late>_LATE)?_(?P<uid>\d+)_(?P<fid>\d+)_(?P<rest>.+)$")
_CANVAS_ANON = re.compile(r"^(?P<late>LATE_)?(?P<name>anon_[0-9A-Za-z]+)_(?P<fid>\d+)_(?P<rest>.+)$")
_MOODLE_FILE = re.compile(r"^(?P<name>[^_]+)_(?P<uid>\d+)_assignsubmission_[a-z]+_(?P<rest>.+)$")
_MOODLE_FOLDER = re.compile(r"^(?P<name>[^_]+)_(?P<uid>\d+)_assignsubmission_[a-z]+_?$")
_NBGRADER_ROOTS = ("submitted", "autograded", "feedback")


@dataclasses.dataclass(frozen=True)
class Submitter:
    """The student a submission belongs to.

    Attributes:
        student: the name for grades.csv (`smithbob`, `Alice Smith`, `alice`).
        student_id: the LMS's id of the student (Canvas user id, Moodle
            participant id), '' when the path has none.
        how: where the name came from: `canvas`, `moodle`, `nbgrader`,
            `file name` or `folder`.
        late: the LMS marked the submission late (Canvas's `LATE`).
        note: what the grader did about the name ('' if nothing), for the row's notes.
    """

    student: str
    student_id: str = ""
    how: str = "folder"
    late: bool = False
    note: str = ""


def strip_copy_decorations(text: str) -> str:
    """`text` without leading or trailing copy decorations, separators and quotes.

    `"Copy of Copy of "` -> `""`; `"Copia_de_"` -> `""`; `"alice - "` -> `"alice"`.
    """
    previous = None
    while text != previous:
        previous = text
        text = text.strip(_PUNCT)
        text = _COPY.sub("", text)
        low = text.lower()
        for p in COPY_PREFIXES:  # a trailing one: "alice_Copy of "
            for form in (p, p.replace(" ", "_")):
                if low.endswith(form) and (len(low) == len(form) or low[-len(form) - 1] in _PUNCT):
                    text = text[:-len(form)]
                    break
            else:
                continue
            break
    return text


def _notebook_at(stem: str, source_stem: str) -> int:
    """Where `source_stem` starts in `stem`, as a whole word (-1 if it is not there)."""
    low, src = stem.lower(), source_stem.lower()
    for m in re.finditer(re.escape(src), low):
        before = m.start() == 0 or not low[m.start() - 1].isalnum()
        after = m.end() == len(low) or not low[m.end()].isalnum()
        if before and after:
            return m.start()
    return -1


def submitter(submission: str | Path, source: str | Path | None = None) -> Submitter:
    """The student a submitted notebook belongs to, read from its path (see the module docstring).

    Args:
        submission: the submitted file's path.
        source: the instructor notebook it is graded against (its name tells
            where the notebook's name starts in the file name); None if unknown.

    Returns:
        A `Submitter`. Its `student` is never empty: a file at the root of the
        file system gets its own file name.
    """
    path = Path(submission)
    name = path.name[:-len(".ipynb")] if path.name.lower().endswith(".ipynb") else path.stem
    m = _CANVAS_ANON.match(name) or _CANVAS.match(name)
    if m:
        return Submitter(m.group("name"), m.groupdict().get("uid") or "", "canvas", bool(m.group("late")),
                         "Canvas marked this submission LATE" if m.group("late") else "")
    m = _MOODLE_FILE.match(name) or _MOODLE_FOLDER.match(path.parent.name)
    if m:
        return Submitter(m.group("name").strip(), m.group("uid"), "moodle")
    parts = path.parts
    if len(parts) >= 4 and parts[-4] in _NBGRADER_ROOTS:
        return Submitter(parts[-3], "", "nbgrader")
    if source is not None:
        at = _notebook_at(name, Path(source).stem)
        if at > 0:
            prefix = strip_copy_decorations(name[:at])
            if prefix:
                return Submitter(prefix, "", "file name")
    folder = path.parent.name or path.resolve().parent.name
    return Submitter(folder or name, "", "folder")


def _qualifier_paths(paths: list[Path]) -> list[str]:
    """Each path relative to the group's common folder ('' parts dropped), as posix text."""
    absolute = [os.path.abspath(p) for p in paths]
    try:
        common = os.path.commonpath(absolute)
    except ValueError:  # different drives
        common = ""
    out = []
    for a in absolute:
        rel = os.path.relpath(a, common) if common and a != common else os.path.basename(a)
        out.append(Path(rel).as_posix())
    return out


def unique_students(entries: list[tuple[str | Path, str | Path | None]]) -> tuple[list[Submitter], list[str]]:
    """The students of many submissions, never two rows of one notebook with the same student.

    Rows of the same notebook (the same source) whose students are equal
    (ignoring case) are named apart: `name (id)` when the LMS gave each a
    different id, else `name (path)` with the path relative to their common
    folder. Each such row gets a note; each such group gives one warning.

    Args:
        entries: `(submission, source)` pairs, source None when unknown.

    Returns:
        `(submitters, warnings)`: one `Submitter` per entry, in order, and the
        warnings (one line per group of rows that shared a student).
    """
    subs = [submitter(p, s) for p, s in entries]
    groups: dict[tuple[str, str], list[int]] = {}
    for i, ((_, src), sub) in enumerate(zip(entries, subs)):
        groups.setdefault((sub.student.casefold(), Path(src).name if src else ""), []).append(i)
    warnings = []
    for (_, notebook), rows in groups.items():
        if len(rows) < 2:
            continue
        name = subs[rows[0]].student
        ids = [subs[i].student_id for i in rows]
        if all(ids) and len(set(ids)) == len(ids):
            tags, by = ids, "their LMS ids"
        else:
            tags, by = _qualifier_paths([Path(entries[i][0]) for i in rows]), "their paths"
            if len(set(tags)) < len(tags):  # the same file given twice
                tags = [f"{t} #{k}" for k, t in enumerate(tags, 1)]
        what = f"of {notebook}" if notebook else "whose notebook is unknown"
        for i, tag in zip(rows, tags):
            qualified = f"{subs[i].student} ({tag})"
            note = (f"student {name!r} is shared by {len(rows)} submissions {what}; "
                    f"this row is {qualified!r}")
            subs[i] = dataclasses.replace(subs[i], student=qualified,
                                          note="; ".join(x for x in (subs[i].note, note) if x))
        advice = ("the LMS says they are different students" if by == "their LMS ids"
                  else "if they are one student's, decide which one counts")
        warnings.append(f"{len(rows)} submissions {what} would all be student {name!r} "
                        f"({', '.join(str(entries[i][0]) for i in rows[:4])}{' ...' if len(rows) > 4 else ''}); "
                        f"their rows are named apart by {by}: {advice}.")
    return subs, warnings
