"""Board and runtime transfer models fitted on whole-model measurements (``docs/transfer.md``).

The rows of a board and runtime (AtomDB whole-model measurements, ``atomnet db import-models``) whose model
atomnet can price — a zoo model (ST model zoo rows through :func:`atomnet.zoo.match_row`, TinyEngine README nets
by name), a spec file, or a ``.tflite`` file (the MLPerf Tiny reference models, ``../shared/models/tflite``) —
are priced on the reference board (STM32H743, X-CUBE-AI AtomDB) per operator kind, and a
:class:`~atomnet.boards.Transfer` is fitted on them (:mod:`atomnet.cost.transfer`), with its leave-one-model-out
error. The built-in boards ship the transfers of :data:`BUILTIN_PLAN`, fitted on the public rows::

    python -m atomnet.calibrate --write      # regenerates src/atomnet/data/board_transfers.json

>>> version_family("7.3.0"), version_family("@713b6ed"), version_family(None)
('7.3', '@713b6ed', '')
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from atomnet.boards import REFERENCE_BOARD, REFERENCE_RUNTIME, Board, Transfer, get_board
from atomnet.cost import cost_model, load_latency_model
from atomnet.cost.transfer import LooError, TransferPoint, fit_transfer, fit_with_loo
from atomnet.db import AtomDB
from atomnet.errors import InputError
from atomnet.jsontypes import JSONDict

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
#: the MLPerf Tiny reference model of each benchmark (mlcommons/tiny, ``../shared/models/tflite/SOURCES.md``)
MLPERF_TFLITE = {"vww": "mlc_vww_96_int8.tflite", "ic": "mlc_ic_pretrainedResnet_quant.tflite",
                 "kws": "mlc_kws_ref_model.tflite", "ad": "mlc_ad01_int8.tflite"}
#: whole-model points that are not rows of ``measurements.json``: the AtomNet paper's calibration point on the
#: boards without other X-CUBE-AI rows (FACTS §2: Ours-256KB, int8, X-CUBE-AI 7.2), the point the single
#: factor of ``atomnet.boards`` was fitted on: (row id, board, runtime, version, zoo model, latency ms)
FACTS_POINTS: tuple[tuple[str, str, str, str, str, float], ...] = (
    ("FACTS§2:atomnet-256kb@stm32f746", "stm32f746", "xcube-ai", "7.2", "atomnet-256kb", 626.0),
    ("FACTS§2:atomnet-256kb@stm32f412", "stm32f412", "xcube-ai", "7.2", "atomnet-256kb", 2124.0),
)
#: the shipped transfers, fitted in this order: (board, runtime, prior transfer "board/runtime" or "", version
#: family preferred for costing ("": the fit on every version), why). A prior ``shape:B/R@{v}`` is the group shape
#: fitted (λ = :data:`SHAPE_STRENGTH`) on board B's rows of runtime R and the same version family: the MLPerf
#: boards have three priceable models each (AD, IC, VWW), too few to fit a shape on their own rows and test it,
#: but X-CUBE-AI's kernels keep their relative speeds from board to board. X-CUBE-AI: 7.3, the version next to the
#: reference's 7.2 (the factor is then the board's, not a newer version's kernels: ST's own MLPerf VWW entries of
#: 8.1+ are 2x faster on the same board, NOTES.md §5); F746 TFLM: @713b6ed, the H743 column's version (its
#: v2.1.0 rows are 3.6x faster)
BUILTIN_PLAN: tuple[tuple[str, str, str, str, str], ...] = (
    ("stm32h743", "tflm", "", "", "TinyEngine README, H743 column"),
    ("stm32h743", "cmsis-nn", "", "", "TinyEngine README, H743 column"),
    ("stm32h743", "tinyengine", "", "", "TinyEngine README, H743 column"),
    ("stm32h747", "xcube-ai", "", "7.3", "ST model zoo"),
    ("stm32f769", "xcube-ai", "", "7.3", "ST model zoo"),
    ("stm32h7a3", "xcube-ai", "shape:stm32l4r5/xcube-ai@{v}", "7.3", "MLPerf Tiny; prior shape: the L4R5's rows"),
    ("stm32l4r5", "xcube-ai", "shape:stm32h7a3/xcube-ai@{v}", "7.3", "MLPerf Tiny; prior shape: the H7A3's rows"),
    ("stm32l4r5", "tflm", "", "", "MLPerf Tiny reference submission"),
    ("stm32u575", "xcube-ai", "shape:stm32h7a3/xcube-ai@{v}", "7.3", "MLPerf Tiny; prior shape: the H7A3's rows"),
    ("stm32f746", "xcube-ai", "stm32f769/xcube-ai", "", "FACTS §2 point; prior shape: the F769's (same core, clock)"),
    ("stm32f746", "tinyengine", "stm32h743/tinyengine", "", "TinyEngine README, F746 table; prior shape: the H743's"),
    ("stm32f746", "tflm", "stm32h743/tflm", "@713b6ed", "TinyEngine README, F746 table; prior shape: the H743's"),
    ("stm32f746", "cmsis-nn", "stm32h743/cmsis-nn", "", "TinyEngine README, F746 table; prior shape: the H743's"),
    ("stm32f412", "xcube-ai", "stm32l4r5/xcube-ai", "", "FACTS §2 point; prior shape: the L4R5's (Cortex-M4F)"),
)
#: ridge weight of a prior shape fitted on another board's rows: nearly free group factors (what that board's
#: rows say); how well the shape transfers is measured by this board's leave-one-out
SHAPE_STRENGTH = 1e-3
#: unpriced .tflite operators left out of a reference latency: (operator, at most this many output elements) — a
#: classifier's softmax over a few classes costs microseconds next to the milliseconds of the model
NEGLIGIBLE_OPS = {"SOFTMAX": 128}
_CMSIS = re.compile(r"CMSIS-NN", re.IGNORECASE)
_OTHER_RUNTIME = re.compile(r"TF-?Lite|TensorFlow|TinyEngine|X-CUBE|Cube\.AI", re.IGNORECASE)


class ModelRow(Protocol):
    """What a whole-model row needs for a transfer fit (:class:`atomnet.db.ModelMeasurement` has it)."""

    @property
    def family(self) -> str: ...
    @property
    def row_index(self) -> int: ...
    @property
    def board(self) -> str | None: ...
    @property
    def mcu(self) -> str | None: ...
    @property
    def runtime(self) -> str | None: ...
    @property
    def runtime_as_printed(self) -> str | None: ...
    @property
    def runtime_version(self) -> str | None: ...
    @property
    def model(self) -> str: ...
    @property
    def model_kind(self) -> str: ...
    @property
    def plan(self) -> str | None: ...
    @property
    def latency_ms(self) -> float | None: ...
    @property
    def clock_mhz(self) -> float | None: ...
    def raw_row(self) -> JSONDict: ...


@dataclass(frozen=True)
class Skipped:
    """A row of the board and runtime that was not fitted on, and why."""

    row_id: str
    model: str
    reason: str


@dataclass(frozen=True)
class Calibration:
    """One fitted transfer with its points, leave-one-model-out errors and the rows left out."""

    board: str
    transfer: Transfer
    points: tuple[TransferPoint, ...]
    errors: tuple[LooError, ...]
    skipped: tuple[Skipped, ...] = ()
    duplicates: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> JSONDict:
        return {"board": self.board, "transfer": self.transfer.to_dict(),
                "loo": [{"row": e.row_id, "model": e.model, "version": e.version, "measured_ms": e.measured_ms,
                         "estimate_ms": round(e.estimate_ms, 4), "error": round(e.error, 5),
                         "prior_strength": e.prior_strength} for e in self.errors],
                "skipped": [{"row": s.row_id, "model": s.model, "reason": s.reason} for s in self.skipped],
                "duplicates": {k: list(v) for k, v in self.duplicates.items()}}


def version_family(version: str | None) -> str:
    """``major.minor`` of a dotted version (``7.3.0`` → ``7.3``), a commit (``@713b6ed``) as is, None → ""."""
    if not version:
        return ""
    m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)*", version.strip())
    return f"{m[1]}.{m[2]}" if m else version.strip()


def row_id(row: ModelRow) -> str:
    return f"{row.family}[{row.row_index}]"


def row_runtime(row: ModelRow) -> str | None:
    """The runtime a row measured: its atomnet runtime, or ``cmsis-nn`` for a printed CMSIS-NN runtime that
    names no other family (``TFLite Micro + CMSIS-NN kernels`` names two and is none)."""
    if row.runtime:
        return row.runtime
    printed = row.runtime_as_printed or ""
    return "cmsis-nn" if _CMSIS.search(printed) and not _OTHER_RUNTIME.search(printed) else None


def row_on_board(row: ModelRow, board: str) -> bool:
    return row.board == board or (row.board is None and row.mcu == board)


@dataclass(frozen=True)
class ModelRef:
    """What prices a row's model: a zoo name or spec file (``kind`` "spec"), or a ``.tflite`` path."""

    kind: str
    name: str


def model_ref(row: ModelRow, tflite_dir: Path | None = None) -> ModelRef | str:
    """The model a row measures, or the reason atomnet cannot price it."""
    from atomnet.spec import load_spec
    from atomnet.zoo import ZOO, match_row, only_in_tinyops_families

    raw = row.raw_row()
    if row.family == "stm32ai_modelzoo":
        m = match_row(raw)
        return ModelRef("spec", m.name) if m.name else f"no zoo spec: {m.reason}"
    if row.family == "mlperf_tiny":
        bench = str(raw.get("benchmark", ""))
        if bench not in MLPERF_TFLITE:
            return f"MLPerf benchmark {bench!r} has no reference .tflite here"
        path = (tflite_dir or SHARED / "models" / "tflite") / MLPERF_TFLITE[bench]
        return ModelRef("tflite", str(path)) if path.exists() else f"{path} is missing"
    if row.model_kind == "tflite":
        return ModelRef("tflite", row.model) if Path(row.model).exists() else f"{row.model}: no such .tflite file"
    name = str(raw.get("net_id_current_name") or row.model).split(" (")[0]
    if only_in_tinyops_families(name):  # the TinyOps width/resolution families are not fitted on (see there)
        return f"no zoo model {name!r} outside the TinyOps families"
    try:
        spec = load_spec(name, catalog=ZOO)
    except (InputError, KeyError, OSError) as e:
        return f"no zoo model or spec file {name!r} ({str(e).splitlines()[0][:80]})"
    # the canonical name: aliases (proxyless-w0.3 = proxyless-w0.3-r176) are one model, held out together
    return ModelRef("spec", name if Path(name).is_file() else spec.name)


class ReferencePricer:
    """Reference latency per operator kind of a model (cached per model): ``cost_model`` of a spec on the
    reference board, or the ``.tflite`` cost (a file with unpriced operators has no reference)."""

    def __init__(self, db: AtomDB | None, reference: str = REFERENCE_BOARD) -> None:
        self.board = get_board(reference)
        self.lm = load_latency_model(self.board, db)
        self.db = db
        self._cache: dict[ModelRef, dict[str, float] | str] = {}

    def by_kind(self, ref: ModelRef) -> dict[str, float] | str:
        if ref not in self._cache:
            self._cache[ref] = self._price(ref)
        return self._cache[ref]

    def _price(self, ref: ModelRef) -> dict[str, float] | str:
        if ref.kind == "tflite":
            from atomnet.export import cost_tflite

            try:
                c = cost_tflite(ref.name, self.board, runtime=REFERENCE_RUNTIME, latency_model=self.lm)
            except (InputError, ImportError) as e:
                return f"{Path(ref.name).name}: cannot cost the file ({e})"
            shapes = {ly.name: ly.out_shape for ly in c.layers}
            blocking = sorted({op for name, op, _ in c.unpriced
                               if op not in NEGLIGIBLE_OPS or math.prod(shapes.get(name, ())) > NEGLIGIBLE_OPS[op]})
            if blocking:
                return f"{Path(ref.name).name}: operators the reference cannot price: {', '.join(blocking)}"
            return dict(c.latency_by_kind_ms)
        from atomnet.spec import load_spec
        from atomnet.zoo import ZOO

        return dict(cost_model(load_spec(ref.name, catalog=ZOO), self.board, latency_model=self.lm).latency_by_kind_ms)


def facts_rows(board: str, runtime: str) -> list[tuple[str, str, str, float]]:
    """(row id, version, zoo model, ms) of :data:`FACTS_POINTS` for a board and runtime."""
    return [(rid, v, m, ms) for rid, b, r, v, m, ms in FACTS_POINTS if b == board and r == runtime]


_Candidate = tuple[str, str, "ModelRef | str", float, str]  # row id, printed model, model or reason, ms, version


def _candidates(rows: Iterable[ModelRow], b: Board, runtime: str, version: str, tflite_dir: Path | None,
                facts: bool) -> list[_Candidate]:
    out: list[_Candidate] = []
    for r in rows:
        if not row_on_board(r, b.name) or row_runtime(r) != runtime or r.latency_ms is None:
            continue
        vf = version_family(r.runtime_version)
        if version and vf != version:
            continue
        ref: ModelRef | str
        if r.plan:
            ref = f"executed {r.plan}, not layer by layer in internal memory"
        elif r.clock_mhz and b.clock_mhz and abs(r.clock_mhz - b.clock_mhz) > 0.5:
            ref = f"measured at {r.clock_mhz:g} MHz; the board profile runs at {b.clock_mhz:g} MHz"
        else:
            ref = model_ref(r, tflite_dir)
        out.append((row_id(r), r.model, ref, r.latency_ms, vf))
    for rid, vf, m, ms in facts_rows(b.name, runtime) if facts else ():
        if not version or vf == version:
            out.append((rid, m, ModelRef("spec", m), ms, vf))
    return out


def transfer_points(rows: Iterable[ModelRow], board: Board | str, runtime: str, pricer: ReferencePricer, *,
                    version: str = "", tflite_dir: Path | None = None, facts: bool = True,
                    ) -> tuple[list[TransferPoint], list[Skipped], dict[str, tuple[str, ...]]]:
    """The priced points of ``board`` and ``runtime`` (``version``: that version family only), the rows left
    out with the reason, and duplicates (a row repeating another's board, runtime, version, model and latency,
    as the TinyEngine README's older table repeats the current one: counted once, under the first row).
    ``facts``: add the :data:`FACTS_POINTS` of the board and runtime."""
    b = get_board(board) if isinstance(board, str) else board
    points: list[TransferPoint] = []
    skipped: list[Skipped] = []
    seen: dict[tuple[str, str, float], str] = {}
    dups: dict[str, list[str]] = {}
    for rid, printed, ref, ms, vf in _candidates(rows, b, runtime, version, tflite_dir, facts):
        if isinstance(ref, str):
            skipped.append(Skipped(rid, printed, ref))
            continue
        key = (vf, ref.name, ms)
        if key in seen:
            dups.setdefault(seen[key], []).append(rid)
            continue
        priced = pricer.by_kind(ref)
        if isinstance(priced, str):
            skipped.append(Skipped(rid, printed, priced))
            continue
        seen[key] = rid
        points.append(TransferPoint(rid, Path(ref.name).name, ms, priced, vf))
    return points, skipped, {k: tuple(v) for k, v in dups.items()}


def calibrate(rows: Sequence[ModelRow], board: Board | str, runtime: str, pricer: ReferencePricer, *,
              version: str = "", prior: Transfer | None = None, prior_name: str = "", facts: bool = True,
              tflite_dir: Path | None = None, source: str = "") -> Calibration:
    """Fit the transfer of ``runtime`` on ``board``'s rows, with its leave-one-model-out errors."""
    b = get_board(board) if isinstance(board, str) else board
    points, skipped, dups = transfer_points(rows, b, runtime, pricer, version=version, tflite_dir=tflite_dir,
                                            facts=facts)
    if not points:
        why = "; ".join(f"{s.row_id} {s.model}: {s.reason}" for s in skipped[:3])
        raise InputError(f"board {b.name}, runtime {runtime}{'@' + version if version else ''}: no whole-model "
                         f"row atomnet can price" + (f" ({why})" if why else " (import rows with "
                                                     "'atomnet db import-models FILE')"))
    t, errs = fit_with_loo(points, runtime, version=version, prior=prior, prior_name=prior_name, source=source)
    return Calibration(b.name, t, tuple(points), tuple(errs), tuple(skipped), dups)


class PriorResolver:
    """The prior transfer a plan's prior text names, for one version family: "" (flat), ``B/R`` (board B's first
    transfer of runtime R: ``fitted`` if given, else the shipped one) or ``shape:B/R@{v}`` (:func:`shape_prior`)."""

    def __init__(self, rows: Sequence[ModelRow], pricer: ReferencePricer, tflite_dir: Path | None = None,
                 fitted: Mapping[str, Transfer] | None = None) -> None:
        self.rows, self.pricer, self.tflite_dir, self.fitted = rows, pricer, tflite_dir, fitted

    def __call__(self, text: str, version: str = "") -> tuple[Transfer | None, str]:
        if not text or text == "flat":
            return None, ""
        if text.startswith("shape:"):
            target, _, v = text.removeprefix("shape:").partition("@")
            v = v.replace("{v}", version)
            board, _, runtime = target.partition("/")
            name = f"shape:{target}" + (f"@{v}" if v else "")
            return shape_prior(self.rows, board, runtime, v, self.pricer, self.tflite_dir), name
        board, _, runtime = text.partition("/")
        if not runtime:
            raise InputError(f"prior {text!r}: expected BOARD/RUNTIME, shape:BOARD/RUNTIME@VERSION or 'flat'")
        if self.fitted is not None:
            return self.fitted.get(text), text
        return get_board(board).transfer_for(runtime), text


def shape_prior(rows: Sequence[ModelRow], board: str, runtime: str, version: str, pricer: ReferencePricer,
                tflite_dir: Path | None = None) -> Transfer | None:
    """The group shape of ``board``'s rows (``version`` family, "" = all) fitted with λ = :data:`SHAPE_STRENGTH`;
    None when they hold fewer than two models."""
    pts, _, _ = transfer_points(rows, board, runtime, pricer, version=version, tflite_dir=tflite_dir)
    if len({p.model for p in pts}) < 2:
        return None
    return fit_transfer(pts, runtime, version=version, prior_strength=SHAPE_STRENGTH,
                        source=f"shape of {board}/{runtime}" + (f"@{version}" if version else ""))


def calibrate_runtime(rows: Sequence[ModelRow], board: Board | str, runtime: str, pricer: ReferencePricer, *,
                      prior: str = "", resolve: PriorResolver | None = None, preferred: str = "",
                      facts: bool = True, tflite_dir: Path | None = None, source: str = "") -> list[Calibration]:
    """The transfers of one board and runtime: one fitted on every version, and one per version family with at
    least two models when the rows hold several — each with the prior ``prior`` names for its version
    (:class:`PriorResolver`; never the fit on every version: its shape saw the rows a version's leave-one-out
    holds out). ``preferred``: that version's fit first (the one costing uses), else the fit on every version."""
    b = get_board(board) if isinstance(board, str) else board
    res = resolve or PriorResolver(rows, pricer, tflite_dir)

    def one(version: str, src: str) -> Calibration:
        p, name = res(prior, version)
        return calibrate(rows, b, runtime, pricer, version=version, prior=p, prior_name=name if p else "",
                         facts=facts, tflite_dir=tflite_dir, source=src)

    pooled = one("", source)
    families = sorted({p.version for p in pooled.points if p.version})
    per_version = [one(vf, f"{source}; version {vf} only") for vf in (families if len(families) > 1 else ())
                   if len({p.model for p in pooled.points if p.version == vf}) >= 2]
    if not preferred or (preferred in families and len(families) == 1):
        return [pooled, *per_version]
    first = [c for c in per_version if c.transfer.version == preferred]
    if not first:
        raise InputError(f"board {b.name}, runtime {runtime}: no rows of version {preferred!r} with two models "
                         f"(versions: {', '.join(families) or 'none'})")
    return [first[0], pooled, *(c for c in per_version if c is not first[0])]


def builtin_calibrations(db: AtomDB, rows: Sequence[ModelRow], tflite_dir: Path | None = None,
                         ) -> list[Calibration]:
    """The transfers of :data:`BUILTIN_PLAN` on ``rows`` (:func:`calibrate_runtime` each, in the plan's order,
    a ``B/R`` prior being the first transfer just fitted for that board and runtime)."""
    pricer = ReferencePricer(db)
    fitted: dict[str, Transfer] = {}
    resolve = PriorResolver(rows, pricer, tflite_dir, fitted)
    out: list[Calibration] = []
    for board, runtime, prior, preferred, why in BUILTIN_PLAN:
        try:
            cals = calibrate_runtime(rows, board, runtime, pricer, prior=prior, resolve=resolve,
                                     preferred=preferred, tflite_dir=tflite_dir, source=why)
        except InputError:
            continue
        fitted[f"{board}/{runtime}"] = cals[0].transfer
        out.extend(cals)
    return out


def plan_prior(board: str, runtime: str) -> str:
    """The prior :data:`BUILTIN_PLAN` gives a board and runtime ("" when none)."""
    return next((p for b, r, p, _, _ in BUILTIN_PLAN if b == board and r == runtime), "")


def shipped_file(calibrations: Sequence[Calibration]) -> JSONDict:
    """The content of ``atomnet/data/board_transfers.json``."""
    boards: dict[str, list[JSONDict]] = {}
    details: dict[str, dict[str, JSONDict]] = {}
    for c in calibrations:
        boards.setdefault(c.board, []).append(c.transfer.to_dict())
        d = c.to_dict()
        details.setdefault(c.board, {})[c.transfer.key] = {k: d[k] for k in ("loo", "skipped", "duplicates")}
    return {"schema": 1, "generated_by": "python -m atomnet.calibrate --write",
            "reference": {"board": REFERENCE_BOARD, "runtime": REFERENCE_RUNTIME,
                          "atomdb": "../shared/atomdb/stm32h743/atomdb.csv + atomdb_se.csv"},
            "rows": "../shared/published/measurements.json (family[index]) and atomnet.calibrate.FACTS_POINTS",
            "boards": boards, "details": details}


def shipped_details(board: str, key: str) -> JSONDict | None:
    """The shipped per-row leave-one-out errors, skipped rows and duplicates of one transfer (None if absent)."""
    from importlib import resources

    try:
        data = json.loads(resources.files("atomnet").joinpath("data/board_transfers.json").read_text())
    except (FileNotFoundError, OSError):
        return None
    d = data.get("details", {}).get(board, {}).get(key)
    return d if isinstance(d, dict) else None


def public_rows(published: Path | None = None) -> list[ModelRow]:
    """The rows of ``measurements.json`` as an AtomDB import reads them (a throwaway in-memory database)."""
    with AtomDB(":memory:") as db:
        db.import_model_measurements(published or SHARED / "published" / "measurements.json")
        return list(db.model_measurements())


def public_db(path: Path) -> AtomDB:
    """An AtomDB with the public STM32H743 operator rows (built at ``path`` when it does not exist)."""
    if not path.exists():
        with AtomDB(path) as db:
            db.import_atomnet_csv(SHARED / "atomdb/stm32h743/atomdb.csv", board=REFERENCE_BOARD)
            db.import_atomnet_se_csv(SHARED / "atomdb/stm32h743/atomdb_se.csv", board=REFERENCE_BOARD)
    return AtomDB(path)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m atomnet.calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=Path, default=Path("/tmp/atomnet-public-atomdb.sqlite"),
                    help="AtomDB with the public H743 rows (built there if missing)")
    ap.add_argument("--write", action="store_true", help="write src/atomnet/data/board_transfers.json")
    args = ap.parse_args(argv)
    with public_db(args.db) as db:
        cals = builtin_calibrations(db, public_rows())
    data = shipped_file(cals)
    if args.write:
        (Path(__file__).parent / "data" / "board_transfers.json").write_text(json.dumps(data, indent=1) + "\n")
    for c in cals:
        t, s = c.transfer, c.transfer.loo
        loo = f"LOO median {s.median_abs:.1%} max {s.max_abs:.1%}" if s else "no LOO"
        print(f"{c.board:10s} {t.key:22s} n={len(c.points):2d} {dict(t.factors)} level {t.level:.4g} "
              f"lambda {t.prior_strength} {loo}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
