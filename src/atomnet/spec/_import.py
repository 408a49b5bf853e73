"""Importers: AtomNet stage configurations, once-for-all / MCUNet ``ProxylessNASNets`` JSON, and
:func:`load_spec`, which takes any of them (or a zoo name, or our own spec JSON) and detects the format.

AtomNet stage config (``zoo/atomnet/*.json``, FACTS §2): ``name, source, input_resolution, num_classes,
stages[{block, depth, out_channels, stride, kernel, expand_ratio, se, act}]``; ``depth`` expands into
blocks, the stage stride on the first. Block names ``conv``, ``mobile_one`` (= ``sep``), ``mbconvnext``
(= ``convnext``), ``mbconv``.

Model names are looked up in a :class:`SpecCatalog` the caller passes (``atomnet.zoo.ZOO``, the packaged zoo):
``spec`` is below ``zoo`` and never imports it.

OFA / MCUNet JSON (FACTS §3): ``first_conv`` becomes a ``conv`` stage; each entry of ``blocks`` is an
``mbconv`` block with its explicit ``mid_channels`` (``make_divisible(c_in·e, 8)`` when null, which equals
ProxylessNAS' ``round(c_in·e)`` on every released net) and its residual as the JSON says (``shortcut``
IdentityLayer → residual, null → none). Blocks start a new stage where the stride is 2 or the channel count
changes. ``ZeroLayer`` entries with an identity shortcut are identity blocks and are dropped (ProxylessNAS
search leftovers). ``kernel_size``/``expand_ratio`` given as a one-element list take that element; a longer
list is a supernet (dynamic) config and is rejected: export the active subnet's config first. The feature
mix (1×1 conv before the pool) becomes ``head.feature_mix``. ``bn``, ``dropout_rate`` and the top-level
``_provenance`` are ignored (the latter is copied into the spec's provenance as ``note``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from atomnet.ops import make_divisible
from atomnet.spec._errors import SpecError, check_keys, expect_bool, expect_int, expect_number, expect_str
from atomnet.spec._model import BlockSpec, HeadSpec, ModelSpec, StageSpec

_STAGE_KEYS = frozenset({"block", "depth", "out_channels", "stride", "kernel", "expand_ratio", "se", "act"})
_CONFIG_KEYS = frozenset({"name", "source", "input_resolution", "num_classes", "stages"})


def from_stage_config(doc: object, *, provenance: Mapping[str, object] | None = None) -> ModelSpec:
    """An AtomNet stage configuration as a :class:`ModelSpec` (errors name ``stages[i].field``)."""
    d = check_keys(doc, "", _CONFIG_KEYS, ("name", "input_resolution", "num_classes", "stages"))
    raw = d["stages"]
    if not isinstance(raw, list) or not raw:
        raise SpecError("stages", "expected a non-empty list of stages")
    stages = []
    for i, st in enumerate(raw):
        p = f"stages[{i}]"
        check_keys(st, p, _STAGE_KEYS, ("block", "depth", "out_channels"))
        depth = expect_int(st["depth"], f"{p}.depth")
        expect_int(st["out_channels"], f"{p}.out_channels")
        try:
            stages.append(StageSpec.uniform(st["block"], depth, st["out_channels"], st.get("stride", 1),
                                            st.get("kernel", 3), st.get("expand_ratio", 1), st.get("se", False),
                                            st.get("act", "relu")))
        except SpecError as e:
            field = {"type": "block"}.get(e.path, e.path)
            raise SpecError(f"{p}.{field}", e.problem) from None
    prov = {"format": "atomnet-stage-config", "source": d.get("source", ""), **(provenance or {})}
    try:
        res = expect_int(d["input_resolution"], "input_resolution")
        return ModelSpec(expect_str(d["name"], "name"), (res, res), d["num_classes"], tuple(stages),
                         provenance=prov)
    except SpecError as e:
        m = re.fullmatch(r"stages\[(\d+)\]\.blocks\[(\d+)\]\.?(.*)", e.path)
        if m:  # a block-level error, reported at the stage-config level: stages[i].field (block j)
            field = {"type": "block", "": "block"}.get(m[3], m[3])
            raise SpecError(f"stages[{m[1]}].{field}", f"{e.problem} (block {m[2]})") from None
        raise


def _active(v: Any, path: str) -> Any:
    if isinstance(v, list):
        if len(v) != 1:
            raise SpecError(path, f"a list of {len(v)} candidates is a supernet config; export the active "
                                  "subnet (e.g. get_active_subnet().config) first")
        return v[0]
    return v


def _ofa_act(v: Any, path: str) -> str:
    if v is None:
        return "none"
    if v == "h_swish":
        return "hswish"
    if v not in ("relu", "relu6", "hswish"):
        raise SpecError(path, f"unsupported activation {v!r}; expected relu, relu6, h_swish or null")
    return str(v)


def _ofa_stem(fc: Any) -> BlockSpec:
    check_keys(fc, "first_conv", set(fc) if isinstance(fc, dict) else set(),
               ("out_channels", "kernel_size", "stride"))
    if fc.get("in_channels", 3) != 3 or fc.get("groups", 1) != 1:
        raise SpecError("first_conv", "expected an ordinary conv on the 3-channel input")
    return BlockSpec("conv", expect_int(fc["out_channels"], "first_conv.out_channels"), fc["stride"],
                     _active(fc["kernel_size"], "first_conv.kernel_size"), 1, False,
                     _ofa_act(fc.get("act_func", "relu6"), "first_conv.act_func"))


def _ofa_block(blk: Any, p: str, c: int) -> BlockSpec | None:
    """Entry ``p`` of ``blocks`` read on ``c`` input channels as an ``mbconv`` block (None: a dropped identity
    ``ZeroLayer``)."""
    check_keys(blk, p, {"name", "mobile_inverted_conv", "conv", "shortcut"})
    key = "mobile_inverted_conv" if "mobile_inverted_conv" in blk else "conv"
    m = blk.get(key)
    if not isinstance(m, dict):
        raise SpecError(f"{p}.{key}", "expected a layer object")
    sc = blk.get("shortcut")
    if sc is not None and (not isinstance(sc, dict) or sc.get("name") != "IdentityLayer"):
        raise SpecError(f"{p}.shortcut", f"expected null or an IdentityLayer, got {sc!r}")
    lname = m.get("name")
    if lname == "ZeroLayer":
        if sc is None:
            raise SpecError(f"{p}.{key}", "a ZeroLayer without identity shortcut outputs zeros")
        return None
    if lname not in ("MBInvertedConvLayer", "MBConvLayer"):
        raise SpecError(f"{p}.{key}.name", f"unsupported layer {lname!r}; expected MBInvertedConvLayer, "
                                           "MBConvLayer or ZeroLayer")
    c_in = expect_int(m.get("in_channels"), f"{p}.{key}.in_channels")
    if c_in != c:
        raise SpecError(f"{p}.{key}.in_channels", f"expected {c} (the previous block's output), got {c_in}")
    k = _active(m.get("kernel_size"), f"{p}.{key}.kernel_size")
    e = expect_number(_active(m.get("expand_ratio"), f"{p}.{key}.expand_ratio"), f"{p}.{key}.expand_ratio")
    mid = m.get("mid_channels")
    mid = c_in if e == 1 else (make_divisible(c_in * e, 8) if mid is None else mid)
    try:
        return BlockSpec("mbconv", expect_int(m.get("out_channels"), "out_channels"), m.get("stride", 1), k, e,
                         expect_bool(m.get("use_se", False), f"{p}.{key}.use_se"),
                         _ofa_act(m.get("act_func", "relu6"), f"{p}.{key}.act_func"), mid, sc is not None)
    except SpecError as err:
        raise err.within(f"{p}.{key}") from None


def _ofa_head(fm: Any, c: int) -> tuple[HeadSpec, int]:
    """The feature mix (None: none) on ``c`` channels: the head and the channels entering the classifier."""
    if fm is None:
        return HeadSpec(), c
    check_keys(fm, "feature_mix_layer", set(fm), ("out_channels",))
    if fm.get("in_channels", c) != c or _active(fm.get("kernel_size", 1), "feature_mix_layer.kernel_size") != 1:
        raise SpecError("feature_mix_layer", f"expected a 1×1 conv on {c} channels")
    head = HeadSpec(expect_int(fm["out_channels"], "feature_mix_layer.out_channels"),
                    _ofa_act(fm.get("act_func", "relu6"), "feature_mix_layer.act_func"))
    return head, int(fm["out_channels"])


def from_ofa(doc: object, name: str, *, provenance: Mapping[str, object] | None = None) -> ModelSpec:
    """A once-for-all / MCUNet ``ProxylessNASNets`` JSON config as a :class:`ModelSpec`."""
    allowed = {"name", "bn", "first_conv", "blocks", "feature_mix_layer", "classifier", "resolution",
               "_provenance"}
    d = check_keys(doc, "", allowed, ("first_conv", "blocks", "classifier", "resolution"))
    if d.get("name", "ProxylessNASNets") != "ProxylessNASNets":
        raise SpecError("name", f"expected 'ProxylessNASNets', got {d['name']!r}")
    stem = _ofa_stem(d["first_conv"])
    stages: list[list[BlockSpec]] = [[stem]]
    c = stem.out_channels
    dropped = 0
    if not isinstance(d["blocks"], list):
        raise SpecError("blocks", "expected a list")
    for i, blk in enumerate(d["blocks"]):
        b = _ofa_block(blk, f"blocks[{i}]", c)
        if b is None:
            dropped += 1
            continue
        if b.stride != 1 or b.out_channels != c:
            stages.append([])
        stages[-1].append(b)
        c = b.out_channels
    head, c = _ofa_head(d.get("feature_mix_layer"), c)
    cl = d["classifier"]
    check_keys(cl, "classifier", set(cl) if isinstance(cl, dict) else set(), ("in_features", "out_features"))
    if cl["in_features"] != c:
        raise SpecError("classifier.in_features", f"expected {c}, got {cl['in_features']!r}")
    prov: dict[str, object] = {"format": "ofa-proxylessnas-json", **(provenance or {})}
    if dropped:
        prov["dropped_zero_blocks"] = dropped
    if "_provenance" in d:
        prov["note"] = d["_provenance"]
    res = _active(d["resolution"], "resolution")
    return ModelSpec(name, res, expect_int(cl["out_features"], "classifier.out_features"),
                     tuple(StageSpec(tuple(s)) for s in stages), head, 3, prov)


def detect_format(d: object) -> str:
    """``atomnet-spec``, ``atomnet-stage-config`` or ``ofa`` for a parsed JSON document."""
    if isinstance(d, dict):
        if "schema" in d:
            return "atomnet-spec"
        if "first_conv" in d and "blocks" in d:
            return "ofa"
        if "stages" in d and "input_resolution" in d:
            return "atomnet-stage-config"
    raise SpecError("", "not a known architecture format: expected an atomnet spec (with 'schema'), an AtomNet "
                        "stage config ('stages' + 'input_resolution') or an OFA/MCUNet JSON "
                        "('first_conv' + 'blocks')")


def spec_from_document(d: object, name: str = "", source: str = "") -> ModelSpec:
    """Any supported document (already parsed) as a spec; ``name`` names OFA models (which have none)."""
    fmt = detect_format(d)
    prov = {"file": source} if source else {}
    if fmt == "atomnet-spec":
        return ModelSpec.from_dict(d)
    if fmt == "atomnet-stage-config":
        return from_stage_config(d, provenance=prov)
    return from_ofa(d, name or "ofa-model", provenance=prov)


class SpecCatalog(Protocol):
    """Named specs for :func:`load_spec` (``atomnet.zoo.ZOO`` is the packaged zoo). ``what`` names one entry in
    messages ("zoo model")."""

    what: str

    def find(self, name: str) -> ModelSpec | None:
        """The spec called ``name`` (or one of its aliases), None when there is none."""
        ...

    def names(self) -> list[str]:
        """The names it knows, for messages."""
        ...


def load_spec(name_or_path: str | Path, *, catalog: SpecCatalog | None = None) -> ModelSpec:
    """A model of ``catalog`` by name, or a JSON file: our spec, an AtomNet stage config or an OFA/MCUNet config.

    >>> from atomnet.zoo import ZOO
    >>> load_spec("mcunet-in2", catalog=ZOO).resolution
    (160, 160)
    """
    if isinstance(name_or_path, str) and catalog is not None:
        found = catalog.find(name_or_path)
        if found is not None:
            return found
    p = Path(name_or_path)
    if not p.is_file():
        if catalog is None:
            raise FileNotFoundError(f"{name_or_path}: no such file (to load a model by name, pass a catalog: "
                                    "load_spec(name, catalog=atomnet.zoo.ZOO))")
        raise FileNotFoundError(f"{name_or_path}: neither a {catalog.what} ({', '.join(catalog.names())}) "
                                "nor a file")
    try:
        d = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise SpecError("", f"cannot read JSON: {e}", str(p)) from None
    try:
        return spec_from_document(d, p.stem, str(p))
    except SpecError as e:
        raise e.in_file(str(p)) from None
    except (TypeError, KeyError) as e:
        raise SpecError("", f"malformed document: {e!r}", str(p)) from None
