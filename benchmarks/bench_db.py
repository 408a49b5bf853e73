"""AtomDB benchmarks: import time of the public 57k-row file, exact lookup throughput.

Run: .venv/bin/python benchmarks/bench_db.py   (targets: import < 10 s; batch lookup >= 100k ops/s)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from atomnet.db import AtomDB

SHARED = Path(__file__).resolve().parents[2] / "shared" / "atomdb" / "stm32h743"


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        db = AtomDB(Path(d) / "bench.sqlite")
        t = time.perf_counter()
        r = db.import_atomnet_csv(SHARED / "atomdb.csv", board="stm32h743")
        dt = time.perf_counter() - t
        print(f"import atomdb.csv: {r.added:,} rows + {r.skipped_empty:,} skipped in {dt:.2f} s "
              f"({r.added / dt:,.0f} rows/s; target < 10 s)")
        t = time.perf_counter()
        db.import_atomnet_se_csv(SHARED / "atomdb_se.csv", board="stm32h743")
        print(f"import atomdb_se.csv: {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        table = db.table("stm32h743")
        print(f"load per-key table: {len(table):,} keys in {time.perf_counter() - t:.3f} s")
        rng = np.random.default_rng(0)
        known = table.keys()
        # 100k lookups, half of them hits, half misses (perturbed channel counts)
        idx = rng.integers(0, len(known), 100_000)
        keys = [known[i] if j % 2 else (known[i][0], known[i][1] + 1, *known[i][2:]) for j, i in enumerate(idx)]
        for _ in range(2):
            t = time.perf_counter()
            lat = table.lookup_keys(keys)
            dt = time.perf_counter() - t
        print(f"batch exact lookup: {len(keys):,} ops in {dt * 1e3:.1f} ms = {len(keys) / dt:,.0f} lookups/s "
              f"(target >= 100,000/s); hits {int((~np.isnan(lat)).sum()):,}")
        db.close()


if __name__ == "__main__":
    main()
