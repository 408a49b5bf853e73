"""AtomDB store and importer against the real public CSVs (../shared/atomdb/stm32h743)."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from atomnet.db import AtomDB, ImportFormatError, SchemaError, parse_atomnet_csv, parse_atomnet_se_csv
from atomnet.ops import Op

EXPECTED = {  # kind: (rows, distinct keys), ../shared/atomdb/README.md
    "pointwise": (21785, 6489), "depthwise": (10640, 1804), "conv": (278, 161), "pad": (12728, 2295),
    "eltwise": (8183, 498), "affine": (424, 424), "dense": (40, 11), "se": (534, 534),
}


def test_counts_after_import(public_db: AtomDB) -> None:
    st = public_db.stats("stm32h743")["boards"]["stm32h743"]
    got = {k: (v["rows"], v["keys"]) for k, v in st["kinds"].items()}
    assert got == EXPECTED
    assert st["skipped_empty"] == 3359
    assert st["rows"] == 54078 + 534


def test_skipped_rows_reported(shared_dir: Path) -> None:
    p = parse_atomnet_csv(shared_dir / "atomdb/stm32h743/atomdb.csv")
    assert p.skipped_empty == 3359
    assert p.skipped_by_type["under_test"] == 103


def test_v0_revision_same_content(shared_dir: Path) -> None:
    cur = parse_atomnet_csv(shared_dir / "atomdb/stm32h743/atomdb.csv")
    v0 = parse_atomnet_csv(shared_dir / "atomdb/stm32h743/atomdb_v0.csv")
    assert v0.fmt == "atomnet-csv-v0" and cur.fmt == "atomnet-csv"
    assert len(v0.rows) == 54078 and v0.skipped_empty == 0
    # same measurements, classified by content although the current file's `type` is scrambled
    assert sorted((r.op.key, r.latency_ms) for r in v0.rows) == sorted((r.op.key, r.latency_ms) for r in cur.rows)


def test_formulas_hold_on_every_conv_dense_se_row(shared_dir: Path) -> None:
    rows = parse_atomnet_csv(shared_dir / "atomdb/stm32h743/atomdb.csv").rows
    checked = [r for r in rows if r.op.kind in ("conv", "pointwise", "depthwise", "dense")]
    assert len(checked) == 21785 + 10640 + 278 + 40
    assert sum(r.op.macc != r.macc for r in checked) == 0
    assert sum(r.op.flash_bytes != r.flash_bytes for r in checked) == 0
    se = parse_atomnet_se_csv(shared_dir / "atomdb/stm32h743/atomdb_se.csv").rows
    assert len(se) == 534
    for r in se:
        o = r.op
        assert r.macc == o.macc == 2 * o.in_elems + 2 * o.c_in * o.mid + o.mid + 2 * o.c_in
        assert r.flash_bytes == o.flash_bytes == 2 * o.c_in * o.mid + 4 * (o.c_in + o.mid) + 4
        assert r.sram_bytes == o.in_elems + 11 * o.c_in + 5 * o.mid


def test_padding_conventions(public_db: AtomDB) -> None:
    # stem: unpadded 224x224 RGB input, stride 2 → 112x112 (no pad row precedes it)
    assert public_db.lookup(Op.conv(3, 224, 224, 8, 3, 2, padding=1), "stm32h743") is not None
    # depthwise: valid conv on the padded input (pad row 80→82 style)
    table = public_db.table("stm32h743")
    dw = [Op.from_key(k) for k in table.keys() if k[0] == 2]
    assert all(o.h_out == (o.h_in - o.kernel) // o.stride + 1 for o in dw)
    assert {o.stride for o in dw} == {1, 2}


def test_query_bimodal_pointwise_median(public_db: AtomDB) -> None:
    s = public_db.lookup(Op.pointwise(80, 7, 7, 480), "stm32h743")
    assert s is not None
    assert s.n == 55
    assert s.median_ms == pytest.approx(4.496)
    assert (s.min_ms, s.max_ms) == (pytest.approx(4.458), pytest.approx(7.016))


def test_reimport_is_idempotent(public_db_path: Path, shared_dir: Path) -> None:
    with AtomDB(public_db_path) as db:
        before = db.stats()["boards"]["stm32h743"]["rows"]
        r = db.import_atomnet_csv(shared_dir / "atomdb/stm32h743/atomdb.csv", board="stm32h743")
        assert r.already_imported and r.added == 0
        assert db.stats()["boards"]["stm32h743"]["rows"] == before


@pytest.mark.parametrize(
    ("mutate", "column", "needle"),
    [
        (lambda s: ",".join(s.split(",")[:9]) + "\n", None, "expected 15 fields, found 9"),
        (lambda s: s.replace(",0.006,", ",fast,"), "latency",
         "expected a number (milliseconds with a '.' decimal point, e.g. 0.006 or 1.5e-3, no comma), got 'fast'"),
        (lambda s: s.replace("pad,,,80,5,5", "pad,,,80,five,5"), "h_in",
         "expected an integer like 1024 or 1,024 (thousands separated only as d{1,3}(,ddd)+), got 'five'"),
    ],
)
def test_corrupted_file_imports_nothing(tmp_path: Path, shared_dir: Path, mutate: Callable[[str], str],
                                        column: str | None, needle: str) -> None:
    bad = tmp_path / "atomdb.csv"
    lines = (shared_dir / "atomdb/stm32h743/atomdb.csv").read_text().splitlines(keepends=True)
    # corrupt a row deep in the file, so that a non-atomic importer would already have written rows
    target = next(i for i, s in enumerate(lines) if i > 30000 and s.startswith("pad,,,80,5,5,,,80,7,7,0,0,0.006"))
    lines[target] = mutate(lines[target])
    bad.write_text("".join(lines))
    db = AtomDB(tmp_path / "x.sqlite")
    with pytest.raises(ImportFormatError) as ei:
        db.import_atomnet_csv(bad, board="stm32h743")
    msg = str(ei.value)
    assert f"{bad}:{target + 1}" in msg and needle in msg
    if column:
        assert f"column '{column}'" in msg
    assert db.stats()["boards"] == {}
    assert db.conn.execute("SELECT count(*) FROM measurements").fetchone()[0] == 0


def test_failure_inside_transaction_rolls_back(tmp_path: Path, shared_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure while writing (after rows were inserted) leaves the database unchanged."""
    db = AtomDB(tmp_path / "x.sqlite")

    def boom(*a: object, **k: object) -> None:
        raise sqlite3.OperationalError("disk full (simulated)")

    monkeypatch.setattr(db, "_refresh_stats", boom)
    with pytest.raises(sqlite3.OperationalError):
        db.import_atomnet_se_csv(shared_dir / "atomdb/stm32h743/atomdb_se.csv", board="stm32h743")
    assert db.conn.execute("SELECT count(*) FROM measurements").fetchone()[0] == 0
    assert db.conn.execute("SELECT count(*) FROM sources").fetchone()[0] == 0


def test_se_thousands_separators(shared_dir: Path) -> None:
    rows = {r.op.key: r for r in parse_atomnet_se_csv(shared_dir / "atomdb/stm32h743/atomdb_se.csv").rows}
    r = rows[Op.se(1024, 14, 14).key]
    assert (r.macc, r.flash_bytes) == (928000, 529412)


def test_bad_header_and_se_reduction(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ImportFormatError, match=r"x.csv:1: unexpected header"):
        parse_atomnet_csv(p)
    se = tmp_path / "se.csv"
    se.write_text("config,c_in,h_in,w_in,reduction,MACs,Flash,SRAM,latency,MACs/latency\n"
                  "SE_C_32_H_80,32,80,80,8,410184,676,205192,42.523,9646\n")
    with pytest.raises(ImportFormatError, match=r"se.csv:2: column 'reduction'"):
        parse_atomnet_se_csv(se)


def test_schema_version_mismatch(tmp_path: Path) -> None:
    p = tmp_path / "old.sqlite"
    AtomDB(p).close()
    con = sqlite3.connect(p)
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(SchemaError, match="schema version 99"):
        AtomDB(p)
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(SchemaError, match="not an AtomDB"):
        AtomDB(other)


def test_export_round_trips(public_db: AtomDB, tmp_path: Path) -> None:
    from atomnet.db._export import export_atomnet_csv

    written = export_atomnet_csv(public_db, "stm32h743", tmp_path / "out.csv")
    assert [n for _, n in written] == [54078, 534]
    db2 = AtomDB(tmp_path / "rt.sqlite")
    db2.import_atomnet_csv(written[0][0], board="stm32h743")
    db2.import_atomnet_se_csv(written[1][0], board="stm32h743")
    a = public_db.stats("stm32h743")["boards"]["stm32h743"]["kinds"]
    b = db2.stats("stm32h743")["boards"]["stm32h743"]["kinds"]
    assert {k: (v["rows"], v["keys"]) for k, v in a.items()} == {k: (v["rows"], v["keys"]) for k, v in b.items()}
    t1, t2 = public_db.table("stm32h743"), db2.table("stm32h743")
    keys = t1.keys()
    assert (t1.lookup_keys(keys) == t2.lookup_keys(keys)).all()
    with open(written[0][0]) as f:
        assert next(csv.reader(f))[0] == "type"
