"""The zoo in QEMU: every zoo model's int8 export deployed with ``atomnet deploy --target cortex-m7`` (generated C,
``tinyengine`` plan, cross-compiled, run in QEMU ``mps2-an500`` against TFLite Micro), as the Markdown table of
docs/deploy.md ("Measured: the zoo in QEMU Cortex-M7"): bit-exactness, instructions, the ELF's Flash and RAM
(``.data`` + arena + stack high-water) against the ``tinyengine`` estimates.

    .venv/bin/python benchmarks/deploy_zoo_table.py --exports /tmp/zoo-exports [--models mcunet-vww0 ...]

Exports missing from ``--exports`` are made with the test suite's recipe (random weights from seed 0, calibrated
on 8 uniform-noise images: the ``zoo_int8_exports`` fixture of tests/conftest.py), about 20 s each; a model that
fails (export, an unsupported operator, a mismatch) gets a row saying so and the script goes on.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HEADER = ("| model | target | bit-exact vs TFLM | instructions | Flash from ELF (kernels / weights / rest) B "
          "| tinyengine Flash estimate B | diff | RAM (.data + arena + stack high-water) B "
          "| tinyengine peak-SRAM estimate B | diff | generated arena = planner peak |")


def export(name: str, folder: Path) -> Path:
    """The int8 export of zoo model ``name`` in ``folder`` (made with the fixture's recipe when absent)."""
    path = folder / f"{name}.tflite"
    if path.is_file():
        return path
    import numpy as np

    from atomnet.export import export_int8
    from atomnet.zoo import get_zoo

    spec = get_zoo(name)
    calib = np.random.default_rng(0).uniform(-1, 1, size=(8, spec.in_channels, *spec.resolution))
    folder.mkdir(parents=True, exist_ok=True)
    return Path(export_int8(spec, calib.astype(np.float32), path, seed=0).path)


def measure(name: str, exports: Path, work: Path, target: str) -> dict[str, Any]:
    """One row: the report of :func:`atomnet.deploy.target.cortexm_report` (what ``atomnet deploy FILE --target``
    prints) plus the generated arena against the tinyengine planner's peak; ``error`` when a step fails."""
    from atomnet.deploy import generate
    from atomnet.deploy.target import cortexm_report

    t0 = time.perf_counter()
    try:
        path = export(name, exports)
        rep = cortexm_report(path, target=target, out_dir=work / name)
        d = generate(path, runtime="tinyengine", out_dir=work / name / "plan")
    except Exception as e:  # one failing model is a row of the table, not the end of the run
        return {"model": name, "target": target, "error": f"{type(e).__name__}: {e}".splitlines()[0][:200]}
    row = rep.row()
    row["planner_peak_bytes"] = int(d.planner_peak_bytes)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def _pct(a: int, b: int) -> str:
    return f"{100 * (a / b - 1):+.1f} %" if b else "n/a"


def markdown(rows: list[dict[str, Any]]) -> str:
    """The table of docs/deploy.md from :func:`measure` rows."""
    out = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['model']} | {r['target']} | not run: {r['error'].replace('|', '/')} |"
                       + " |" * 8)
            continue
        same = "yes" if r["arena_bytes"] == r["planner_peak_bytes"] else (
            f"no ({r['arena_bytes']:,} vs {r['planner_peak_bytes']:,})")
        out.append(
            f"| {r['model']} | {r['target']} | {'yes' if r['bit_exact'] else 'NO'} | {r['instructions']:,} "
            f"| {r['flash_bytes']:,} ({r['kernel_bytes']:,} / {r['weight_bytes']:,} / {r['other_flash_bytes']:,}) "
            f"| {r['est_flash_bytes']:,} | {_pct(r['flash_bytes'], r['est_flash_bytes'])} "
            f"| {r['ram_bytes']:,} ({r['data_bytes']:,} + {r['arena_bytes']:,} + {r['stack_bytes']:,}) "
            f"| {r['est_peak_sram_bytes']:,} | {_pct(r['ram_bytes'], r['est_peak_sram_bytes'])} | {same} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    from atomnet.zoo import list_zoo

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exports", type=Path, help="folder of NAME.tflite exports (missing ones are made there; "
                                                 "default: a temporary folder)")
    ap.add_argument("--work", type=Path, help="folder for the generated code and builds (default: temporary)")
    ap.add_argument("--models", nargs="+", default=None, help="zoo names (default: all of 'atomnet zoo list')")
    ap.add_argument("--target", choices=("cortex-m7", "cortex-m4"), default="cortex-m7")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON lines")
    args = ap.parse_args(argv)
    names = args.models or list_zoo()
    exports = args.exports or Path(tempfile.mkdtemp(prefix="atomnet-zoo-exports-"))
    work = args.work or Path(tempfile.mkdtemp(prefix="atomnet-zoo-deploy-"))
    rows = []
    for name in names:
        row = measure(name, exports, work, args.target)
        print(f"{name}: " + (row["error"] if "error" in row else
                             f"bit-exact {row['bit_exact']}, {row['instructions']:,} instructions, "
                             f"{row['seconds']} s"), file=sys.stderr, flush=True)
        rows.append(row)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")
    print(markdown(rows))
    return 0 if all(r.get("bit_exact") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
