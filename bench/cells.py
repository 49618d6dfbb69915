"""Benchmark: the solutions' RNN cells inside `keras.layers.RNN` against Keras's built-in layers.

For each case, the cell class is taken from its solution notebook (the answer cell
with the case's grade_id), wrapped in `keras.layers.RNN`, and timed against the
built-in layer on the same backend: one training step (forward, backward, SGD
update) on a batch of 64 sequences of 100 steps, input 128, hidden 256 (and 1024
with `--hidden 256 1024`, where fewer steps are timed). Both
models start from the same weights (copied with `rnn_course.transplant`), and
the script first checks that they compute the same loss, so that the timing
compares like with like.

Steps of the two models are interleaved and the median is reported, because the
course's reference machine (2 shared CPU cores) is noisy. The goal is a ratio
(cell / built-in) of at most 1.2.

Usage:
    python bench/cells.py                        # the active backend (KERAS_BACKEND, default tensorflow)
    python bench/cells.py --backend all          # every installed backend, one subprocess each
    python bench/cells.py --cases simple_rnn --steps 30
    python bench/cells.py --backend all --cases simple_rnn lstm gru --hidden 256 1024   # notebook 04's figures

The cases: notebook 02's Elman cell against `SimpleRNN`, notebook 04's LSTM cell against
`LSTM` and its GRU cell against `GRU(reset_after=False)` (the lecture's GRU; the weights
are copied with u = 1 - z). At hidden h the timed steps per round are
`max(1, steps * 256 // h)`.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.2
SHAPE = {"batch": 64, "seq": 100, "input": 128, "hidden": 256}


@dataclasses.dataclass(frozen=True)
class Case:
    notebook: str        # solutions/<notebook>.ipynb
    grade_id: str        # the answer cell that defines the class
    class_name: str      # the cell class defined there
    builtin: object      # units -> the Keras built-in layer (return_sequences=True)
    kind: str            # rnn_course.transplant.MAPPINGS key, to copy the weights across


def _cases():
    import keras

    return {
        "simple_rnn": Case("02_rnn_language_models", "q2_1_rnn_cell", "ElmanCell",
                           builtin=lambda units: keras.layers.SimpleRNN(units, return_sequences=True),
                           kind="simple_rnn"),
        "lstm": Case("04_lstm_and_gru", "q4_1_lstm_cell", "LSTMCell",
                     builtin=lambda units: keras.layers.LSTM(units, return_sequences=True), kind="lstm"),
        "gru": Case("04_lstm_and_gru", "q4_2_gru_cell", "GRUCell",
                    builtin=lambda units: keras.layers.GRU(units, reset_after=False, return_sequences=True), kind="gru"),
    }


def load_solution_class(case: Case):
    """Executes the solution's answer cell (with the notebook's imports) and returns the class it defines."""
    path = ROOT / "solutions" / f"{case.notebook}.ipynb"
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]  # plain JSON: runs where nbformat is missing
    sources = ["".join(c["source"]) for c in cells
               if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == case.grade_id]
    if len(sources) != 1:
        raise SystemExit(f"{path}: expected one answer cell with grade_id {case.grade_id!r}, found {len(sources)}.")
    namespace = {"__name__": "bench_solution"}
    exec("import keras\nimport numpy as np\nfrom keras import ops\n", namespace)
    exec(compile(sources[0], f"{path.name}:{case.grade_id}", "exec"), namespace)
    return namespace[case.class_name]


def _median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])


def bench_case(name: str, case: Case, steps: int, rounds: int, hidden: int = SHAPE["hidden"]) -> dict:
    import keras
    import numpy as np

    from rnn_course import transplant

    cell_class = load_solution_class(case)
    rng = np.random.default_rng(0)
    b, t, i, h = SHAPE["batch"], SHAPE["seq"], SHAPE["input"], hidden
    steps = max(1, steps * SHAPE["hidden"] // h)
    x = rng.normal(size=(b, t, i)).astype("float32")   # (batch, seq, input)
    y = rng.normal(size=(b, t, h)).astype("float32")   # (batch, seq, hidden)
    models = {}
    for label, layer in (("builtin", case.builtin(h)), ("cell", keras.layers.RNN(cell_class(h), return_sequences=True))):
        model = keras.Sequential([keras.Input((t, i)), layer])
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        models[label] = model
    transplant.copy_weights(models["builtin"].layers[0], models["cell"].layers[0], kind=case.kind)
    losses = {label: float(m.train_on_batch(x, y)) for label, m in models.items()}  # also compiles
    if abs(losses["cell"] - losses["builtin"]) > 1e-4 * max(1.0, abs(losses["builtin"])):
        raise SystemExit(f"{name}: the two models disagree (loss {losses['cell']} vs {losses['builtin']}); "
                         "the timing would not compare like with like.")
    for model in models.values():  # warm-up
        model.train_on_batch(x, y)
    per_step = {label: [] for label in models}
    for _ in range(rounds):
        for label, model in models.items():
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(x, y)
            per_step[label].append((time.perf_counter() - start) / steps)
    cell_ms, builtin_ms = 1e3 * _median(per_step["cell"]), 1e3 * _median(per_step["builtin"])
    return {"backend": keras.backend.backend(), "case": name, "hidden": h, "cell_ms": cell_ms,
            "builtin_ms": builtin_ms, "ratio": cell_ms / builtin_ms}


def run_here(names, steps, rounds, hiddens=(SHAPE["hidden"],)) -> list[dict]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from rnn_course.notebook import silence_logs

    silence_logs()
    cases = _cases()
    unknown = [n for n in names if n not in cases]
    if unknown:
        raise SystemExit(f"Unknown case(s) {unknown}. Expected some of {sorted(cases)}.")
    return [bench_case(name, cases[name], steps, rounds, h) for h in hiddens for name in names]


def _print(rows):
    for r in rows:
        verdict = "ok" if r["ratio"] <= GOAL else "ABOVE GOAL"
        print(f"{r['backend']:11s} {r['case']:11s} h={r.get('hidden', SHAPE['hidden']):<5d} cell {r['cell_ms']:8.1f} ms/step   built-in {r['builtin_ms']:8.1f} "
              f"ms/step   ratio {r['ratio']:.2f}x   (goal <= {GOAL}x: {verdict})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=None,
                        help="tensorflow, jax, torch, or 'all' (default: KERAS_BACKEND or tensorflow)")
    parser.add_argument("--cases", nargs="*", default=["simple_rnn"], help="simple_rnn, lstm, gru")
    parser.add_argument("--hidden", nargs="*", type=int, default=[SHAPE["hidden"]], help="hidden sizes (e.g. 256 1024)")
    parser.add_argument("--steps", type=int, default=10, help="train steps per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the median is reported")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # subprocess protocol
    args = parser.parse_args(argv)
    backends = [args.backend] if args.backend and args.backend != "all" else None
    if args.backend == "all":
        backends = [b for b, pkg in (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch"))
                    if importlib.util.find_spec(pkg) is not None]
    if backends is None or (len(backends) == 1 and os.environ.get("KERAS_BACKEND", "tensorflow") == backends[0]):
        rows = run_here(args.cases, args.steps, args.rounds, args.hidden)
        if args.json:
            print("BENCH_JSON " + json.dumps(rows))
            return 0
        print(f"bench/cells.py: batch {SHAPE['batch']}, seq {SHAPE['seq']}, input {SHAPE['input']}, "
              f"hidden {args.hidden}; median of {args.rounds} interleaved rounds of {args.steps} train steps "
              f"(x 256 / hidden)")
        _print(rows)
        return 0
    print(f"bench/cells.py: batch {SHAPE['batch']}, seq {SHAPE['seq']}, input {SHAPE['input']}, hidden {args.hidden}; "
          f"median of {args.rounds} interleaved rounds of {args.steps} train steps (x 256 / hidden)")
    status = 0
    for backend in backends:
        cmd = [sys.executable, __file__, "--json", "--steps", str(args.steps), "--rounds", str(args.rounds),
               "--cases", *args.cases, "--hidden", *map(str, args.hidden)]
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH_JSON ")]
        if proc.returncode or not lines:
            print(f"{backend:11s} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
            status = 1
            continue
        _print(json.loads(lines[-1][len("BENCH_JSON "):]))
    return status


if __name__ == "__main__":
    sys.exit(main())
