"""Every hint of the public checks of notebooks 01-06 (and of the cell-check protocol) carries a stable mistake code (issue 16).

`rnn-course report` counts a class's mistakes by the code a check gives its hint: the last line
of the `CheckFailed` message ends in `[mistake: <code>]` (rnn_course.grading.results). Read from
the source (an AST scan, so every branch counts, not only those a test reaches): every `fail`,
`CheckFailed`, `expect_close` and `mark` call, and every call of a module function that takes a
`code` (`_call_valid`, `_expect_value_error`, ...), passes a code; each code is a literal (or
one of the literals of a table the call loops over, or the branch that chose the hint), valid
for the grader's pattern, and names one mistake: two different hints share a code only where
`SHARED` says why. A hint that a `CellSpec` gives the cell-check protocol passes its code as
`hint_code(hint, "<default>")` (rnn_course.checks.cells): the code the hint is marked with (its
`mark` call is scanned in the module that defines the spec), or the literal default.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from rnn_course.checks import CheckFailed, expect_close, fail, mark
from rnn_course.grading.results import _MISTAKE_MARK, TestResult

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("ngram_lm", "rnn_lm", "gradients", "cells", "lstm_gru", "birnn", "showdown")
#: The shared machinery that raises, or marks, a hint: (name, position of `code` when passed positionally).
CODED = {"fail": None, "CheckFailed": None, "expect_close": None, "mark": 1}
CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")
#: Codes given to more than one hint on purpose, per module: why they are one mistake.
SHARED = {
    "ngram_lm": {
        "not-a-float": "the answer returned something that is not one number (three calls of the same helper, "
                       "two for perplexity)",
        "wrong-probability": "a probability that matches no known mistake, in 1.2, 1.3 and 1.4 (the exercise "
                             "number that the grader prefixes tells them apart)",
        "not-normalised": "a distribution that does not sum to 1, in 1.2 and 1.4",
        "no-sentences": "an edge input that the answer refuses or gets wrong: one code for both",
        "sentence-shorter-than-n": "an edge input that the answer refuses or gets wrong: one code for both",
        "empty-sentence": "the same edge (an empty sentence) at n = 1 and n = 3",
        "unigram-empty-context": "an edge input that the answer refuses or gets wrong: one code for both",
        "single-n-gram": "an edge input that the answer refuses or gets wrong: one code for both",
        "k-above-1": "an edge input that the answer refuses or gets wrong: one code for both",
        "tiny-k": "an edge input that the answer refuses or gets wrong: one code for both",
        "huge-k": "an edge input that the answer refuses or gets wrong: one code for both",
        "one-word-vocabulary": "an edge input that the answer refuses or gets wrong: one code for both",
        "no-counts": "an edge input that the answer refuses or gets wrong: one code for both",
        "two-lambdas": "exactly two weights, with an empty context or not: refused, wrong or not summing to 1",
        "zero-lambda": "a weight of 0 (and one of 1), either way round: refused, wrong or not summing to 1",
        "lambda-sum-exact-equality": "weights that sum to 1 only within rounding: refused, wrong or not summing to 1",
        "one-token": "an edge input that the answer refuses or gets wrong: one code for both",
        "product-underflows": "an edge input that the answer refuses or gets wrong: one code for both",
        "zero-probability-token": "an edge input that the answer refuses or gets wrong: one code for both",
        "large-scores": "scores of ±1e4 at T = 1 and T = 1e-3: refused or wrong",
        "tiny-temperature": "temperatures down to 5e-324, in temperature_probs and in sample_next: refused or wrong",
        "minus-inf-score": "an edge input that the answer refuses or gets wrong: one code for both",
        "zero-probability-drawn": "a token of probability 0 drawn, or the draw raised, at u = 0.0 or 1 - 2**-53",
    },
    "rnn_lm": {
        "wrong-shape": "an output of the wrong shape (the model's logits, the windows, sample_next's ids)",
        "one-token-input": "one sequence of one token: refused or of the wrong shape",
        "short-stream": "a stream too short for one window (or exactly one): refused or wrong",
        "ids-not-integer": "token ids that are not integers (windows, sampled ids)",
        "padding-counted": "the padding counted in the mean, in the loss (2.4) and the perplexity (2.5)",
        "divided-by-all-positions": "the masked sum divided by every position, in 2.4 and 2.5",
        "sum-not-mean": "the sum instead of the mean, in 2.4 and 2.5",
        "not-a-scalar": "the loss (2.4) or the perplexity (2.5) is not one number",
        "not-keras-ops": "the loss is not written with keras.ops (a foreign library, or fails on tensors)",
        "extreme-logits": "logits of ±1e4 (or one target): refused or wrong, in 2.4 and 2.5",
        "mask-ignored": "the explicit mask is not used, in 2.4 and 2.5",
        "state-not-carried": "the hidden state is not carried from step to step (the model, generate)",
        "argmax-not-sample": "the most likely token always, instead of a sample (sample_next, generate)",
        "large-logits": "logits of ±1e4: refused or wrong",
        "tiny-temperature": "temperatures down to 1e-308: refused or not the argmax",
        "one-token-vocabulary": "a vocabulary of one token: refused or wrong",
        "top-k-equals-V": "top_k = V: refused or not the full distribution",
        "zero-probability-drawn": "a token outside the top k drawn, or the draw raised, at u = 0.0 or 1 - 2**-53",
    },
    "gradients": {
        "wrong-shape": "an output of the wrong shape (the norms, a clipped gradient)",
        "not-a-scalar": "one number expected (the spectral radius, the global norm)",
        "squared-norm": "squared norms instead of norms (3.1, 3.2 and 3.3)",
        "wrong-global-norm": "the global norm differs from sqrt(Σ_i ‖g_i‖²), on [3, 4] or on random tensors",
        "wrong-clipped-gradients": "clipped gradients that match no known mistake, on [3, 4] or on random tensors",
    },
    "cells": {},
    "lstm_gru": {
        "tanh-not-sigmoid": "the gates use tanh where σ belongs, in the LSTM (4.1) and the GRU (4.2): the exercise "
                            "number that the grader prefixes tells them apart",
        "candidate-sigmoid-not-tanh": "the new content (c̃ or h̃) uses σ where tanh belongs, in 4.1 and 4.2",
    },
    "birnn": {},
    "showdown": {
        "empty-line-dropped": "an empty line's </s> is missing, in the word probe and in the one-empty-line probe",
        "stream-not-flat": "not one flat stream: a list of per-line sequences, or an array of two or more dimensions",
        "not-traceable": "the layer works on values but not traced: on a symbolic Input (TensorFlow) or in the "
                         "compiled training step (JAX traces only there)",
    },
}


def _source(module: str) -> ast.Module:
    return ast.parse((ROOT / "rnn_course" / "checks" / f"{module}.py").read_text(encoding="utf-8"))


def _template(node) -> str:
    """A hint's text with every interpolated value blanked: `f"k={k}: ..."` -> `k={}: ...`."""
    if node is None:
        return ""
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.JoinedStr):
        return "".join(_template(v) if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp):
        return _template(node.left) + _template(node.right)
    return "{" + ast.unparse(node) + "}"


class _Scan:
    """The coded calls of one module: `codes` {code: {hint templates}}, `problems` [what is wrong, at which line]."""

    def __init__(self, tree: ast.Module):
        self.tree = tree
        self.parents = {child: node for node in ast.walk(self.tree) for child in ast.iter_child_nodes(node)}
        self.functions = {f.name: f for f in ast.walk(self.tree) if isinstance(f, ast.FunctionDef)}
        self.coded = dict(CODED)
        for name, f in self.functions.items():
            params = [a.arg for a in f.args.args + f.args.kwonlyargs]
            if "code" in params:
                self.coded[name] = None  # its callers name the code (keyword)
        self.codes: dict[str, set[str]] = {}
        self.problems: list[str] = []
        self.calls = 0
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.coded:
                self._call(node)

    def _enclosing(self, node):
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, ast.FunctionDef):
                return node
        return self.tree

    def _call(self, call: ast.Call) -> None:
        self.calls += 1
        name = call.func.id
        position = self.coded[name]
        code = next((k.value for k in call.keywords if k.arg == "code"), None)
        if code is None and position is not None and len(call.args) > position:
            code = call.args[position]
        if code is None:
            self.problems.append(f"line {call.lineno}: {name}(...) without code=")
            return
        why = next((k.value for k in call.keywords if k.arg == "why"), None)
        hint = why if why is not None else (call.args[0] if call.args else
                                             next((k.value for k in call.keywords if k.arg == "hint"), None))
        base = _template(hint)
        self.call = call
        for value, extra in self._resolve(code, self._enclosing(call), call.lineno):
            if not (isinstance(value, str) and CODE.fullmatch(value)):
                self.problems.append(f"line {call.lineno}: {name}(...): {value!r} is not a valid mistake code")
                continue
            self.codes.setdefault(value, set()).add(f"{base} | {extra}".rstrip(" |"))

    def _resolve(self, node, function, line):
        """[(code, the hint text that goes with it, if the code comes from a table or a branch)]."""
        if isinstance(node, ast.Constant):
            return [(node.value, "")]
        if isinstance(node, ast.IfExp):
            return self._resolve(node.body, function, line) + self._resolve(node.orelse, function, line)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "hint_code"
                and len(node.args) == 2):  # the code a spec's hint is marked with, or the default
            return self._resolve(node.args[1], function, line)
        if isinstance(node, ast.Attribute) and node.attr == "code":  # err.code: the caught hint's own code
            return []
        if isinstance(node, ast.Name):
            params = [a.arg for a in function.args.args + function.args.kwonlyargs] \
                if isinstance(function, ast.FunctionDef) else []
            if node.id in params:  # passed through: the calls of `function` are scanned themselves
                return []
            found = self._bound(node.id, function)
            if found:
                return found
        self.problems.append(f"line {line}: the code {ast.unparse(node)} is neither a literal nor resolvable "
                             "to literals")
        return []

    def _inside(self, node, outer) -> bool:
        while node in self.parents:
            node = self.parents[node]
            if node is outer:
                return True
        return False

    def _bound(self, name, function):
        """The literal codes a name is bound to for the current call: the `hint, code = "...", "..."` branches
        since the previous call that uses the name, or the rows of a literal table (or of a function that
        returns one) that a `for` loop around the call unpacks."""
        out = []
        line = self.call.lineno
        users = [c.lineno for c in ast.walk(function) if isinstance(c, ast.Call) and c.lineno < line
                 and any(k.arg == "code" and isinstance(k.value, ast.Name) and k.value.id == name for k in c.keywords)]
        since = max(users, default=0)
        for node in ast.walk(function):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and since < node.lineno < line:
                target, value = node.targets[0], node.value
                if isinstance(target, ast.Name) and target.id == name:
                    out += self._resolve(value, function, node.lineno)
                elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
                    names = [t.id if isinstance(t, ast.Name) else None for t in target.elts]
                    if name in names:
                        i = names.index(name)
                        others = " ".join(_template(v) for j, v in enumerate(value.elts) if j != i)
                        out += [(code, others) for code, _ in self._resolve(value.elts[i], function, node.lineno)]
            elif isinstance(node, ast.For) and isinstance(node.target, ast.Tuple) and self._inside(self.call, node):
                names = [t.id if isinstance(t, ast.Name) else None for t in node.target.elts]
                if name in names:
                    i = names.index(name)
                    for row in self._rows(node.iter, function):
                        if not (isinstance(row, ast.Tuple) and len(row.elts) == len(names)):
                            self.problems.append(f"line {node.lineno}: a row of the table has not {len(names)} items")
                            continue
                        others = " ".join(_template(v) for j, v in enumerate(row.elts)
                                          if j != i and isinstance(v, (ast.Constant, ast.JoinedStr)))
                        out += [(code, others) for code, _ in self._resolve(row.elts[i], function, row.lineno)]
        return out

    def _rows(self, node, function):
        if isinstance(node, (ast.List, ast.Tuple)):
            return node.elts
        if isinstance(node, ast.Name):
            for scope in (function, self.tree):
                for stmt in ast.walk(scope):
                    if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                            and stmt.targets[0].id == node.id and isinstance(stmt.value, (ast.List, ast.Tuple))):
                        return stmt.value.elts
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.functions:
            returns = [r.value for r in ast.walk(self.functions[node.func.id]) if isinstance(r, ast.Return)]
            if len(returns) == 1 and isinstance(returns[0], (ast.List, ast.Tuple)):
                return returns[0].elts
        self.problems.append(f"line {node.lineno}: cannot read the table {ast.unparse(node)} as literals")
        return []


@pytest.fixture(scope="module", params=MODULES)
def scan(request):
    return request.param, _Scan(_source(request.param))


def test_every_hint_of_the_checks_passes_a_valid_literal_mistake_code(scan):
    module, found = scan
    assert found.calls > 20, found.calls  # the scan sees the module's calls
    assert found.problems == [], "\n".join(found.problems)
    assert found.codes


def test_two_different_hints_share_a_code_only_on_purpose(scan):
    module, found = scan
    shared = {code: sorted(templates) for code, templates in found.codes.items() if len(templates) > 1}
    unexplained = {code: templates for code, templates in shared.items() if code not in SHARED[module]}
    assert not unexplained, "\n".join(f"{code}:\n  " + "\n  ".join(t) for code, t in unexplained.items())
    stale = set(SHARED[module]) - set(shared)
    assert not stale, f"SHARED lists codes that one hint only has now: {sorted(stale)}"


def test_the_scan_catches_a_fail_without_a_code_and_a_code_that_is_not_a_literal():
    """The scan itself can fail: on a call without code=, a computed code and an invalid one."""
    source = ("def check(x, code):\n"
              "    fail(f'x={x} is wrong')\n"
              "    fail('y', code=f'value-{x}')\n"
              "    fail('z', code='two words')\n"
              "    fail('w', code=code)\n"
              "    fail('v', code=hint_code(x, f'v-{x}'))\n"
              "    fail('u', code=hint_code(x, 'u-default'))\n"
              "def caller():\n"
              "    check(1)\n")
    problems = _Scan(ast.parse(source)).problems
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3", "line 4", "line 6", "line 9"], problems


# ------------------------------------------------------------------ the mechanism (rnn_course.checks)
def test_fail_ends_the_last_line_of_the_hint_with_the_marker_the_grader_reads():
    with pytest.raises(CheckFailed) as info:
        fail("first line\nreceived 13.1, expected 41.2", code="log10-not-ln")
    err = info.value
    assert str(err) == "first line\nreceived 13.1, expected 41.2 [mistake: log10-not-ln]"
    assert err.code == "log10-not-ln" and err.hint == "first line\nreceived 13.1, expected 41.2"
    last = f"CheckFailed: {str(err).splitlines()[-1]}"  # the line of the traceback that the grader keeps
    assert TestResult("q1_5_perplexity_tests", 0.0, 2.0, last, reason=last).mistake == "1.5/log10-not-ln"


def test_a_hint_without_a_code_is_unchanged_and_a_wrapped_marker_moves_to_the_end():
    assert str(CheckFailed("plain hint")) == "plain hint" and CheckFailed("plain hint").code is None
    inner = CheckFailed("x raised ValueError: bad", code="raised-ValueError")
    outer = CheckFailed(f"{inner} Check the shapes.")  # how a check adds to a caught hint
    assert str(outer) == "x raised ValueError: bad Check the shapes. [mistake: raised-ValueError]"
    assert outer.code == "raised-ValueError"
    assert str(CheckFailed(mark("swapped.", "W_h-W_e-swapped"), code="other")) == "swapped. [mistake: other]"
    assert _MISTAKE_MARK.findall(str(outer)) == ["raised-ValueError"]


@pytest.mark.parametrize("code", ["", "two words", "-leading-dash", "x" * 65, "ü-umlaut", "a/b"])
def test_an_invalid_code_is_a_valueerror(code):
    with pytest.raises(ValueError, match="Received: code="):
        CheckFailed("hint", code=code)
    with pytest.raises(ValueError, match="Received: code="):
        mark("hint", code)


def test_expect_close_codes_shape_nan_and_values_and_keeps_a_marked_hints_code():
    import numpy as np

    cases = [(np.zeros(3), np.zeros(2), {}, "wrong-shape"), (np.array([np.nan]), np.zeros(1), {}, "not-finite"),
             (np.ones(2), np.zeros(2), {}, "wrong-values"), (np.ones(2), np.zeros(2), {"code": "k-added-once"},
                                                              "k-added-once"),
             (np.ones(2), np.zeros(2), {"hint": mark("h", "no-bias")}, "no-bias")]
    for actual, expected, kwargs, code in cases:
        with pytest.raises(CheckFailed) as info:
            expect_close(actual, expected, what="x", **{"hint": "h", **kwargs})
        assert info.value.code == code and str(info.value).endswith(f" [mistake: {code}]"), str(info.value)
