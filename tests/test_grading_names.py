"""Who a submission belongs to: the student column of grades.csv (rnn_course/grading/naming.py).

The cases are the names real downloads have: Colab's "Copy of" in its languages,
operating-system copy suffixes, Canvas's and Moodle's bulk downloads (all files
in one folder), nbgrader's course directory. No kernel runs here.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from rnn_course.grading import grade_many
from rnn_course.grading.batch import write_csv
from rnn_course.grading.naming import strip_copy_decorations, submitter, unique_students
from rnn_course.grading.results import GradeResult, TestResult

NB = "01_ngram_language_models"
SOURCE = Path("solutions") / f"{NB}.ipynb"


@pytest.mark.parametrize("path, student, student_id", [
    # per-student folders: the decoration is not a name
    (f"subs/alice/Copy of {NB}.ipynb", "alice", ""),
    (f"subs/bob/Copy of Copy of {NB}.ipynb", "bob", ""),
    (f"subs/carl/Copy_of_{NB}.ipynb", "carl", ""),
    (f"subs/dora/Copia de {NB}.ipynb", "dora", ""),
    (f"subs/emil/Copie de {NB}.ipynb", "emil", ""),
    (f"subs/fritz/Kopie von {NB}.ipynb", "fritz", ""),
    (f"subs/gil/Cópia de {NB}.ipynb", "gil", ""),
    (f"subs/hana/Copia di {NB}.ipynb", "hana", ""),
    (f"subs/ivan/Копия блокнота \"{NB}.ipynb\".ipynb", "ivan", ""),
    (f"subs/jan/Kopie van {NB}.ipynb", "jan", ""),
    (f"subs/kai/Salinan dari {NB}.ipynb", "kai", ""),
    (f"subs/lan/Bản sao của {NB}.ipynb", "lan", ""),
    (f"subs/mei/「{NB}」的副本.ipynb", "mei", ""),
    (f"subs/nam/{NB}_ipynb의_사본.ipynb", "nam", ""),
    (f"subs/oda/{NB}.ipynb のコピー.ipynb", "oda", ""),
    # operating-system copy suffixes
    (f"subs/pia/{NB} (1).ipynb", "pia", ""),
    (f"subs/quin/{NB} - Copy.ipynb", "quin", ""),
    (f"subs/rosa/{NB} copy 2.ipynb", "rosa", ""),
    (f"subs/sam/{NB}-1.ipynb", "sam", ""),
    (f"subs/tom/{NB}-Copy1.ipynb", "tom", ""),
    # a name before the notebook's name
    (f"subs/alice_{NB}.ipynb", "alice", ""),
    (f"subs/Alice Smith - Copy of {NB}.ipynb", "Alice Smith", ""),
    (f"subs/Copy of alice_{NB}.ipynb", "alice", ""),
    # Canvas (one folder): lastfirst_[LATE_]userid_fileid_uploaded name; anonymous grading
    (f"subs/smithbob_12345_678901_Copy of {NB}.ipynb", "smithbob", "12345"),
    (f"subs/smithbob_LATE_12345_678901_{NB}-1.ipynb", "smithbob", "12345"),
    (f"subs/anon_x7Kq2_678901_{NB}.ipynb", "anon_x7Kq2", ""),
    (f"subs/LATE_anon_x7Kq2_678901_{NB}.ipynb", "anon_x7Kq2", ""),
    # Moodle: one folder, or folders (with and without the trailing "_", Moodle < 4 and >= 4)
    (f"subs/Alice Smith_4321_assignsubmission_file_{NB}.ipynb", "Alice Smith", "4321"),
    (f"subs/Alice Smith_4321_assignsubmission_file_/Copy of {NB}.ipynb", "Alice Smith", "4321"),
    (f"subs/Team A-Alice Smith_4321_assignsubmission_file/{NB}.ipynb", "Team A-Alice Smith", "4321"),
    # nbgrader's course directory
    (f"course/submitted/alice/ps1/{NB}.ipynb", "alice", ""),
])
def test_the_student_comes_from_the_lms_the_file_name_or_the_folder(path, student, student_id):
    who = submitter(path, SOURCE)
    assert (who.student, who.student_id) == (student, student_id), who


def test_canvas_late_mark_is_kept_as_a_note():
    who = submitter(f"subs/smithbob_LATE_12345_678901_{NB}.ipynb", SOURCE)
    assert who.late and who.how == "canvas" and "LATE" in who.note
    assert not submitter(f"subs/smithbob_12345_678901_{NB}.ipynb", SOURCE).late


@pytest.mark.parametrize("text, rest", [
    ("Copy of ", ""), ("Copy of Copy of ", ""), ("Copia_de_", ""), ("copy of copy of alice - ", "alice"),
    ("alice_Copy of ", "alice"), ("Copyright Holder_", "Copyright Holder"), ("Kopiak ", "Kopiak"),
])
def test_copy_decorations_are_stripped_and_names_kept(text, rest):
    assert strip_copy_decorations(text) == rest


def _result(path, source=SOURCE, score=1.0):
    return GradeResult(submission=Path(path), source=source, score=score, max_score=11.0,
                       tests=[TestResult("q1_1_count_ngrams_tests", score, 2.0, "passed")])


def _rows(results, tmp_path):
    out = write_csv(results, tmp_path / "grades.csv")
    return list(csv.DictReader(out.open(encoding="utf-8")))


def test_two_students_with_copy_of_files_get_their_folders_not_copy_of(tmp_path):
    rows = _rows([_result(f"alice/Copy of {NB}.ipynb"), _result(f"bob/Copy of {NB}.ipynb")], tmp_path)
    assert [r["student"] for r in rows] == ["alice", "bob"]
    assert all(r["notes"] == "" for r in rows)


def test_rows_that_would_share_a_student_are_named_apart_with_a_note(tmp_path):
    results = [_result(f"subs/alice/{NB}.ipynb"), _result(f"subs/alice/Copy of {NB}.ipynb"),
               _result(f"subs/alice/02_rnn_language_models.ipynb", Path("solutions/02_rnn_language_models.ipynb")),
               _result(f"subs/Participant_11_assignsubmission_file_{NB}.ipynb"),
               _result(f"subs/Participant_12_assignsubmission_file_{NB}.ipynb")]
    rows = _rows(results, tmp_path)
    students = [r["student"] for r in rows]
    assert students == [f"alice ({NB}.ipynb)", f"alice (Copy of {NB}.ipynb)", "alice",  # another notebook
                        "Participant (11)", "Participant (12)"]
    assert [r["student_id"] for r in rows] == ["", "", "", "11", "12"]
    assert "student 'alice' is shared by 2 submissions" in rows[0]["notes"] and rows[2]["notes"] == ""
    pairs = [(r["student"].casefold(), r["notebook"]) for r in rows]
    assert len(set(pairs)) == len(pairs)
    _, warnings = unique_students([(r.submission, r.source) for r in results])
    assert len(warnings) == 2
    assert "if they are one student's, decide which one counts" in warnings[0]
    assert "the LMS says they are different students" in warnings[1]


def test_the_same_file_twice_still_gets_two_names():
    subs, warnings = unique_students([(f"alice/{NB}.ipynb", SOURCE), (f"alice/{NB}.ipynb", SOURCE)])
    assert subs[0].student != subs[1].student and len(warnings) == 1


def test_grade_many_warns_about_a_shared_student_and_writes_unique_rows(tmp_path):
    # Two unreadable files are rejected in no time, without a kernel: enough to see the naming.
    folder = tmp_path / "subs" / "submissions"
    folder.mkdir(parents=True)
    files = [folder / f"{NB}.ipynb", folder / f"{NB} (1).ipynb"]
    for f in files:
        f.write_text("{not json", encoding="utf-8")
    source = Path(__file__).resolve().parents[1] / "solutions" / f"{NB}.ipynb"
    lines = []
    results = grade_many(files, tmp_path / "grades.csv", jobs=1, progress=lines.append, source_path=source)
    assert [r.status for r in results] == ["rejected", "rejected"]
    warnings = [line for line in lines if line.startswith("warning: ")]
    assert len(warnings) == 1 and "would all be student 'submissions'" in warnings[0]
    rows = list(csv.DictReader((tmp_path / "grades.csv").open(encoding="utf-8")))
    assert [r["student"] for r in rows] == [f"submissions ({NB}.ipynb)", f"submissions ({NB} (1).ipynb)"]
