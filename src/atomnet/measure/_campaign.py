"""Resumable measurement campaigns: ops file → single-op models → runner → AtomDB, one commit per repeat.

Every timed repeat is one ``measurements`` row, committed in its own transaction with the campaign key
``k:<op key>#r<repeat>``; the database's unique index on ``(board, campaign_key)`` makes a repeat land at most
once. A campaign killed at any point (SIGKILL included: SQLite's WAL keeps every committed row) and run
again skips the repeats already stored and measures the rest — no lost and no duplicated rows
(DESIGN principle 7). Outliers among an op's repeats are flagged in the ``outlier`` column, not dropped.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from atomnet.db import AtomDB, ParsedRow
from atomnet.errors import InputError
from atomnet.measure._runners import Runner, flag_outliers
from atomnet.measure._singleop import get_builder
from atomnet.measure._sweep import SweepEntry
from atomnet.ops import Op


def campaign_key(op: Op, repeat: int) -> str:
    return "k:" + ",".join(str(v) for v in op.key) + f"#r{repeat}"


@dataclass
class CampaignResult:
    board: str
    runner: str
    source_id: int
    ops_total: int
    ops_measured: int = 0
    ops_skipped: int = 0  # already complete before this run
    rows_added: int = 0
    outliers: int = 0
    seconds: float = 0.0
    failed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ops_per_s(self) -> float:
        return self.ops_measured / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "ops_per_s": self.ops_per_s}


def _source_id(db: AtomDB, board: str, runner: Runner, label: str, digest: str) -> int:
    row = db.conn.execute("SELECT id FROM sources WHERE board=? AND sha256=?", (board, digest)).fetchone()
    if row:
        return int(row[0])
    with db.transaction():
        return db.add_source(board=board, runtime=runner.runtime, runtime_version=runner.runtime_version,
                             clock_mhz=runner.clock_mhz, fmt=f"campaign:{runner.name}", path=label, sha256=digest)


def campaign_digest(entries: Sequence[SweepEntry], runner: Runner, repeats: int) -> str:
    h = hashlib.sha256(f"{runner.name}|{runner.runtime}|{repeats}".encode())
    for e in entries:
        h.update(repr((e.op.key, e.variant.tflite_op, e.variant.act)).encode())
    return h.hexdigest()


def stored_repeats(db: AtomDB, board: str) -> dict[str, int]:
    """Campaign keys already stored for ``board`` (key → row id)."""
    return {r[0]: r[1] for r in db.conn.execute(
        "SELECT campaign_key, id FROM measurements WHERE board=? AND campaign_key LIKE 'k:%'", (board,))}


def _flag(db: AtomDB, board: str, op: Op, repeats: int) -> int:
    keys = [campaign_key(op, i) for i in range(repeats)]
    rows = db.conn.execute(f"SELECT id, latency_ms FROM measurements WHERE board=? AND campaign_key IN "
                           f"({','.join('?' * len(keys))})", (board, *keys)).fetchall()
    flags = flag_outliers([r[1] for r in rows])
    with db.transaction():
        db.conn.executemany("UPDATE measurements SET outlier=? WHERE id=?",
                            [(int(f), r[0]) for f, r in zip(flags, rows, strict=True)])
    return sum(flags)


def run_campaign(entries: Sequence[SweepEntry], runner: Runner, db: AtomDB, board: str, *, repeats: int = 5,
                 warmup: int = 3, builder: str = "direct", label: str = "<ops>", progress: bool = True,
                 limit: int | None = None, on_row: Callable[[str], None] | None = None) -> CampaignResult:
    """Measure ``entries`` (first ``limit``) with ``runner`` into ``db`` for ``board``; resumable (module doc).

    >>> from atomnet.measure import get_runner, read_sweep
    >>> res = run_campaign(read_sweep("ops.jsonl"), get_runner("tflm-host"), AtomDB("host.sqlite"),
    ...                    "host")  # doctest: +SKIP
    """
    from tqdm import tqdm

    if repeats < 1:
        raise InputError(f"repeats: expected at least 1, got {repeats}")
    todo = list(entries[:limit] if limit is not None else entries)
    seen_keys: set[tuple[int, ...]] = set()
    todo = [e for e in todo if not (e.op.key in seen_keys or seen_keys.add(e.op.key))]  # type: ignore[func-returns-value]
    sid = _source_id(db, board, runner, label, campaign_digest(todo, runner, repeats))
    res = CampaignResult(board, runner.name, sid, len(todo))
    have = stored_repeats(db, board)
    build = get_builder(builder)
    missing = {e.op.key: [i for i in range(repeats) if campaign_key(e.op, i) not in have] for e in todo}
    total = sum(len(v) for v in missing.values())
    t0 = time.perf_counter()
    bar = tqdm(total=total, unit="meas", desc=f"measure {board}", disable=not progress, file=sys.stderr,
               dynamic_ncols=True, smoothing=0.1)
    try:
        for e in todo:
            left = missing[e.op.key]
            if not left:
                res.ops_skipped += 1
                _flag(db, board, e.op, repeats)  # idempotent: a kill may have come between last row and flag
                continue
            try:
                session = runner.open(build(e.op, e.variant, 0), e.op, e.variant)
            except Exception as err:  # a runner/target refusing one op must not stop the campaign
                res.failed.append({"op": e.op.to_dict(), "error": f"{type(err).__name__}: {err}"})
                bar.update(len(left))
                continue
            try:
                session.warmup(warmup)
                for i in left:
                    try:
                        ms = session.repeat()
                    except Exception as err:  # rows stored so far stay; a re-run retries the rest
                        res.failed.append({"op": e.op.to_dict(), "error": f"{type(err).__name__}: {err}"})
                        bar.update(len(left) - left.index(i))
                        break
                    row = ParsedRow(i, e.op, e.op.macc, session.flash_bytes, session.sram_bytes, ms)
                    ck = campaign_key(e.op, i)
                    try:
                        db.add_measurements(sid, board, [row], campaign_keys=[ck])
                        res.rows_added += 1
                    except sqlite3.IntegrityError:  # another process stored this repeat meanwhile
                        pass
                    except ValueError as err:  # a value the store refuses (non-finite, out of range)
                        res.failed.append({"op": e.op.to_dict(), "error": str(err)})
                        bar.update(len(left) - left.index(i))
                        break
                    if on_row is not None:
                        on_row(ck)
                    bar.update(1)
            finally:
                session.close()
            res.outliers += _flag(db, board, e.op, repeats)
            res.ops_measured += not res.failed or res.failed[-1]["op"] != e.op.to_dict()
    finally:
        bar.close()
        res.seconds = time.perf_counter() - t0
    return res
