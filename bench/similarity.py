"""Benchmark: `rnn-course similarity` on a generated class of 300 notebook-02 submissions.

What it measures:

1. the time to compare 300 submissions of notebook 02 (reading the source,
   extracting each student's code, fingerprinting, comparing every pair);
2. the rank of a copied pair disguised by renamed variables, reordered helper
   functions, reordered functions in a cell and rewritten comments;
3. how many pairs of *independently written* correct answers cross the
   threshold: four authors (the instructor's solution, A, and three others, B to
   D) each wrote every one of the 11 answer regions of notebook 02 their own way
   (a functional model or a subclassed one instead of a Sequential; loops, fancy
   indexing or stacking for the windows; one-hot, Keras's loss or a hand-written
   log-sum-exp for the cross-entropy; inverse CDF, `rng.choice`, Gumbel-max or
   a per-row search for the sampling); they are compared as whole notebooks
   (4 authors: 6 pairs) and exercise by exercise (6 exercises x 6 pairs).

The class: the 4 authors, 10 untouched notebooks, 284 students whose every
answer region comes from one of the 4 authors at random (so two students share a
region by chance, as students share canonical answers), one of them with three
helper functions in an added cell, and the disguised copy of that student.

Usage:
    python bench/similarity.py                 # generate, compare, print the figures
    python bench/similarity.py --verify        # first run the course's visible checks on every author's answers
    python bench/similarity.py --n 300 --threshold 0.6 --keep DIR
"""

from __future__ import annotations

import argparse
import copy
import io
import itertools
import json
import random
import re
import sys
import tempfile
import time
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "solutions" / "02_rnn_language_models.ipynb"
STUDENT = ROOT / "notebooks" / "02_rnn_language_models.ipynb"

# The answer regions of notebook 02, in order: (answer grade_id, region index in that cell).
REGIONS = [("q2_1_rnn_cell", 0), ("q2_1_rnn_cell", 1), ("q2_1_rnn_cell", 2), ("q2_1_rnn_cell", 3),
           ("q2_1_rnn_cell", 4), ("q2_2_lm_model", 0), ("q2_3_lm_windows", 0), ("q2_4_sequence_loss", 0),
           ("q2_5_perplexity", 0), ("q2_6_generate", 0), ("q2_6_generate", 1)]

# Authors B, C, D (A is the instructor's solution, read from solutions/). Bodies are written at indent 0;
# they are indented to the region's indentation when inserted.
AUTHORS: dict[str, list[str]] = {
    "B": [
        # ElmanCell.__init__
        "self.state_size = [self.units]\nself.output_size = self.units\n",
        # ElmanCell.build
        'for name, shape, init in (("W_e", (input_dim, self.units), "glorot_uniform"),\n'
        '                          ("W_h", (self.units, self.units), "orthogonal"),\n'
        '                          ("b", (self.units,), "zeros")):\n'
        "    setattr(self, name, self.add_weight(shape=shape, initializer=init, name=name))\n",
        # ElmanCell.call
        "(previous,) = states\n"
        "pre_activation = ops.add(ops.add(ops.matmul(inputs, self.W_e), ops.matmul(previous, self.W_h)), self.b)\n"
        "new_state = ops.tanh(pre_activation)\n"
        "return new_state, [new_state]\n",
        # ElmanCell.get_initial_state
        "h0 = ops.zeros([batch_size, self.units])\nreturn [h0]\n",
        # ElmanCell.get_config
        'config = super().get_config()\nconfig["units"] = self.units\nreturn config\n',
        # build_rnn_lm
        'tokens = keras.Input(shape=(None,), dtype="int32")\n'
        "embedded = keras.layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)(tokens)\n"
        "hidden = keras.layers.RNN(cell_class(units), return_sequences=True)(embedded)\n"
        "logits = keras.layers.Dense(vocab_size)(hidden)\n"
        'return keras.Model(inputs=tokens, outputs=logits, name="elman_lm")\n',
        # make_lm_windows
        "xs, ys = [], []\n"
        "start = 0\n"
        "while start + seq_len < len(ids):\n"
        "    xs.append(ids[start:start + seq_len])\n"
        "    ys.append(ids[start + 1:start + seq_len + 1])\n"
        "    start += seq_len\n"
        "xs = np.array(xs, dtype=ids.dtype).reshape(-1, seq_len)\n"
        "ys = np.array(ys, dtype=ids.dtype).reshape(-1, seq_len)\n"
        "return xs, ys\n",
        # sequence_cross_entropy
        "vocab = ops.shape(logits)[-1]\n"
        'tgt = ops.cast(targets, "int32")\n'
        'weights = ops.cast(ops.not_equal(tgt, PAD_ID) if mask is None else mask, "float32")\n'
        'log_p = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)\n'
        "token_nll = -ops.sum(ops.one_hot(tgt, vocab) * log_p, axis=-1)\n"
        "return ops.sum(token_nll * weights) / ops.sum(weights)\n",
        # perplexity
        "loss = sequence_cross_entropy(targets, logits, mask)\nreturn math.exp(float(ops.convert_to_numpy(loss)))\n",
        # sample_next
        "if not temperature > 0:\n"
        '    raise ValueError(f"temperature must be > 0, got {temperature}")\n'
        "scores = np.array(logits, dtype=float)\n"
        "single = scores.ndim == 1\n"
        "scores = np.atleast_2d(scores)\n"
        "V = scores.shape[1]\n"
        "if top_k is not None:\n"
        "    if top_k < 1 or top_k > V:\n"
        '        raise ValueError(f"top_k must be between 1 and {V}, got {top_k}")\n'
        "    cutoff = np.sort(scores, axis=1)[:, V - top_k][:, None]\n"
        "    scores = np.where(scores >= cutoff, scores, -np.inf)\n"
        'with np.errstate(over="ignore"):\n'
        "    scaled = (scores - scores.max(axis=1, keepdims=True)) / temperature\n"
        "probs = np.exp(scaled)\n"
        "probs /= probs.sum(axis=1, keepdims=True)\n"
        "out = np.array([rng.choice(V, p=row) for row in probs])\n"
        "return int(out[0]) if single else out\n",
        # generate
        "rng = np.random.default_rng(seed)\n"
        "logits = None\n"
        "for tok in prompt_ids:\n"
        "    logits, state = step(np.array([tok]), state)\n"
        "out = []\n"
        "while len(out) < num_tokens:\n"
        "    nxt = int(sample_next(logits[0], temperature=temperature, top_k=top_k, rng=rng))\n"
        "    out.append(nxt)\n"
        "    logits, state = step(np.array([nxt]), state)\n"
        "return out\n",
    ],
    "C": [
        "self.state_size, self.output_size = self.units, self.units\n",
        'self.W_h = self.add_weight(name="W_h", shape=[self.units, self.units],\n'
        "                           initializer=keras.initializers.Orthogonal())\n"
        'self.b = self.add_weight(name="b", shape=[self.units], initializer="zeros")\n'
        'self.W_e = self.add_weight(name="W_e", shape=[input_dim, self.units],\n'
        "                           initializer=keras.initializers.GlorotUniform())\n",
        "z = ops.add(ops.dot(inputs, self.W_e), ops.dot(states[0], self.W_h))\n"
        "z = ops.add(z, self.b)\n"
        "h = ops.tanh(z)\n"
        "return h, [h]\n",
        'return [ops.convert_to_tensor(np.zeros((batch_size, self.units), dtype="float32"))]\n',
        'config = super().get_config()\nconfig.update({"units": self.units})\nreturn config\n',
        "model = keras.Sequential()\n"
        "model.add(keras.layers.Embedding(vocab_size, embed_dim))\n"
        "cell = cell_class(units)\n"
        "model.add(keras.layers.RNN(cell, return_sequences=True))\n"
        "model.add(keras.layers.Dense(vocab_size, activation=None))\n"
        "return model\n",
        "n = (len(ids) - 1) // seq_len\n"
        "if n <= 0:\n"
        "    empty = np.zeros((0, seq_len), dtype=ids.dtype)\n"
        "    return empty, empty.copy()\n"
        "starts = np.arange(n) * seq_len\n"
        "index = starts[:, None] + np.arange(seq_len)[None, :]\n"
        "return ids[index], ids[index + 1]\n",
        'tgt = ops.cast(targets, "int32")\n'
        "per_token = keras.losses.sparse_categorical_crossentropy(\n"
        '    tgt, ops.cast(logits, "float32"), from_logits=True)\n'
        "if mask is None:\n"
        '    w = ops.cast(ops.not_equal(tgt, PAD_ID), "float32")\n'
        "else:\n"
        '    w = ops.cast(mask, "float32")\n'
        "return ops.divide(ops.sum(ops.multiply(per_token, w)), ops.sum(w))\n",
        "nll = float(ops.convert_to_numpy(sequence_cross_entropy(targets, logits, mask=mask)))\n"
        "return float(np.exp(nll))\n",
        "if not (temperature > 0):\n"
        '    raise ValueError("temperature must be positive; received %r" % (temperature,))\n'
        "x = np.asarray(logits, dtype=np.float64)\n"
        "if top_k is not None:\n"
        "    if not (1 <= top_k <= x.shape[-1]):\n"
        '        raise ValueError("top_k must satisfy 1 <= top_k <= %d; received %r" % (x.shape[-1], top_k))\n'
        "    order = np.argsort(x, axis=-1)\n"
        "    x = x.copy()\n"
        "    np.put_along_axis(x, order[..., : x.shape[-1] - top_k], -np.inf, axis=-1)\n"
        'with np.errstate(over="ignore", invalid="ignore"):\n'
        "    shifted = (x - np.max(x, axis=-1, keepdims=True)) / temperature\n"
        "gumbel = -np.log(-np.log(rng.uniform(low=1e-12, high=1.0, size=x.shape)))\n"
        "choice = np.argmax(shifted + gumbel, axis=-1)\n"
        "return int(choice) if choice.ndim == 0 else choice\n",
        "generator = np.random.default_rng(seed)\n"
        "for token_id in list(prompt_ids):\n"
        "    scores, state = step(np.asarray([token_id]), state)\n"
        "sampled = []\n"
        "for _ in range(num_tokens):\n"
        "    token_id = int(sample_next(scores[0], temperature, top_k, generator))\n"
        "    sampled.append(token_id)\n"
        "    scores, state = step(np.asarray([token_id]), state)\n"
        "return sampled\n",
    ],
    "D": [
        "size = self.units\nself.state_size = size\nself.output_size = size\n",
        "units = self.units\n"
        'self.W_e = self.add_weight((input_dim, units), initializer="random_normal", name="W_e")\n'
        'self.W_h = self.add_weight((units, units), initializer="identity", name="W_h")\n'
        'self.b = self.add_weight((units,), initializer="zeros", name="b")\n',
        "stacked = ops.concatenate([inputs, states[0]], axis=-1)\n"
        "weights = ops.concatenate([self.W_e, self.W_h], axis=0)\n"
        "h_t = keras.activations.tanh(ops.matmul(stacked, weights) + self.b)\n"
        "return h_t, [h_t]\n",
        'shape = (batch_size, self.units)\nzeros = ops.zeros(shape, dtype="float32")\nreturn [zeros]\n',
        "return dict(super().get_config(), units=self.units)\n",
        "class LanguageModel(keras.Model):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.embed = keras.layers.Embedding(vocab_size, embed_dim)\n"
        "        self.rnn = keras.layers.RNN(cell_class(units), return_sequences=True)\n"
        "        self.head = keras.layers.Dense(vocab_size)\n"
        "\n"
        "    def call(self, token_ids):\n"
        "        return self.head(self.rnn(self.embed(token_ids)))\n"
        "\n"
        "return LanguageModel()\n",
        "n = max((len(ids) - 1) // seq_len, 0)\n"
        "if n == 0:\n"
        "    return np.empty((0, seq_len), dtype=ids.dtype), np.empty((0, seq_len), dtype=ids.dtype)\n"
        "x = np.stack([ids[k * seq_len:(k + 1) * seq_len] for k in range(n)])\n"
        "y = np.stack([ids[k * seq_len + 1:(k + 1) * seq_len + 1] for k in range(n)])\n"
        "return x, y\n",
        'z = ops.cast(logits, "float32")\n'
        "z = z - ops.max(z, axis=-1, keepdims=True)\n"
        "log_norm = ops.log(ops.sum(ops.exp(z), axis=-1))\n"
        'tgt = ops.cast(targets, "int32")\n'
        "target_logit = ops.squeeze(ops.take_along_axis(z, ops.expand_dims(tgt, -1), axis=-1), -1)\n"
        "losses = log_norm - target_logit\n"
        "if mask is None:\n"
        "    mask = ops.not_equal(tgt, 0)\n"
        "mask = ops.cast(mask, losses.dtype)\n"
        "return ops.sum(losses * mask) / ops.sum(mask)\n",
        "mean_nll = ops.convert_to_numpy(sequence_cross_entropy(targets, logits, mask)).item()\n"
        "ppl = math.e ** mean_nll\n"
        "return ppl\n",
        "if not temperature > 0:\n"
        '    raise ValueError(f"temperature must be > 0; received {temperature}")\n'
        "arr = np.asarray(logits, dtype=np.float64)\n"
        "rows = arr.reshape(-1, arr.shape[-1])\n"
        "vocab = rows.shape[1]\n"
        "if top_k is not None and not 0 < top_k <= vocab:\n"
        '    raise ValueError(f"top_k must be in [1, {vocab}]; received {top_k}")\n'
        "picks = []\n"
        "for row in rows:\n"
        "    keep = np.ones(vocab, dtype=bool)\n"
        "    if top_k is not None:\n"
        "        keep[:] = False\n"
        "        keep[np.argsort(row)[-top_k:]] = True\n"
        '    with np.errstate(over="ignore"):\n'
        "        weights = np.where(keep, np.exp((row - row[keep].max()) / temperature), 0.0)\n"
        "    cumulative = np.cumsum(weights)\n"
        '    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))\n'
        "    picks.append(min(index, vocab - 1))\n"
        "return picks[0] if arr.ndim == 1 else np.array(picks)\n",
        "rng = np.random.default_rng(seed)\n"
        "fed = [int(t) for t in prompt_ids]\n"
        "new = []\n"
        "while True:\n"
        "    for t in fed:\n"
        "        logits, state = step(np.array([t]), state)\n"
        "    if len(new) == num_tokens:\n"
        "        return new\n"
        "    nxt = int(sample_next(logits[0], temperature, top_k, rng))\n"
        "    new.append(nxt)\n"
        "    fed = [nxt]\n",
    ],
}

HELPERS = '''def softmax_rows(z):
    """Row-wise softmax of a 2-D array."""
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def keep_top_k(scores, k):
    """Sets all but the k largest scores of each row to -inf."""
    kth = np.sort(scores, axis=-1)[..., -k][..., None]
    return np.where(scores < kth, -np.inf, scores)


def count_windows(length, seq_len):
    """How many (inputs, targets) windows of seq_len fit in a stream of `length` ids."""
    if seq_len <= 0:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    return max(0, (length - 1) // seq_len)
'''

_REGION = re.compile(r"(?P<indent>[ \t]*)### BEGIN SOLUTION\n.*?### END SOLUTION[ \t]*\n?", re.S)


def solution_regions(nb) -> dict[str, list[tuple[str, str]]]:
    """For every answer cell of the source: its text and, per region, (indent, body)."""
    out = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            text = "".join(cell["source"])
            bodies = []
            for m in _REGION.finditer(text):
                inner = m.group(0).split("\n", 1)[1].rsplit("### END SOLUTION", 1)[0]
                lines = inner.splitlines()
                indent = m.group("indent")
                bodies.append((indent, "\n".join(line[len(indent):] for line in lines) + "\n"))
            out[meta["grade_id"]] = (text, bodies)
    return out


def author_bodies(source_nb) -> dict[str, list[str]]:
    regions = solution_regions(source_nb)
    authors = {"A": [regions[gid][1][k][1] for gid, k in REGIONS]}
    authors.update(AUTHORS)
    assert all(len(v) == len(REGIONS) for v in authors.values())
    return authors


def fill(source_nb, student_nb, bodies: list[str | None], *, swap_q26: bool = False, added: str | None = None):
    """A submission: the student notebook with each answer cell written from `bodies` (None: left unanswered)."""
    regions = solution_regions(source_nb)
    nb = copy.deepcopy(student_nb)
    cells = nb["cells"]
    by_cell: dict[str, list[str | None]] = {}
    for (gid, _), body in zip(REGIONS, bodies):
        by_cell.setdefault(gid, []).append(body)
    for i, cell in enumerate(cells):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid not in by_cell or all(b is None for b in by_cell[gid]):
            continue
        text, regs = regions[gid]
        parts = iter(by_cell[gid])

        def put(m, parts=parts, regs=iter(regs)):
            indent, original = next(regs)
            body = next(parts)
            if body is None:
                return f"{indent}raise NotImplementedError()\n"
            return "".join(indent + line + "\n" if line.strip() else "\n" for line in body.splitlines())
        new = _REGION.sub(put, text)
        if swap_q26 and gid == "q2_6_generate":
            first, second = new.split("\n\n\ndef generate(", 1)
            new = "def generate(" + second.rstrip("\n") + "\n\n\n" + first + "\n"
        cell["source"] = new
    if added is not None:
        at = next(i for i, c in enumerate(cells)
                  if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "q2_6_generate")
        cells.insert(at, {"cell_type": "code", "execution_count": None, "id": f"added-{at}", "metadata": {},
                          "outputs": [], "source": added})
    return nb


def rename(code: str, mapping: dict[str, str]) -> str:
    """Renames NAME tokens (not attributes after a dot) by `mapping`, keeping the layout, as a student would."""
    lines = code.splitlines(keepends=True)
    edits = []
    prev = None
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.NAME and tok.string in mapping and not (prev and prev.string == "."):
            edits.append((tok.start[0] - 1, tok.start[1], tok.end[1], mapping[tok.string]))
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
            prev = tok
    for row, start, end, new in sorted(edits, reverse=True):
        lines[row] = lines[row][:start] + new + lines[row][end:]
    return "".join(lines)


def disguise(nb):
    """A disguised copy: local names renamed, comments rewritten, the helpers and q2_6's functions reordered."""
    nb = copy.deepcopy(nb)
    mapping = {"h_prev": "last_state", "previous": "old_h", "pre_activation": "act_in", "new_state": "h_new",
               "z": "acc", "h": "hid", "stacked": "joined", "weights": "w_all", "h_t": "out_state",
               "h0": "init_h", "zeros": "zero_state", "config": "cfg", "tokens": "tok_in", "embedded": "emb",
               "hidden": "hs", "logits_": "lg", "model": "net", "cell": "rnn_cell", "xs": "windows_in",
               "ys": "windows_out", "start": "pos", "n": "count", "starts": "begin", "index": "grid",
               "x": "inp", "y": "tgt_windows", "vocab": "V_size", "tgt": "target_ids", "w": "msk",
               "log_p": "lp", "token_nll": "nll_tok", "per_token": "losses_tok", "loss": "mean_loss",
               "nll": "avg_nll", "mean_nll": "m_nll", "ppl": "perp", "scores": "sc", "single": "one_row",
               "cutoff": "kth_val", "scaled": "sc_t", "probs": "p", "out": "result", "order": "rank",
               "gumbel": "noise", "choice": "pick", "arr": "a", "rows": "rs", "picks": "chosen",
               "keep": "allowed", "cumulative": "cdf_", "generator": "gen", "token_id": "tid",
               "sampled": "drawn", "fed": "to_feed", "new": "fresh", "nxt": "next_id", "tok": "t_id",
               "e": "ex", "kth": "threshold", "num_windows": "nw", "inputs_": "i_", "targets_": "t_",
               "softmax_rows": "row_softmax", "keep_top_k": "mask_top_k", "count_windows": "n_windows"}
    for cell in nb["cells"]:
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        added = str(cell.get("id", "")).startswith("added-")
        if not (meta.get("solution") or added):
            continue
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if added:  # the helpers cell: reorder its functions
            funcs = [f.strip("\n") for f in re.split(r"\n(?=def )", text) if f.strip()]
            text = "\n\n\n".join(reversed(funcs)) + "\n"
        text = re.sub(r"#[^\n]*", lambda m: "# " + m.group(0)[1:].strip()[::-1][:20] if m.group(0).strip() != "#"
                      else m.group(0), text)
        cell["source"] = rename(text, mapping)
    return nb


def write(nb, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


def verify(authors: dict[str, list[str]], source_nb, student_nb) -> None:
    """Runs the course's visible checks of notebook 02 on every author's answers (in this process)."""
    import math

    import keras
    import numpy as np
    from keras import ops

    from rnn_course.checks import rnn_lm as checks
    from rnn_course.vocab import PAD_ID

    for name, bodies in authors.items():
        nb = fill(source_nb, student_nb, bodies)
        ns = {"keras": keras, "np": np, "ops": ops, "math": math, "PAD_ID": PAD_ID}
        for cell in nb["cells"]:
            if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                exec(compile("".join(cell["source"]), f"<{name}>", "exec"), ns)
        for call in ("check_rnn_cell(ElmanCell)", "check_lm_model(build_rnn_lm)",
                     "check_lm_windows(make_lm_windows)", "check_sequence_loss(sequence_cross_entropy)",
                     "check_perplexity(perplexity)", "check_generation(sample_next, generate)"):
            try:
                eval(f"checks.{call}", {"checks": checks, **ns})
            except Exception as err:
                raise SystemExit(f"author {name}: {call} failed: {type(err).__name__}: {err}")
        print(f"author {name}: every visible check passed")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="submissions in the class (default 300)")
    parser.add_argument("--threshold", type=float, default=None, help="default: the tool's default")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--keep", metavar="DIR", help="write the class here (default: a temporary folder)")
    parser.add_argument("--verify", action="store_true", help="run the visible checks on every author first")
    args = parser.parse_args(argv)

    from rnn_course.grading import similarity as S

    threshold = S.DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    source_nb = json.loads(SOURCE.read_text(encoding="utf-8"))
    student_nb = json.loads(STUDENT.read_text(encoding="utf-8"))
    authors = author_bodies(source_nb)
    if args.verify:
        verify(authors, source_nb, student_nb)
    rng = random.Random(args.seed)
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="similarity-bench-"))
    name = SOURCE.name
    paths = []
    for a in authors:
        paths.append(write(fill(source_nb, student_nb, authors[a]), folder / f"author_{a}" / name))
    for i in range(10):
        paths.append(write(student_nb, folder / f"untouched_{i:02d}" / name))
    n_mixed = args.n - len(paths) - 2
    for i in range(n_mixed):
        bodies = [authors[rng.choice("ABCD")][r] if rng.random() > 0.05 else None for r in range(len(REGIONS))]
        paths.append(write(fill(source_nb, student_nb, bodies), folder / f"student_{i:03d}" / name))
    paths.append(write(fill(source_nb, student_nb, [authors["B"][r] for r in range(len(REGIONS))],
                            added=HELPERS), folder / "student_helpers" / name))
    copy_nb = fill(source_nb, student_nb, [authors["B"][r] for r in range(len(REGIONS))], swap_q26=True,
                   added=HELPERS)
    copy_path = write(disguise(copy_nb), folder / "student_disguised" / name)
    paths.append(copy_path)
    print(f"class: {len(paths)} submissions of {name} in {folder}")

    start = time.perf_counter()
    starter = S.Starter(SOURCE)
    t_source = time.perf_counter() - start
    codes = [S.student_code(p, starter) for p in paths]
    t_extract = time.perf_counter() - start - t_source
    pairs = S.compare(codes, starter.text, threshold=threshold)
    t_total = time.perf_counter() - start
    comparable = [c for c in codes if c.skipped is None]
    print(f"time: {t_total:.1f} s in all for {len(paths)} submissions ({len(comparable)} with code of their own, "
          f"{len(comparable) * (len(comparable) - 1) // 2} pairs): reading the source {t_source:.1f} s, "
          f"extracting {t_extract:.1f} s, fingerprinting and comparing {t_total - t_source - t_extract:.1f} s")
    key = {str(folder / "student_helpers" / name), str(copy_path)}
    rank = next((i for i, p in enumerate(pairs, 1) if {str(p.a.submission), str(p.b.submission)} == key), None)
    hit = pairs[rank - 1] if rank else None
    print(f"disguised copy: rank {rank} of the {len(pairs)} pairs at or above {threshold:.0%}, similarity "
          f"{100 * hit.similarity:.1f}% (A {100 * hit.similarity_a:.1f}%, B {100 * hit.similarity_b:.1f}%)"
          if hit else f"disguised copy: NOT among the {len(pairs)} pairs at or above {threshold:.0%}")
    others = [p for p in pairs if {str(p.a.submission), str(p.b.submission)} != key]
    if others:
        print(f"next pair: {100 * others[0].similarity:.1f}% ({others[0].a.submission.parent.name} / "
              f"{others[0].b.submission.parent.name}); pairs reported: " + ", ".join(
                  f">= {t:.0%}: {sum(p.similarity >= t for p in pairs)}" for t in (threshold, 0.8, 0.9, 0.95)))

    # independent authors, whole notebooks
    author_codes = [c for c in codes if c.submission.parent.name.startswith("author_")]
    indep = S.compare(author_codes, starter.text, threshold=0.0)
    print("independent authors, whole notebooks (6 pairs): " + ", ".join(
        f"{p.a.submission.parent.name[-1]}-{p.b.submission.parent.name[-1]} {100 * p.similarity:.0f}%"
        for p in indep) + f"; {sum(p.similarity >= threshold for p in indep)} at or above {threshold:.0%}")
    # independent authors, exercise by exercise
    crossing, total, worst = 0, 0, []
    for gid in dict.fromkeys(g for g, _ in REGIONS):
        per = []
        for a in authors:
            bodies = [authors[a][r] if REGIONS[r][0] == gid else None for r in range(len(REGIONS))]
            p = write(fill(source_nb, student_nb, bodies), folder / "exercises" / gid / f"author_{a}" / name)
            per.append(S.student_code(p, starter))
        found = {tuple(sorted((q.a.submission.parent.name, q.b.submission.parent.name))): q.similarity
                 for q in S.compare(per, starter.text, threshold=0.0)}
        for x, y in itertools.combinations(sorted(c.submission.parent.name for c in per), 2):
            s = found.get((x, y), 0.0)
            total += 1
            crossing += s >= threshold
            worst.append((s, gid, x[-1] + "-" + y[-1]))
        skipped = [c for c in per if c.skipped]
        if skipped:
            print(f"  {gid}: {len(skipped)} author(s) too short to compare ({skipped[0].skipped})")
    worst.sort(reverse=True)
    print(f"independent authors, exercise by exercise: {crossing} of {total} pairs at or above {threshold:.0%}; "
          "highest: " + ", ".join(f"{g} {p} {100 * s:.0f}%" for s, g, p in worst[:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
