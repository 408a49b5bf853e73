"""AtomDB hardening (issue 10, scope 1, 2, 4, 6, 8): no silently wrong numbers from a CSV, one transaction per
command, readers never blocked by a writer, writers wait boundedly and name the lock holder, race-free creation
and import, database-path and board rules, the `db measure` bar only on a terminal.

Real SQLite files, real CSVs from ../shared, the real CLI in subprocesses, a real second process holding the
write lock. Nothing here depends on the machine's speed: every wait is on a ready signal or an outcome."""

from __future__ import annotations

import collections
import csv
import fcntl
import json
import math
import os
import pty
import re
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from atomnet.db import (
    AtomDB,
    DatabaseBusyError,
    NoDatabaseError,
    ParsedRow,
    parse_atomnet_csv,
    parse_atomnet_se_csv,
)
from atomnet.ops import Op

MAIN_HEADER = "type,conv_type,groups,c_in,h_in,w_in,k1,k2,c_out,h_out,w_out,MACs,Flash,latency,MACs/latency"
SE_HEADER = "config,c_in,h_in,w_in,reduction,MACs,Flash,SRAM,latency,MACs/latency"
PAD_ROW = "pad,,,80,5,5,,,80,7,7,0,0,0.006,"
SE_ROW = 'SE_C_1024_H_14,1024,14,14,4,"928,000","529,412",213248,47.679,19463'
LATENCY_FORM = "expected a number (milliseconds with a '.' decimal point, e.g. 0.006 or 1.5e-3, no comma)"
INT_FORM = "expected an integer like 1024 or 1,024 (thousands separated only as d{1,3}(,ddd)+)"

HOLDER = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
c.execute("INSERT INTO sources (board, runtime, runtime_version, format, path, sha256, imported_at,"
          " atomnet_version, rows, skipped) VALUES ('held', 'x', '1', 'f', 'p', 'h', 'now', '0', 0, 0)")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))  # the transaction stays open at least this long
print("held", flush=True)
sys.stdin.readline()  # ... and until the test says so
c.execute("ROLLBACK")
"""


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    """A user without a database: the default per-user file lives under tmp/xdg (absent)."""
    env = {**os.environ, "XDG_DATA_HOME": str(tmp / "xdg"), **extra}
    for k in ("ATOMNET_DB", "ATOMNET_DEBUG", "ATOMNET_DB_TIMEOUT"):
        if k not in extra:
            env.pop(k, None)
    return env


def _atomnet(*argv: str, tmp: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "atomnet", *argv], env=_env(tmp, **env), capture_output=True,
                          text=True, timeout=timeout)


def _one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("atomnet: error: "), r.stderr
    return lines[0]


def _rows(path: Path) -> int:
    assert path.exists()
    con = sqlite3.connect(path)  # (mode=ro would leave the -wal and -shm files behind)
    try:
        return int(con.execute("SELECT count(*) FROM measurements").fetchone()[0])
    finally:
        con.close()


# --- 1. CSV values -----------------------------------------------------------------------------------------------

MAIN_CASES = [  # (row replacing PAD_ROW, column, what the message says)
    ('pad,,,80,5,5,,,80,7,7,0,0,"0,006",', "latency", f"{LATENCY_FORM}, got '0,006' (a decimal comma"),
    ("pad,,,80,5,5,,,80,7,7,0,0,inf,", "latency", f"{LATENCY_FORM}, got 'inf'"),
    ("pad,,,80,5,5,,,80,7,7,0,0,nan,", "latency", f"{LATENCY_FORM}, got 'nan'"),
    ("pad,,,80,5,5,,,80,7,7,0,0,1e999,", "latency",
     "latency 1e999 ms is outside the physical range 0 < latency < 1,000,000 ms (finite)"),
    ("pad,,,80,5,5,,,80,7,7,0,0,1e308,", "latency",
     "latency 1e308 ms is outside the physical range 0 < latency < 1,000,000 ms (finite)"),
    ("pad,,,80,5,5,,,80,7,7,0,0,0,", "latency", "latency 0 ms is outside the physical range 0 < latency"),
    ("pad,,,80,5,5,,,80,7,7,0,0,-0.006,", "latency", f"{LATENCY_FORM}, got '-0.006'"),
    ("pad,,,1e9,5,5,,,80,7,7,0,0,0.006,", "c_in", f"{INT_FORM}, got '1e9'"),
    ("pad,,,1000000000,5,5,,,80,7,7,0,0,0.006,", "c_in",
     "dimension 1000000000 is outside the physical range 1 … 65,536"),
    ("pad,,,65537,5,5,,,65537,7,7,0,0,0.006,", "c_out", "dimension 65537 is outside the physical range 1 … 65,536"),
    ("pad,,,80,5,5,,,80,7,7,9223372036854775808,0,0.006,", "MACs",
     "count 9223372036854775808 is outside the physical range 0 … 9,223,372,036,854,775,807"),
    ("pad,,,80,5,5,,,80,7,7,0,99999999999999999999999999,0.006,", "Flash",
     "count 99999999999999999999999999 is outside the physical range"),
    ('pad,,,80,5,5,,,80,7,7,"1,00",0,0.006,', "MACs", f"{INT_FORM}, got '1,00'"),
    ('pad,,,"8,0",5,5,,,80,7,7,0,0,0.006,', "c_in", f"{INT_FORM}, got '8,0'"),
    ("pad,,,80,5,5,,,80,7,7,0,1_000,0.006,", "Flash", f"{INT_FORM}, got '1_000'"),
    # a key measured nowhere else whose only measurement is inf (an IntegrityError in the aggregates before)
    ("conv2d,PointWise,1,81,7,7,1,1,480,7,7,1881600,40320,inf,", "latency", f"{LATENCY_FORM}, got 'inf'"),
]


def _main_file(tmp: Path, bad_row: str, good_rows: int = 3000) -> tuple[Path, int]:
    """The first ``good_rows`` lines of the real atomdb.csv, then ``bad_row``: (file, line of the bad row)."""
    real = (Path(__file__).resolve().parents[2] / "shared/atomdb/stm32h743/atomdb.csv").read_text().splitlines()
    lines = [*real[: good_rows + 1], bad_row]
    p = tmp / "atomdb.csv"
    p.write_text("\n".join(lines) + "\n")
    return p, len(lines)


@pytest.mark.parametrize(("row", "column", "needle"), MAIN_CASES, ids=[c[0][-40:] for c in MAIN_CASES])
def test_bad_value_in_process_names_file_line_column(tmp_path: Path, row: str, column: str, needle: str) -> None:
    from atomnet.db import ImportFormatError

    p, line = _main_file(tmp_path, row, good_rows=50)
    with pytest.raises(ImportFormatError) as ei:
        parse_atomnet_csv(p)
    assert str(ei.value).startswith(f"{p}:{line}: column '{column}': ") and needle in str(ei.value)
    db = AtomDB(tmp_path / "x.sqlite")
    with pytest.raises(ImportFormatError):
        db.import_atomnet_csv(p, board="stm32h743")
    assert db.conn.execute("SELECT count(*) FROM measurements").fetchone()[0] == 0
    assert db.conn.execute("SELECT count(*) FROM sources").fetchone()[0] == 0


@pytest.mark.parametrize("case", [0, 1, 4, 7, 10, 15], ids=["decimal-comma", "inf", "1e308", "c_in=1e9", "2^63",
                                                          "only-inf-key"])
def test_bad_value_cli_imports_nothing(tmp_path: Path, case: int) -> None:
    row, column, needle = MAIN_CASES[case]
    p, line = _main_file(tmp_path, row)
    db = tmp_path / "x.sqlite"
    msg = _one_line_error(_atomnet("--db", str(db), "db", "import", str(p), "--board", "stm32h743", tmp=tmp_path))
    assert msg.startswith(f"atomnet: error: {p}:{line}: column '{column}': ") and needle in msg
    assert not db.exists()  # parsed before anything is opened: nothing created, nothing imported


def test_decimal_comma_deep_in_the_real_file(tmp_path: Path, shared_dir: Path) -> None:
    """The finding as measured: '0,006' read as 6.0 ms. Now row 40,868 of the real file is an error, 0 rows."""
    lines = (shared_dir / "atomdb/stm32h743/atomdb.csv").read_text().splitlines(keepends=True)
    target = next(i for i, s in enumerate(lines) if i > 30000 and s.startswith(PAD_ROW))
    lines[target] = lines[target].replace(",0.006,", ',"0,006",')
    bad = tmp_path / "atomdb.csv"
    bad.write_text("".join(lines))
    db = tmp_path / "x.sqlite"
    msg = _one_line_error(_atomnet("--db", str(db), "db", "import", str(bad), "--board", "stm32h743", tmp=tmp_path))
    assert msg == (f"atomnet: error: {bad}:{target + 1}: column 'latency': {LATENCY_FORM}, got '0,006' "
                   "(a decimal comma or a thousands separator?)")
    assert not db.exists()


def test_se_values(tmp_path: Path) -> None:
    se = tmp_path / "atomdb_se.csv"
    se.write_text(f"{SE_HEADER}\n{SE_ROW}\n" + SE_ROW.replace(",47.679,", ',"47,679",') + "\n")
    msg = _one_line_error(_atomnet("--db", str(tmp_path / "x.sqlite"), "db", "import", str(se), "--board",
                                   "stm32h743", tmp=tmp_path))
    assert msg.startswith(f"atomnet: error: {se}:3: column 'latency': {LATENCY_FORM}, got '47,679'")
    # the strict separator form stays accepted in integer columns, also on dimensions
    se.write_text(f"{SE_HEADER}\n" + SE_ROW.replace("SE_C_1024_H_14,1024", 'SE_C_1024_H_14,"1,024"') + "\n")
    r = parse_atomnet_se_csv(se).rows[0]
    assert (r.op.c_in, r.macc, r.flash_bytes, r.latency_ms) == (1024, 928000, 529412, 47.679)
    se.write_text(f"{SE_HEADER}\n" + SE_ROW.replace("SE_C_1024_H_14,1024", "SE_C_1024_H_14,1e9") + "\n")
    with pytest.raises(ValueError, match=r"atomdb_se.csv:2: column 'c_in': expected an integer like"):
        parse_atomnet_se_csv(se)


def test_real_files_are_accepted_unchanged(shared_dir: Path) -> None:
    """The strict forms accept every value of the three public files (counts from ../shared/atomdb/README.md)."""
    d = shared_dir / "atomdb/stm32h743"
    assert len(parse_atomnet_csv(d / "atomdb.csv").rows) == 54078
    assert len(parse_atomnet_csv(d / "atomdb_v0.csv").rows) == 54078
    se = parse_atomnet_se_csv(d / "atomdb_se.csv").rows
    assert len(se) == 534 and max(r.latency_ms for r in se) == 47.679


def test_store_refuses_wrong_numbers_from_any_source(tmp_path: Path) -> None:
    """Rows that do not come from a CSV (campaigns, the import runner) are checked by the store as well."""
    db = AtomDB(tmp_path / "x.sqlite")
    op = Op.pointwise(81, 7, 7, 480)
    with db.transaction():
        sid = db.add_source(board="host", runtime="tflm", runtime_version="1", clock_mhz=None, fmt="t", path="p",
                            sha256="h")
    for lat, flash, needle in ((math.inf, 1, "latency inf ms"), (math.nan, 1, "latency nan ms"),
                               (0.0, 1, "latency 0.0 ms"), (1e308, 1, "latency 1e+308 ms"),
                               (1.0, 2**63, "flash_bytes 9223372036854775808"), (1.0, -1, "flash_bytes -1"),
                               (1.0, 1.5, "flash_bytes 1.5")):
        with pytest.raises(ValueError, match=re.escape(needle)):
            db.add_measurements(sid, "host", [ParsedRow(1, op, None, flash, None, lat)])  # type: ignore[arg-type]
    assert db.conn.execute("SELECT count(*) FROM measurements").fetchone()[0] == 0
    assert db.lookup(op, "host") is None
    with pytest.raises(ValueError, match="c_in=70000 over the physical range 1 … 65,536"):
        db.add_measurements(sid, "host", [ParsedRow(1, Op.pointwise(70000, 7, 7, 8), None, None, None, 1.0)])
    with pytest.raises(ValueError, match="clock"), db.transaction():
        db.add_source(board="host", runtime="tflm", runtime_version="1", clock_mhz=math.nan, fmt="t", path="p",
                      sha256="h2")


# --- 2. one transaction per command ------------------------------------------------------------------------------

def test_good_main_with_bad_se_imports_nothing(tmp_path: Path, shared_dir: Path) -> None:
    d = shared_dir / "atomdb/stm32h743"
    db = tmp_path / "x.sqlite"
    small = tmp_path / "small_se.csv"
    small.write_text(f"{SE_HEADER}\n{SE_ROW}\n")
    r = _atomnet("--db", str(db), "db", "import", str(small), "--board", "stm32h743", tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _rows(db) == 1
    bad_se = tmp_path / "bad_se.csv"
    with open(d / "atomdb_se.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[400][4] == "4"
    rows[400][4] = "4.5"  # reduction 4.5 on line 401
    with open(bad_se, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    msg = _one_line_error(_atomnet("--db", str(db), "db", "import", str(d / "atomdb.csv"), "--se", str(bad_se),
                                   "--board", "stm32h743", tmp=tmp_path))
    assert msg.startswith(f"atomnet: error: {bad_se}:401: column 'reduction': expected an integer")
    assert _rows(db) == 1  # not the 54,078 rows of the good main file


def test_failure_in_the_second_file_rolls_back_the_first(tmp_path: Path, shared_dir: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    d = shared_dir / "atomdb/stm32h743"
    parsed = [parse_atomnet_csv(d / "atomdb.csv"), parse_atomnet_se_csv(d / "atomdb_se.csv")]
    db = AtomDB(tmp_path / "x.sqlite")
    calls = []
    real = db._insert_rows

    def second_fails(source_id: int, board: str, rows: list[ParsedRow], campaign_keys: object = None) -> None:
        calls.append(len(rows))
        if len(calls) == 2:
            raise sqlite3.OperationalError("disk I/O error (simulated, while writing the second file)")
        real(source_id, board, rows, campaign_keys)  # type: ignore[arg-type]

    monkeypatch.setattr(db, "_insert_rows", second_fails)
    with pytest.raises(sqlite3.OperationalError):
        db.import_files(parsed, board="stm32h743")
    assert calls == [54078, 534]
    assert db.conn.execute("SELECT count(*) FROM measurements").fetchone()[0] == 0
    assert db.conn.execute("SELECT count(*) FROM sources").fetchone()[0] == 0
    monkeypatch.undo()
    res = db.import_files(parsed, board="stm32h743")
    assert [r.added for r in res] == [54078, 534]
    assert [r.already_imported for r in db.import_files(parsed, board="stm32h743")] == [True, True]


# --- 4. concurrency ----------------------------------------------------------------------------------------------

@pytest.fixture()
def small_db(tmp_path: Path, public_db_path: Path) -> Path:
    """A private copy of the imported public AtomDB (SQLite's backup API: consistent while others read it)."""
    path = tmp_path / "copy.sqlite"
    src, dst = sqlite3.connect(public_db_path), sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    return path


def _hold(db: Path, tmp: Path, seconds: float) -> subprocess.Popen[str]:
    script = tmp / "hold.py"
    script.write_text(HOLDER)
    p = subprocess.Popen([sys.executable, str(script), str(db), str(seconds)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline().strip() == "holding"
    return p


def _release(p: subprocess.Popen[str]) -> None:
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write("\n")
    p.stdin.close()
    assert p.wait(timeout=120) == 0


def test_readers_succeed_while_a_writer_holds_the_lock(small_db: Path, tmp_path: Path) -> None:
    rows = _rows(small_db)
    holder = _hold(small_db, tmp_path, 10.0)  # a write transaction (BEGIN IMMEDIATE + insert) for >= 10 s
    try:
        cost = _atomnet("--db", str(small_db), "cost", "atomnet-256kb", "--json", tmp=tmp_path)
        stats = _atomnet("--db", str(small_db), "db", "stats", "--json", tmp=tmp_path)
        query = _atomnet("--db", str(small_db), "db", "query", "pointwise", "--c-in", "80", "--h-in", "7",
                         "--c-out", "480", "--json", tmp=tmp_path)
        assert holder.poll() is None  # the write transaction was open during all three reads
        for r in (cost, stats, query):
            assert r.returncode == 0, r.stderr
        assert json.loads(cost.stdout)["ops_exact"] == 68  # priced from the database (68 of 69), not the fallback
        st = json.loads(stats.stdout)["boards"]
        assert "held" not in st and st["stm32h743"]["rows"] == rows  # the last committed state
        assert json.loads(query.stdout)["n"] == 55
        # a writer waits boundedly, then names the process holding the lock
        se = tmp_path / "se.csv"
        se.write_text(f"{SE_HEADER}\n" + SE_ROW.replace("SE_C_1024_H_14,1024", "SE_C_1024_H_14,1016") + "\n")
        msg = _one_line_error(_atomnet("--db", str(small_db), "db", "import", str(se), "--board", "stm32h743",
                                       tmp=tmp_path, ATOMNET_DB_TIMEOUT="0.5"))
        if sys.platform.startswith("linux"):
            assert f"database busy: process {holder.pid} (" in msg and "hold.py" in msg
        assert "holds its write lock; waited 0.5 s to write" in msg and "$ATOMNET_DB_TIMEOUT=SECONDS" in msg
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"  # it held >= 10 s
    finally:
        _release(holder)
    assert _rows(small_db) == rows
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("copy")) == ["copy.sqlite"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see when the writer is waiting")
def test_writer_waits_for_the_lock_then_succeeds(small_db: Path, tmp_path: Path) -> None:
    holder = _hold(small_db, tmp_path, 0.0)
    se = tmp_path / "se.csv"
    se.write_text(f"{SE_HEADER}\n" + SE_ROW.replace("SE_C_1024_H_14,1024", "SE_C_1024_H_14,1016") + "\n")
    try:
        w = subprocess.Popen([sys.executable, "-m", "atomnet", "--db", str(small_db), "db", "import", str(se),
                              "--board", "stm32h743"], env=_env(tmp_path, ATOMNET_DB_TIMEOUT="600"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while True:  # ready signal: the writer has the database open (it then waits for the lock)
            try:
                fds = [os.readlink(f"/proc/{w.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{w.pid}/fd")]
            except OSError:
                fds = []
            if str(small_db) in fds or w.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert w.poll() is None  # still waiting: the holder has the lock
    finally:
        _release(holder)
    out, err = w.communicate(timeout=600)
    assert w.returncode == 0, err
    assert "1 rows imported for stm32h743" in out


def test_two_imports_of_the_same_file_into_a_new_database(tmp_path: Path, shared_dir: Path) -> None:
    """8 trials of two processes importing the same file into a fresh path at once: one creates the database
    and imports, the other says 'already imported'; never a UNIQUE error or 'not an AtomDB'."""
    se = shared_dir / "atomdb/stm32h743/atomdb_se.csv"
    outcomes: collections.Counter[tuple[tuple[int, ...], int, int, int]] = collections.Counter()
    for trial in range(8):
        db = tmp_path / f"race{trial}.sqlite"
        procs = [subprocess.Popen([sys.executable, "-m", "atomnet", "--db", str(db), "db", "import", str(se),
                                   "--board", "stm32h743"], env=_env(tmp_path), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        res = [p.communicate(timeout=600) for p in procs]
        rcs = tuple(sorted(p.returncode for p in procs))
        assert rcs == (0, 0), res
        outcomes[(rcs, sum("534 rows imported for stm32h743" in o for o, _ in res),
                  sum("already imported for board stm32h743" in o for o, _ in res),
                  sum(f"created new AtomDB at {db}" in e for _, e in res))] += 1
        assert _rows(db) == 534
    assert outcomes == {((0, 0), 1, 1, 1): 8}


def test_readonly_open_never_writes(tmp_path: Path, small_db: Path) -> None:
    missing = tmp_path / "sub" / "none.sqlite"
    with pytest.raises(NoDatabaseError):
        AtomDB(missing, readonly=True)
    with pytest.raises(NoDatabaseError):
        AtomDB(missing, create=False)
    assert not (tmp_path / "sub").exists()
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with AtomDB(empty, readonly=True) as db:  # an empty file reads as an empty AtomDB, and stays empty
        assert db.boards() == [] and db.stats()["boards"] == {} and db.predictors_json("x") is None
    assert empty.stat().st_size == 0
    with AtomDB(small_db, readonly=True) as db:
        assert db.has_board("stm32h743")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.conn.execute("DELETE FROM measurements")
        with pytest.raises(RuntimeError, match="opened read-only"):
            db.transaction()
    assert _rows(small_db) == 54078 + 534


def test_busy_error_in_process(small_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    holder = _hold(small_db, tmp_path, 0.0)
    try:
        db = AtomDB(small_db, busy_timeout_s=0.2)
        with pytest.raises(DatabaseBusyError, match="holds its write lock"), db.transaction():
            pass
        assert db.has_board("stm32h743")  # reading still works
    finally:
        _release(holder)
    with db.transaction():  # and writing once the holder is done
        pass
    monkeypatch.setenv("ATOMNET_DB_TIMEOUT", "soon")
    with pytest.raises(ValueError, match=r"\$ATOMNET_DB_TIMEOUT='soon': expected seconds"):
        AtomDB(small_db)


# --- 6. database path and board rules ----------------------------------------------------------------------------

def test_missing_db_path_is_an_error_for_readers(tmp_path: Path) -> None:
    typo = tmp_path / "typo.sqlite"
    expected = f"atomnet: error: --db {typo}: no such AtomDB; create one with 'atomnet --db {typo} db import ...'"
    for argv in (["cost", "atomnet-256kb"], ["db", "stats"], ["db", "export", "--out", str(tmp_path / "o.csv")],
                 ["db", "query", "se", "--c-in", "64", "--h-in", "10"], ["db", "fit"],
                 ["search", "--sram", "256KB", "--flash", "1MB", "--no-progress"],
                 ["analyze", "--board", "stm32h743", "--out", str(tmp_path / "rep")]):
        assert _one_line_error(_atomnet("--db", str(typo), *argv, tmp=tmp_path)) == expected, argv
    env_msg = _one_line_error(_atomnet("cost", "atomnet-256kb", tmp=tmp_path, ATOMNET_DB=str(typo)))
    assert env_msg == (f"atomnet: error: $ATOMNET_DB={typo}: no such AtomDB; create one with 'atomnet --db {typo} "
                       "db import ...'")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing created, not even the default folder


def test_fresh_install_reads_without_creating(tmp_path: Path) -> None:
    r = _atomnet("cost", "atomnet-256kb", "--json", tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ops_exact"] == 0  # the embedded predictors
    r = _atomnet("db", "stats", tmp=tmp_path)
    assert r.returncode == 0 and "no AtomDB yet" in r.stdout
    r = _atomnet("db", "query", "se", "--c-in", "64", "--h-in", "10", "--json", tmp=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["source"] == "predicted"
    msg = _one_line_error(_atomnet("db", "fit", tmp=tmp_path))
    assert msg.startswith("atomnet: error: no AtomDB yet at the default")
    assert not (tmp_path / "xdg").exists()


def test_only_import_and_measure_create_and_say_so(tmp_path: Path) -> None:
    se = tmp_path / "se.csv"
    se.write_text(f"{SE_HEADER}\n{SE_ROW}\n")
    default = tmp_path / "xdg" / "atomnet" / "atomdb.sqlite"
    r = _atomnet("db", "import", str(se), "--board", "stm32h743", tmp=tmp_path)
    assert r.returncode == 0 and r.stderr == f"created new AtomDB at {default}\n"
    assert default.exists()
    r = _atomnet("db", "import", str(se), "--board", "stm32h743", tmp=tmp_path)
    assert r.returncode == 0 and r.stderr == "" and "already imported" in r.stdout
    r = _atomnet("db", "stats", "--json", tmp=tmp_path)
    assert json.loads(r.stdout)["boards"]["stm32h743"]["rows"] == 1
    before = sorted(p.name for p in default.parent.iterdir())
    assert _atomnet("cost", "atomnet-256kb", "--json", tmp=tmp_path).returncode == 0
    assert sorted(p.name for p in default.parent.iterdir()) == before == ["atomdb.sqlite"]  # no -wal/-shm left


def test_import_board_must_be_known(tmp_path: Path) -> None:
    se = tmp_path / "se.csv"
    se.write_text(f"{SE_HEADER}\n{SE_ROW}\n")
    db = tmp_path / "x.sqlite"
    msg = _one_line_error(_atomnet("--db", str(db), "db", "import", str(se), "--board", "stm32h743x", tmp=tmp_path))
    assert msg.startswith("atomnet: error: --board: unknown board 'stm32h743x'; known boards: stm32h743, ")
    assert "host" in msg and ".toml/.json board file" in msg
    msg = _one_line_error(_atomnet("--db", str(db), "db", "import", str(se), "--board", "stm32f746", tmp=tmp_path))
    assert "priced from the measurements of 'stm32h743'" in msg and "would never be used" in msg
    msg = _one_line_error(_atomnet("--db", str(db), "db", "import", str(se), "--board", "stm32h743",
                                   "--clock-mhz", "nan", tmp=tmp_path))
    assert msg == "atomnet: error: --clock-mhz: expected a positive clock in MHz, e.g. 400, got nan"
    assert not db.exists()
    board = tmp_path / "myboard.toml"
    board.write_text('name = "myboard"\ncore = "cortex-m7"\nclock_mhz = 480\nsram = "512KB"\nflash = "2MB"\n')
    r = _atomnet("--db", str(db), "db", "import", str(se), "--board", str(board), tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "1 rows imported for myboard" in r.stdout
    with AtomDB(db, readonly=True) as d:
        assert d.boards() == ["myboard"]


# --- 8. db measure: the bar only on a terminal; refused values fail the op, not the campaign --------------------

def _measure_files(tmp: Path) -> tuple[Path, Path]:
    pytest.importorskip("tflite_micro")
    from atomnet.measure import SweepEntry, Variant, write_sweep

    ops = [Op.pointwise(8, 4, 4, 16), Op.eltwise(8, 4, 4)]
    ops_file = tmp / "ops.jsonl"
    write_sweep([SweepEntry(op, Variant("CONV_2D" if op.kind == "pointwise" else "ADD"), 1, 1) for op in ops],
                ops_file)
    res = tmp / "results.jsonl"
    res.write_text(json.dumps({"op": ops[0].to_dict(), "latency_ms": [0.5, 0.52]}) + "\n"
                   + json.dumps({"op": ops[1].to_dict(), "latency_ms": [float("inf"), 0.1]}) + "\n")
    return ops_file, res


def test_measure_bar_only_on_a_terminal_and_refused_values(tmp_path: Path) -> None:
    ops_file, res = _measure_files(tmp_path)
    db = tmp_path / "m.sqlite"
    argv = ["--db", str(db), "db", "measure", str(ops_file), "--runner", "import", "--from", str(res), "--board",
            "host", "--repeats", "2", "--warmup", "0"]
    r = _atomnet(*argv, tmp=tmp_path)
    assert r.returncode == 1, r.stderr  # one op failed
    assert r.stderr == f"created new AtomDB at {db}\n"  # no progress bar into a pipe
    assert "1 operators measured (2 rows" in r.stdout and "failed: " in r.stdout and "latency inf ms" in r.stdout
    assert "IntegrityError" not in r.stdout
    with AtomDB(db, readonly=True) as d:
        assert d.lookup(Op.eltwise(8, 4, 4), "host") is None
        assert d.lookup(Op.pointwise(8, 4, 4, 16), "host").n == 2  # type: ignore[union-attr]
    # on a terminal the bar is drawn (a fresh database, so there is something to measure)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    p = subprocess.Popen([sys.executable, "-m", "atomnet", *argv[:1], str(tmp_path / "t.sqlite"), *argv[2:]],
                         env=_env(tmp_path), stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    chunks = []
    while True:
        try:
            b = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not b:
            break
        chunks.append(b)
    os.close(master)
    p.communicate(timeout=600)
    tty_err = b"".join(chunks).decode(errors="replace")
    assert p.returncode == 1 and re.search(r"measure host: +\d+%\|", tty_err), tty_err[-500:]  # tqdm's bar


# --- 7. other silently wrong numbers ---------------------------------------------------------------------------

def test_same_measurements_in_another_file_are_not_doubled(small_db: Path, shared_dir: Path, tmp_path: Path) -> None:
    """atomdb_v0.csv holds the same 54,078 measurements as atomdb.csv (other header, other order, other SHA-256):
    importing it after the current file used to double every count (n = 110 for the 55 repeats of 80→480)."""
    r = _atomnet("--db", str(small_db), "db", "import", str(shared_dir / "atomdb/stm32h743/atomdb_v0.csv"),
                 "--board", "stm32h743", tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{shared_dir / 'atomdb/stm32h743/atomdb_v0.csv'}: already imported for board "
                               f"stm32h743 (the same measurements as ")
    with AtomDB(small_db, readonly=True) as db:
        assert db.stats("stm32h743")["boards"]["stm32h743"]["rows"] == 54078 + 534
        assert db.lookup(Op.pointwise(80, 7, 7, 480), "stm32h743").n == 55  # type: ignore[union-attr]
