"""Which model, board and runtime atomnet prices a stored whole-model measurement with, or why none.

* **Model** — a zoo spec or a public ``.tflite`` file:

  - ST model zoo rows (``stm32ai_modelzoo*``): :func:`atomnet.zoo.match_row` on the source row (the Keras
    MobileNet / FD-MobileNet families; SqueezeNet, ResNet v1, the ST custom nets have no spec: its reason);
  - TinyEngine README and mcunet model-list rows: the net id (``mcunet-in2``, an old id ``mcunet-256kB``, or the
    row's ``net_id_current_name``) looked up in the zoo (:func:`atomnet.zoo.resolve_zoo`);
  - MCUNetV2 paper rows: the two baselines its Table 2 names unambiguously (:data:`PAPER_NAMES`);
  - MLPerf Tiny rows: the benchmark's reference model, a public file in the ``.tflite`` folder
    (:data:`TFLITE_OF_BENCHMARK`; closed-division results run the reference model);
  - a user row whose ``model_kind`` is ``zoo`` / ``tflite`` / ``spec``: that zoo name / file / spec file.

* **Board** — the row's atomnet board (:func:`atomnet.boards.get_board`), else the row is not priced.
* **Runtime** — the row's registered runtime; a CMSIS-NN row (TFLite Micro with the CMSIS-NN kernels) is
  priced with TFLite Micro's memory and Flash model and its own latency only where a transfer exists.
  Rows executed by a plan atomnet does not model (``patch-based``, ``tinyops``) are not priced.

Every unpriced row has a :class:`Resolution` with ``category`` (a short key counted per board and runtime) and
``reason`` (the full sentence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from atomnet.boards import get_board
from atomnet.cost import DEFAULT_XCUBE_FAMILY, xcube_family
from atomnet.db import ModelMeasurement
from atomnet.errors import InputError
from atomnet.runtimes import list_runtimes
from atomnet.zoo import match_row, only_in_tinyops_families, resolve_zoo

#: MLPerf Tiny benchmark → its reference model as published in mlcommons/tiny (``../shared/models/tflite``)
TFLITE_OF_BENCHMARK: dict[str, str] = {
    "ad": "mlc_ad01_int8.tflite",
    "ic": "mlc_ic_pretrainedResnet_quant.tflite",
    "kws": "mlc_kws_ref_model.tflite",
    "vww": "mlc_vww_96_int8.tflite",
}
#: MCUNetV2 paper model names that name exactly one zoo model (the paper's ``MCUNet (TinyNAS)`` rows do not)
PAPER_NAMES: dict[str, str] = {
    "MbV2 0.35x (r=144)": "mbv2-w0.35-r144",
    "Proxyless 0.3x (r=176)": "proxyless-w0.3-r176",
}
#: the default folder of the MLPerf Tiny reference ``.tflite`` files (relative to the working directory)
DEFAULT_TFLITE_DIR = Path("../shared/models/tflite")
#: the runtime a CMSIS-NN row is priced as (memory and Flash), and the latency key its transfer is stored under
CMSIS_NN = "cmsis-nn"
CMSIS_NN_AS = "tflm"

#: unpriced categories (keys of the counts), in the order the report lists them
CATEGORIES: dict[str, str] = {
    "no-spec": "no spec of the architecture",
    "no-file": "reference .tflite file not found",
    "board-unknown": "board not in atomnet",
    "runtime-unknown": "runtime not modelled",
    "plan-not-modelled": "execution plan not modelled",
    "not-priced": "an operator or quantity nothing prices",
}
_CMSIS = re.compile(r"CMSIS-NN", re.IGNORECASE)
_PAREN = re.compile(r"\s*\([^)]*\)\s*$")


@dataclass(frozen=True)
class Resolution:
    """How one row is priced: ``model`` (``model_kind`` "spec": a zoo name or a spec file; "tflite": a path),
    ``board``, ``runtime`` (the registered runtime whose lowering, planner and Flash model price memory),
    ``latency_runtime`` (the runtime key of its latency: ``runtime``, or ``cmsis-nn``), ``how`` (how the model
    was found). Unpriced: ``category`` (one of :data:`CATEGORIES`) and ``reason``."""

    row_id: str
    model: str | None = None
    model_kind: str | None = None
    board: str | None = None
    runtime: str | None = None
    latency_runtime: str | None = None
    how: str = ""
    category: str | None = None
    reason: str = ""

    @property
    def priced(self) -> bool:
        return self.category is None


def row_id(m: ModelMeasurement) -> str:
    """``family[index]``: the row's place in its source file (the id fitted components list)."""
    return f"{m.family}[{m.row_index}]"


def _zoo_name(names: list[str]) -> str | None:
    for n in names:
        if not n:
            continue
        for cand in (n, _PAREN.sub("", n)):
            z = resolve_zoo(cand)
            if z is not None and not only_in_tinyops_families(z):  # see atomnet.zoo.only_in_tinyops_families
                return z
    return None


def _model(m: ModelMeasurement, tflite_dir: Path) -> tuple[str, str, str] | tuple[None, str, str]:
    """(model, kind, how) or (None, category, reason)."""
    raw = m.raw_row()
    if m.model_kind in ("zoo", "spec"):  # a user row naming a zoo model or a spec file
        return m.model, "spec", f"the row's {m.model_kind} {m.model!r}"
    if m.family.startswith("stm32ai_modelzoo"):
        r = match_row(raw)
        if r.name is None:
            return None, "no-spec", r.reason
        return r.name, "spec", r.reason
    if m.family == "mlperf_tiny":
        bench = str(raw.get("benchmark", ""))
        fname = TFLITE_OF_BENCHMARK.get(bench)
        if fname is None:
            return None, "no-spec", f"MLPerf Tiny benchmark {bench!r} has no reference .tflite here"
        path = tflite_dir / fname
        if not path.is_file():
            return None, "no-file", f"the {bench} reference model {fname} is not in {tflite_dir} (--tflite-dir)"
        return str(path), "tflite", f"MLPerf Tiny {bench} reference model {fname}"
    if m.family == "mcunetv2_paper":
        z = PAPER_NAMES.get(m.model)
        if z is None:
            return None, "no-spec", f"the paper's {m.model!r} names no single zoo model"
        return z, "spec", f"MCUNetV2 Table 2 {m.model!r} = {z}"
    if m.model_kind == "tflite":
        p = Path(m.model)
        if not p.is_file():
            return None, "no-file", f".tflite file {m.model!r} not found"
        return str(p), "tflite", f"the row's file {m.model}"
    names = [m.model, str(raw.get("net_id") or ""), str(raw.get("net_id_current_name") or "")]
    z = _zoo_name(names)
    if z is None:
        return None, "no-spec", f"no zoo spec for {m.model_as_printed!r}"
    return z, "spec", f"net id {m.model!r} = zoo {z}" if z != m.model else f"zoo {z}"


def runtime_key(m: ModelMeasurement) -> tuple[str, str] | None:
    """(memory runtime, latency runtime key), or None when atomnet models neither. An X-CUBE-AI row of another
    version family than the AtomDB's is priced with that family's memory constants (``xcube-ai@10.x``)."""
    if m.runtime == "xcube-ai":
        fam = xcube_family(m.runtime_version or "")
        return ("xcube-ai" if fam in (None, DEFAULT_XCUBE_FAMILY) else f"xcube-ai@{fam}"), "xcube-ai"
    if m.runtime in list_runtimes():
        return m.runtime, m.runtime
    printed = m.runtime_as_printed or ""
    if _CMSIS.search(printed) and "+" not in printed:  # "TFLite Micro + CMSIS-NN" (TinyOps) names two
        return CMSIS_NN_AS, CMSIS_NN
    return None


def resolve_row(m: ModelMeasurement, tflite_dir: Path = DEFAULT_TFLITE_DIR) -> Resolution:
    """The :class:`Resolution` of one stored row (module doc)."""
    rid = row_id(m)
    if m.plan is not None:
        return Resolution(rid, category="plan-not-modelled",
                          reason=f"executed as a {m.plan!r} plan: atomnet prices layer-by-layer execution in "
                                 "internal memory only")
    try:
        model, kind, how = _model(m, tflite_dir)
    except InputError as e:  # a source row whose fields are not what the zoo matcher reads
        return Resolution(rid, category="no-spec", reason=str(e))
    if model is None:
        return Resolution(rid, category=kind, reason=how)
    if m.board is None:
        return Resolution(rid, model, kind, category="board-unknown",
                          reason=f"board {m.board_as_printed!r} ({m.mcu or 'no MCU read'}) is not an atomnet board")
    try:
        get_board(m.board)
    except InputError as e:
        return Resolution(rid, model, kind, category="board-unknown", reason=str(e))
    rts = runtime_key(m)
    if rts is None:
        printed = m.runtime_as_printed or "not stated"
        return Resolution(rid, model, kind, m.board, category="runtime-unknown",
                          reason=f"runtime {printed!r} has no atomnet model (registered: {', '.join(list_runtimes())})")
    return Resolution(rid, model, kind, m.board, rts[0], rts[1], how)
