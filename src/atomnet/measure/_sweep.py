"""Operator sweeps: the distinct atom operators (of a runtime's lowering) that a search space's architectures
use, with how many architectures need each, ordered so that a partial campaign covers the most first.

>>> from atomnet.search import get_space
>>> entries = sweep(get_space("hybrid"), limit=5)
>>> entries[0].count >= entries[-1].count
True
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atomnet.errors import InputError
from atomnet.measure._singleop import Variant, default_variant
from atomnet.ops import Op

SWEEP_SCHEMA = 1
_ENTRY_KEYS = {"schema", "op", "variant", "count", "archs", "in_db", "variants", "runtime", "macs"}


@dataclass(frozen=True)
class SweepEntry:
    """One operator to measure. ``count``: layers using it over the swept architectures; ``archs``: distinct
    architectures using it; ``variant``: the TFLite operator most of them run for this key (``eltwise`` keys
    stand for ADD, MUL and HARD_SWISH alike; ``variants`` keeps the split)."""

    op: Op
    variant: Variant
    count: int
    archs: int
    in_db: bool = False
    variants: tuple[tuple[str, int], ...] = ()
    runtime: str = "tflm"

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SWEEP_SCHEMA, "op": self.op.to_dict(), "variant": self.variant.to_dict(),
                "count": self.count, "archs": self.archs, "in_db": self.in_db,
                "variants": dict(self.variants), "runtime": self.runtime, "macs": self.op.macs}

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "entry") -> SweepEntry:
        unknown = set(d) - _ENTRY_KEYS
        if unknown:
            raise InputError(f"{where}: unknown field(s) {sorted(unknown)}; expected {sorted(_ENTRY_KEYS)}")
        if d.get("schema", SWEEP_SCHEMA) != SWEEP_SCHEMA:
            raise InputError(f"{where}: sweep schema {d.get('schema')!r}; this atomnet reads {SWEEP_SCHEMA}")
        if "op" not in d:
            raise InputError(f"{where}: missing field 'op' (an object with kind, c_in, h_in, …)")
        op = Op.from_dict(d["op"])
        v = d.get("variant") or {}
        return cls(op, Variant(str(v.get("tflite_op", "")), str(v.get("act", "none"))), int(d.get("count", 1)),
                   int(d.get("archs", 1)), bool(d.get("in_db", False)),
                   tuple((str(k), int(n)) for k, n in (d.get("variants") or {}).items()), str(d.get("runtime", "tflm")))


def _tflite_op(op: Op) -> str:
    """The TFLite operator of ``op`` for lowerings that name none (``tinyengine``, ``xcube-ai``): element-wise
    keys carry their function (ADD, MUL, HARD_SWISH), the other kinds have one operator each."""
    if op.kind == "eltwise":
        return op.eltwise_fn.upper()
    return default_variant(op).tflite_op


def space_specs(space: Any, *, limit: int | None, seed: int = 0, resolutions: Sequence[int] | None = None) -> list[Any]:
    """``limit`` seeded random architectures of ``space`` (all of them when ``limit`` is None and the space
    is small enough to enumerate), as ModelSpecs; ``resolutions`` restricts the input sizes."""
    from atomnet.spec import from_stage_config

    res_idx = list(range(len(space.resolutions)))
    if resolutions:
        bad = [r for r in resolutions if r not in space.resolutions]
        if bad:
            raise InputError(f"--resolutions: {bad} not in space {space.name!r} ({list(space.resolutions)})")
        res_idx = [space.resolutions.index(r) for r in resolutions]
    total = space.size() // len(space.resolutions) * len(res_idx)
    if limit is None:
        if total > 100_000:
            raise InputError(f"space {space.name!r} has {total:,} architectures; pass --limit N to sample N")
        pairs = [(r, c) for r, c in space.iter_all() if r in res_idx]
    else:
        rng = np.random.default_rng(seed)
        _, c = space.sample(rng, limit)
        r = rng.choice(res_idx, size=limit)
        pairs = list(zip(r.tolist(), c.tolist(), strict=True))
    return [from_stage_config(space.stage_config(r, c)) for r, c in pairs]


def sweep_specs(specs: Iterable[Any], *, runtime: str = "tflm", db: Any = None, board: str | None = None,
                missing_only: bool = False) -> list[SweepEntry]:
    """Distinct operators of ``runtime``'s lowering of ``specs`` (see :class:`SweepEntry`), most used first."""
    from atomnet.spec import lower

    count: Counter[tuple[int, ...]] = Counter()
    archs: Counter[tuple[int, ...]] = Counter()
    variants: dict[tuple[int, ...], Counter[tuple[str, str]]] = {}
    for spec in specs:
        seen = set()
        for layer in lower(spec, runtime).layers:
            k = layer.op.key
            count[k] += 1
            seen.add(k)
            act = layer.act if layer.act in ("relu", "relu6") else "none"
            variants.setdefault(k, Counter())[(layer.tflite_op or _tflite_op(layer.op), act)] += 1
        for k in seen:
            archs[k] += 1
    table = db.table(board) if db is not None and board and db.has_board(board) else None
    out = []
    for k in count:
        op = Op.from_key(k)
        have = table is not None and op in table
        if missing_only and have:
            continue
        (top, act), _ = variants[k].most_common(1)[0]
        split = Counter[str]()
        for (t, _a), n in variants[k].items():
            split[t] += n
        out.append(SweepEntry(op, Variant(top, act), count[k], archs[k], have, tuple(sorted(split.items())), runtime))
    # most architectures first; cheaper ops first among equals (a partial campaign gets further)
    out.sort(key=lambda e: (-e.archs, -e.count, e.op.macs, e.op.key))
    return out


def sweep(space: Any, *, limit: int | None = 1000, seed: int = 0, resolutions: Sequence[int] | None = None,
          runtime: str = "tflm", db: Any = None, board: str | None = None, missing_only: bool = False
          ) -> list[SweepEntry]:
    """Sweep ``limit`` seeded random architectures of ``space`` (see :func:`sweep_specs`)."""
    return sweep_specs(space_specs(space, limit=limit, seed=seed, resolutions=resolutions), runtime=runtime,
                       db=db, board=board, missing_only=missing_only)


def write_sweep(entries: Iterable[SweepEntry], path: str | Path) -> int:
    n = 0
    with open(path, "w") as f:
        for e in entries:
            f.write(json.dumps(e.to_dict()) + "\n")
            n += 1
    return n


def read_sweep(path: str | Path) -> list[SweepEntry]:
    """Entries of an ops file (``atomnet db sweep --out``); errors name the file and line."""
    out = []
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such ops file (write one with 'atomnet db sweep --out {p.name}')")
    for i, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(SweepEntry.from_dict(json.loads(line), f"{p}:{i}"))
        except json.JSONDecodeError as e:
            raise InputError(f"{p}:{i}: not JSON ({e.msg})") from None
        except (TypeError, ValueError) as e:
            raise InputError(str(e) if str(e).startswith(str(p)) else f"{p}:{i}: {e}") from None
    return out
