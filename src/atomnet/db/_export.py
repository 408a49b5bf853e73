"""Export raw AtomDB rows in the AtomNet CSV format, so that ``atomnet db import`` reads them back."""

from __future__ import annotations

import csv
from pathlib import Path

from atomnet.db._import_csv import CURRENT_HEADER, SE_HEADER
from atomnet.db._store import AtomDB
from atomnet.errors import InputError
from atomnet.ops import KINDS, Op

_Cell = str | int


def _ratio(macc: int, lat: float) -> str:
    return str(int(macc // lat)) if lat > 0 and macc > 0 else ""


def _main_row(op: Op, macc: int, flash: int, lat: float) -> list[_Cell]:
    k = op.kind
    if k in ("pointwise", "depthwise", "conv"):
        ctype = {"pointwise": "PointWise", "depthwise": "DepthWise", "conv": "Ordinary"}[k]
        return ["conv2d", ctype, op.groups, op.c_in, op.h_in, op.w_in, op.kernel or 1, op.kernel or 1, op.c_out,
                op.h_out, op.w_out, macc, flash, repr(lat), _ratio(macc, lat)]
    if k == "pad":
        return ["pad", "", "", op.c_in, op.h_in, op.w_in, "", "", op.c_out, op.h_out, op.w_out, 0, 0, repr(lat), ""]
    if k in ("eltwise", "affine"):
        return ["eltwise", "", "", "", "", "", "", "", op.c_out, op.h_out, op.w_out, macc, flash, repr(lat),
                _ratio(macc, lat)]
    if k == "dense":
        return ["dense", "", op.c_in, "", "", "", "", "", op.c_out, "", "", macc, flash, repr(lat), _ratio(macc, lat)]
    raise ValueError(f"kind {k!r} has no AtomNet CSV representation")


def export_atomnet_csv(db: AtomDB, board: str, out: Path) -> list[tuple[Path, int]]:
    """Write ``out`` (conv/pad/eltwise/dense rows) and ``<out>_se.csv`` (SE modules, if any).

    Kinds the AtomNet format cannot hold (``pool``) are left out and reported by the count."""
    rows = db.export_rows(board)
    if not rows:
        raise InputError(f"db export: no measurements for board {board!r} in {db.path}")
    se_path = out.with_name(out.stem + "_se" + out.suffix)
    main: list[list[_Cell]] = []
    se: list[list[_Cell]] = []
    for r in rows:
        op = Op(KINDS[r[0]], *r[1:10])
        macc = r[10] if r[10] is not None else op.macc
        flash = r[11] if r[11] is not None else op.flash_bytes
        lat = float(r[13])
        if op.kind == "se":
            sram = r[12] if r[12] is not None else op.in_elems + 11 * op.c_in + 5 * op.mid
            se.append([f"SE_C_{op.c_in}_H_{op.h_in}", op.c_in, op.h_in, op.w_in, 4, macc, flash, sram, repr(lat),
                       _ratio(macc, lat)])
        elif op.kind != "pool":
            main.append(_main_row(op, macc, flash, lat))
    written = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CURRENT_HEADER)
        w.writerows(main)
    written.append((out, len(main)))
    if se:
        with open(se_path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(SE_HEADER)
            w.writerows(se)
        written.append((se_path, len(se)))
    return written
