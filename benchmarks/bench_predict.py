"""Latency predictors: fit time, vectorized prediction throughput, cross-validation time and table.

Reads the public AtomDB from ``../shared/atomdb/stm32h743`` into a temporary SQLite file.

    .venv/bin/python benchmarks/bench_predict.py          # fit + 1M-op prediction throughput
    .venv/bin/python benchmarks/bench_predict.py --cv     # also the 3-scheme cross-validation table
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from atomnet.db import AtomDB
from atomnet.db._cv import SCHEMES, cross_validate
from atomnet.db._predict import PredictorSet, fit_predictors
from atomnet.ops import KEY_FIELDS, KINDS, Op

DATA = Path(__file__).resolve().parents[2] / "shared" / "atomdb" / "stm32h743"
BOARD = "stm32h743"


def load_samples(tmp: Path) -> dict[str, dict[str, np.ndarray]]:
    with AtomDB(tmp / "bench.sqlite") as db:
        db.import_atomnet_csv(DATA / "atomdb.csv", board=BOARD)
        db.import_atomnet_se_csv(DATA / "atomdb_se.csv", board=BOARD)
        out = {k: db.samples(BOARD, k) for k in KINDS}
    return {k: v for k, v in out.items() if len(v["latency_ms"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="operators per prediction batch")
    ap.add_argument("--cv", action="store_true", help="also time and print the cross-validation table")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        samples = load_samples(Path(tmp))
    n_keys = sum(len(v["latency_ms"]) for v in samples.values())

    t = time.perf_counter()
    ps = fit_predictors(samples, board=BOARD)
    fit_s = time.perf_counter() - t
    print(f"fit all kinds: {fit_s:.2f} s for {n_keys} keys ({len(ps.models)} models, fallbacks: "
          f"{', '.join(ps.fallbacks) or 'none'}); JSON {len(ps.to_json()) / 1024:.0f} KiB")
    t = time.perf_counter()
    ps = PredictorSet.from_json(ps.to_json())
    print(f"load from JSON: {(time.perf_counter() - t) * 1e3:.1f} ms")

    # a batch of operators per kind, drawn from the measured keys (so the shapes are realistic)
    rng = np.random.default_rng(0)
    print(f"\nvectorized predict(kind, cols), {args.n:,} ops per call (second call; first compiles trees)")
    total_ops, total_s = 0, 0.0
    for kind in ps.kinds():
        src = samples.get(kind) or samples["eltwise"]
        idx = rng.integers(0, len(src["latency_ms"]), args.n)
        cols = {f: src[f][idx] for f in KEY_FIELDS}
        t = time.perf_counter()
        ps.predict(kind, cols)
        first = time.perf_counter() - t
        t = time.perf_counter()
        ps.predict(kind, cols)
        dt = time.perf_counter() - t
        total_ops, total_s = total_ops + args.n, total_s + dt
        print(f"  {kind:10s} {args.n / dt / 1e6:6.2f} M ops/s   (first call {first * 1e3:6.0f} ms)")
    print(f"  {'all kinds':10s} {total_ops / total_s / 1e6:6.2f} M ops/s")

    keys = np.concatenate([np.column_stack([np.full(len(v["c_in"]), KINDS.index(k)),
                                            *[v[f] for f in KEY_FIELDS]]) for k, v in samples.items()])
    n_obj = min(args.n, 200_000)
    ops = [Op.from_key(tuple(int(x) for x in keys[i])) for i in rng.integers(0, len(keys), n_obj)]
    t = time.perf_counter()
    ps.predict_ops(ops)
    dt = time.perf_counter() - t
    print(f"\npredict_ops on {n_obj:,} Op objects (mixed kinds): {n_obj / dt / 1e6:.2f} M ops/s "
          "(Python object access dominates; cost whole search spaces through columns)")

    if args.cv:
        print("\ncross-validation (5 folds, seed 0): MAPE / median / max APE, percent")
        for scheme in SCHEMES:
            t = time.perf_counter()
            res = cross_validate(samples, scheme)  # type: ignore[arg-type]
            dt = time.perf_counter() - t
            print(f"  {scheme} ({dt:.1f} s)")
            for kind, r in res.items():
                cell = "not cross-validable (one group)" if r.folds == 0 else \
                    f"{r.mape:6.2f} {r.median_ape:6.2f} {r.max_ape:7.2f}"
                print(f"    {kind:10s} {cell}")


if __name__ == "__main__":
    main()
