"""``python -m atomnet.export._arena_table [FILE ...] [--corpus DIR] [--no-run]``: the TFLite Micro arena of
``.tflite`` files, :func:`~atomnet.export.plan_tflm_arena` against the real interpreter (one child process
per file), as a table: tensor types, head / tail / total measured and ours, the 32-bit Cortex-M tail
(derived, never measured), and whether the three agree byte for byte.

>>> main(["--corpus", "../shared/models/tflite"])     # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atomnet.export._arena import plan_tflm_arena
from atomnet.export._errors import TFLiteError
from atomnet.export._tflite import read_tflite
from atomnet.tflm import TFLM_VERSION

HEADER = ["file", "tensor types", "TFLM head", "TFLM tail", "TFLM total", "head", "tail", "total",
          "tail 32-bit (derived)", "check"]


def row(path: Path, measure: bool = True) -> tuple[object, ...]:
    """One line of the table for ``path``."""
    from atomnet.export._isolate import run_tflm_isolated
    from atomnet.export._tflm import TFLMError

    m = read_tflite(path)
    types = "/".join(sorted({t.dtype.lower() for t in m.tensors if not t.is_constant}))
    try:
        a = plan_tflm_arena(m)
    except TFLiteError as e:
        return (path.name, types, "-", "-", "-", "-", "-", "-", "-", e.problems[0])
    ours = (a.head_bytes, a.tail_bytes, a.total_bytes)
    lower = "" if a.exact else f" (not in the table: {', '.join(a.unknown_ops)}; a lower bound)"
    if not measure:
        return (path.name, types, "-", "-", "-", *ours, a.tail_bytes_32, "not run" + lower)
    try:
        u = run_tflm_isolated(path, None, None, notes=m.notes).usage
    except (TFLMError, TFLiteError) as e:
        why = str(e).split("cannot load the model: ", 1)[-1].replace("TFLM failed to allocate tensors (", "")
        return (path.name, types, "-", "-", "-", *ours, a.tail_bytes_32, f"TFLM refuses: {why.rstrip(')')[:90]}"
                + lower)
    real = (u.head_bytes, u.tail_bytes, u.total_bytes)
    return (path.name, types, *real, *ours, a.tail_bytes_32, ("exact" if real == ours else "OFF") + lower)


def table(header: list[str], rows: list[tuple[object, ...]], align: str) -> str:
    """Plain-text columns; integers with thousands separators; ``align``: one ``l``/``r`` per column."""
    cells = [header] + [[f"{v:,}" if isinstance(v, int) else str(v) for v in r] for r in rows]
    widths = [max(len(c[k]) for c in cells) for k in range(len(header))]

    def line(c: list[str]) -> str:
        return "  ".join(x.rjust(w) if a == "r" else x.ljust(w) for x, w, a in zip(c, widths, align, strict=True))

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *map(line, cells[1:])]).rstrip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m atomnet.export._arena_table", description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path, help=".tflite files")
    ap.add_argument("--corpus", type=Path, help="a folder of .tflite files (all of them, sorted)")
    ap.add_argument("--no-run", action="store_true", help="ours only, without the interpreter")
    a = ap.parse_args(argv)
    paths = list(a.files) + (sorted(a.corpus.glob("*.tflite")) if a.corpus else [])
    if not paths:
        ap.error("give .tflite files or --corpus DIR")
    rows = [row(p, not a.no_run) for p in paths]
    print(table(HEADER, rows, align="llrrrrrrrl"))
    exact = sum(r[-1] == "exact" for r in rows)
    run = sum(isinstance(r[2], int) for r in rows)
    print(f"\n{exact} of {run} files the interpreter loads: head, tail and total exact. tflite-micro {TFLM_VERSION}; "
          "TFLM = the interpreter's RecordingMicroAllocator (64-bit host build); head/tail/total = "
          "atomnet.export.plan_tflm_arena; the 32-bit tail is derived from the same rules, not measured.")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
