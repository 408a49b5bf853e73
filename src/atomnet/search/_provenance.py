"""What a search result depends on, as a journal header (DESIGN principle 4: provenance in every artifact).

A journal replays evaluations instead of recomputing them, so it may only be resumed by a run whose
evaluations would come out the same: same space (its full definition, hashed), classifier size, board
profile, runtime, limits, strategy with its options and seed, fitness, and latency source. The latency
source is fingerprinted by content — every exact per-key median the model prices with and its predictors —
so a second database with other numbers, or the embedded predictors instead of a database, is caught even
under the same file name, and a copied database still resumes. The stage tables themselves are hashed too:
with all of the above equal they differ only when the cost model did (another atomnet version).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from atomnet.boards import Board
from atomnet.cost import LatencyModel
from atomnet.jsontypes import JSONDict
from atomnet.search._combine import Limits
from atomnet.search._space import Space
from atomnet.search._tables import ResolutionTables

JOURNAL_FORMAT = "atomnet-search-journal"
JOURNAL_VERSION = 2


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canon(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


def space_fingerprint(space: Space) -> dict[str, str]:
    d = space.to_dict()
    d.pop("num_classes")  # recorded on its own, so a change is named as such
    return {"name": space.name, "sha256": _sha(_canon(d))}


def board_fingerprint(board: Board) -> dict[str, str]:
    return {"name": board.name, "sha256": _sha(_canon(board.to_dict()))}


def latency_source(lm: LatencyModel, db_path: str | None = None) -> dict[str, str]:
    """``{kind: "db"|"embedded", fingerprint, path}`` of the numbers ``lm`` prices with.

    ``kind`` is ``db`` when the database contributes exact rows or fitted predictors. The fingerprint
    hashes the measured board, the measurement runtime, the time scale, the board's transfer (if any), every
    exact key with its aggregate latency, and the predictors (their full JSON form); ``path`` is for messages only."""
    h = hashlib.sha256()
    h.update(_canon({"measured_board": lm.board.measured_board, "runtime": lm.runtime, "scale": lm.scale}))
    if lm.transfer is not None:  # per-kind factors (docs/transfer.md); absent for the reference: old hashes hold
        h.update(_canon({"transfer": lm.transfer.to_dict()}))
    from_db = lm.table is not None or lm.predictor_origin.startswith("fitted")
    if lm.table is not None:
        keys = sorted(lm.table.keys())
        h.update(np.asarray(keys, dtype=np.int64).tobytes())
        h.update(np.asarray(lm.table.lookup_keys(keys), dtype=np.float64).tobytes())
    h.update(_canon(lm.predictors.to_dict() if lm.predictors is not None else None))
    if from_db:
        path = db_path or "database"
    else:
        path = f"embedded predictors for {lm.board.measured_board}"
    return {"kind": "db" if from_db else "embedded", "fingerprint": h.hexdigest(), "path": path}


def tables_fingerprint(tables: Sequence[ResolutionTables]) -> str:
    h = hashlib.sha256()
    for t in tables:
        h.update(_canon(t.resolution))
        h.update(np.ascontiguousarray(t.base, dtype=np.float64).tobytes())
        for st in t.stages:
            h.update(np.ascontiguousarray(st.cost, dtype=np.float64).tobytes())
            h.update(np.ascontiguousarray(st.out_index, dtype=np.int64).tobytes())
    return h.hexdigest()


def search_header(*, space: Space, board: Board, runtime: str, limits: Limits, strategy: str, seed: int,
                  options: Mapping[str, object], latency: Mapping[str, object], tables: Sequence[ResolutionTables],
                  fitness: str = "macs", patch: Mapping[str, object] | None = None) -> JSONDict:
    """The journal header of a search run: everything its evaluations depend on (JSON-ready); ``patch`` (the
    ``--patch`` option and its confirmation cap) only when given, so older journals still resume."""
    extra: JSONDict = {"patch": dict(patch)} if patch is not None else {}
    return {**extra, "format": JOURNAL_FORMAT, "version": JOURNAL_VERSION,
            "space": space_fingerprint(space), "num_classes": space.num_classes,
            "board": board_fingerprint(board), "runtime": runtime, "limits": limits.to_dict(),
            "strategy": strategy, "seed": seed, "options": dict(sorted(options.items())), "fitness": fitness,
            "latency_source": dict(latency), "tables_sha256": tables_fingerprint(tables)}


# ---- comparing headers -------------------------------------------------------------------------
#: header keys in the order a difference is reported (the most telling first)
_ORDER = ("format", "version", "latency_source", "space", "num_classes", "board", "runtime", "limits", "strategy",
          "options", "seed", "fitness", "tables_sha256")


def _comparable(v: Any) -> Any:
    """A header value without its display-only parts (a database's path: a copy resumes)."""
    if isinstance(v, dict):
        return {k: _comparable(x) for k, x in v.items() if k != "path"}
    return v


def _show(key: str, v: Any) -> str:
    if v is None:
        return f"no {key.replace('_', ' ')}"
    if key == "latency_source" and isinstance(v, dict):
        return f"latency source {v.get('kind')}:{str(v.get('fingerprint'))[:12]}… ({v.get('path')})"
    if key in ("space", "board") and isinstance(v, dict):
        return f"{key} {v.get('name')} (definition {str(v.get('sha256'))[:12]}…)"
    if key == "limits" and isinstance(v, dict):
        return "limits " + ", ".join(f"{k}={'none' if x is None else f'{x:.12g}'}" for k, x in v.items()
                                     if isinstance(x, (int, float)) or x is None)
    if key == "tables_sha256":
        return f"cost tables {str(v)[:12]}…"
    if key == "options" and isinstance(v, dict):
        return "strategy options " + ", ".join(f"{k}={x}" for k, x in v.items())
    return f"{key.replace('_', ' ')} {v}"


def header_differences(old: Mapping[str, object], new: Mapping[str, object]) -> list[str]:
    """Keys whose values differ (display-only parts ignored), most telling first."""
    keys = [k for k in _ORDER if k in old or k in new] + sorted((set(old) | set(new)) - set(_ORDER))
    return [k for k in keys if _comparable(old.get(k)) != _comparable(new.get(k))]


def describe_mismatch(where: str, old: Mapping[str, object], new: Mapping[str, object]) -> str | None:
    """One line naming what changed between a journal's header and this run, or None when they agree."""
    diff = header_differences(old, new)
    if not diff:
        return None
    if new.get("format") == JOURNAL_FORMAT and (old.get("format"), old.get("version")) != (JOURNAL_FORMAT,
                                                                                            JOURNAL_VERSION):
        return (f"journal {where} was written by another atomnet version (no provenance header of format "
                f"{JOURNAL_FORMAT} v{JOURNAL_VERSION}): use a new journal")
    if len(diff) > 1 and "tables_sha256" in diff:
        diff.remove("tables_sha256")  # follows from the other differences; named only when it is the only one
    parts = []
    for k in diff:
        a, b = old.get(k), new.get(k)
        if k in ("limits", "options") and isinstance(a, dict) and isinstance(b, dict):  # only what changed
            sub = [x for x in sorted(set(a) | set(b)) if a.get(x) != b.get(x)]
            a, b = {x: a.get(x) for x in sub}, {x: b.get(x) for x in sub}
        hint = ""
        if k == "tables_sha256":
            hint = " (same space, board and latency source: the cost model changed, another atomnet version?)"
        parts.append(f"{_show(k, a)}; this run uses {_show(k, b)}{hint}")
    fix = "the same database" if diff[0] == "latency_source" else "the same options"
    return f"journal {where} was written with " + "; and with ".join(parts) + f": use a new journal or {fix}"
