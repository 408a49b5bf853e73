"""Search spaces: a macro structure of stages, each with a list of choices, and input resolutions.

``hybrid`` is the paper's Table 2 (``../shared/FACTS.md`` §1): SEP blocks in the SRAM-bound early
stages, SEP or ConvNext in stage 4, ConvNext with SE in the Flash-bound late stages; kernel 3;
9 input resolutions: 5·5·12·72·21·14·9 = 57,153,600 architectures. The ablations ``sep``,
``convnext`` and ``mbconv`` keep the same macro space (widths, depths, strides, expand ratios of each
stage) with a single block pattern after the stem.

A SEP block with expand ratio e is a depthwise conv with channel multiplier e followed by a
pointwise conv (the AtomNet release's ``MobileOneBlock``); the released models all use e = 1.

User spaces come from a JSON or YAML file with the same fields as :meth:`Space.to_dict`; a per-block space
(:class:`BlockSpace`: every block picks its own option, every stage its depth) from a file with
``"kind": "blocks"`` (:func:`block_space_from_dict`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from numpy.typing import NDArray

from atomnet.errors import InputError, UnknownNameError
from atomnet.jsontypes import JSONDict

RESOLUTIONS = (256, 224, 192, 160, 128, 92, 80, 64, 48)


class StageEntry(TypedDict):
    """One stage of an AtomNet stage configuration (``zoo/atomnet/*.json``)."""

    block: str
    depth: int
    out_channels: int
    stride: int
    kernel: int
    expand_ratio: float
    se: bool
    act: str


class StageConfig(TypedDict):
    """An architecture as an AtomNet stage configuration (what :meth:`Space.stage_config` gives, what
    :func:`atomnet.spec.from_stage_config` reads and what a custom fitness scores)."""

    name: str
    source: str
    input_resolution: int
    num_classes: int
    stages: list[StageEntry]


@dataclass(frozen=True)
class StageChoice:
    """One option of a stage: a block type repeated ``depth`` times."""

    block: str
    width: int
    depth: int = 1
    expand: float = 1
    se: bool = False
    kernel: int = 3

    def label(self) -> str:
        se = "+SE" if self.se else ""
        e = f" e{self.expand:g}" if self.block != "conv" else ""
        return f"{self.block}{se} w{self.width} d{self.depth}{e} k{self.kernel}"


@dataclass(frozen=True)
class StageDef:
    """All options of one stage (stride and activation are fixed per stage)."""

    stride: int
    act: str
    choices: tuple[StageChoice, ...]

    @classmethod
    def grid(cls, stride: int, act: str, blocks: Sequence[str], widths: Sequence[int], depths: Sequence[int],
             expands: Sequence[float], se: bool, kernels: Sequence[int] = (3,)) -> StageDef:
        return cls(stride, act, tuple(StageChoice(b, w, d, e, se, k) for b, w, d, e, k in
                                      itertools.product(blocks, widths, depths, expands, kernels)))

    @property
    def widths(self) -> tuple[int, ...]:
        """Distinct output widths, sorted (index = width index of the next stage's input)."""
        return tuple(sorted({c.width for c in self.choices}))


@dataclass(frozen=True)
class Space:
    name: str
    stages: tuple[StageDef, ...]
    resolutions: tuple[int, ...] = RESOLUTIONS
    num_classes: int = 1000
    description: str = ""

    # ---- size and enumeration --------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """Number of choices per stage."""
        return tuple(len(s.choices) for s in self.stages)

    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * len(self.resolutions)

    def describe(self) -> list[JSONDict]:
        """Per stage: stride, activation and the choices (what ``atomnet search`` shows)."""
        out: list[JSONDict] = []
        for i, s in enumerate(self.stages):
            blocks = sorted({c.block + ("+SE" if c.se else "") for c in s.choices})
            out.append({"stage": i + 1, "stride": s.stride, "act": s.act, "blocks": blocks,
                        "widths": list(s.widths), "depths": sorted({c.depth for c in s.choices}),
                        "expands": sorted({c.expand for c in s.choices}), "choices": len(s.choices)})
        return out

    def sample(self, rng: np.random.Generator, n: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """``n`` uniform random architectures: (resolution indices (n,), choice indices (n, n_stages))."""
        r = rng.integers(0, len(self.resolutions), n)
        c = np.stack([rng.integers(0, k, n) for k in self.shape], axis=1)
        return r, c

    def iter_all(self) -> Iterator[tuple[int, tuple[int, ...]]]:
        for r in range(len(self.resolutions)):
            for c in itertools.product(*(range(k) for k in self.shape)):
                yield r, c

    # ---- architectures ---------------------------------------------------------------------
    def stage_config(self, res_index: int, choices: Sequence[int], name: str = "") -> StageConfig:
        """The architecture as an AtomNet stage configuration (the ``zoo/atomnet/*.json`` format)."""
        if len(choices) != len(self.stages):
            raise InputError(f"space {self.name}: expected {len(self.stages)} stage choices, got {len(choices)}")
        stages: list[StageEntry] = []
        for s, j in zip(self.stages, choices, strict=True):
            c = s.choices[int(j)]
            stages.append({"block": c.block, "depth": c.depth, "out_channels": c.width, "stride": s.stride,
                           "kernel": c.kernel, "expand_ratio": c.expand, "se": c.se, "act": s.act})
        res = self.resolutions[int(res_index)]
        return {"name": name or f"{self.name}-r{res}-" + "-".join(str(int(j)) for j in choices),
                "source": f"atomnet search space {self.name!r}", "input_resolution": res,
                "num_classes": self.num_classes, "stages": stages}

    def to_dict(self) -> JSONDict:
        return {"name": self.name, "description": self.description, "resolutions": list(self.resolutions),
                "num_classes": self.num_classes,
                "stages": [{"stride": s.stride, "act": s.act,
                            "choices": [c.__dict__ for c in s.choices]} for s in self.stages]}


_ALIASES = {"mobile_one": "sep", "mbconvnext": "convnext"}


def _block_name(b: str) -> str:
    return _ALIASES.get(b, b)


# ---- registry ----------------------------------------------------------------------------------
_SPACES: dict[str, Space] = {}


def register_space(space: Space) -> Space:
    if space.name in _SPACES:
        raise ValueError(f"search space {space.name!r} is already registered")
    _SPACES[space.name] = space
    return space


def list_spaces() -> list[str]:
    return list(_SPACES)


def get_space(name_or_path: str) -> Space:
    if name_or_path in _SPACES:
        return _SPACES[name_or_path]
    p = Path(name_or_path)
    if p.suffix.lower() in (".json", ".yaml", ".yml"):
        return load_space_file(p)
    raise UnknownNameError(f"unknown search space {name_or_path!r}; known: {', '.join(_SPACES)} "
                           "(or a .json/.yaml file)")


def load_space_file(path: str | Path) -> Space:
    """A user space: ``{name, resolutions, num_classes?, stages: [{stride, act, blocks|block, widths, depths,
    expands, se, kernels?}]}`` (grid form) or ``stages: [{stride, act, choices: [...]}]`` (explicit form)."""
    return space_from_dict(_read_space_file(path), where=str(path))


def _read_space_file(path: str | Path) -> Any:
    p = Path(path)
    try:
        text = p.read_text()
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml  # optional dependency, only for YAML spaces

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except (OSError, ValueError) as e:
        raise InputError(f"{p}: cannot read search space: {e}") from e
    except ImportError:
        raise InputError(f"{p}: YAML spaces need PyYAML ('pip install pyyaml'), or write the space as JSON") from None
    return data


def space_from_dict(data: Mapping[str, object], where: str = "space") -> Space:
    """A space from its JSON form (what :func:`load_space_file` reads); an error names the field."""
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: expected an object with fields name, resolutions, stages, got "
                         f"{type(data).__name__}")
    if is_block_space_dict(data):
        raise InputError(f"{where}: a per-block space (kind 'blocks'): search it with 'atomnet search --space FILE "
                         "--strategy exact' (atomnet.search.get_any_space reads it)")
    allowed = {"name", "description", "resolutions", "num_classes", "stages"}
    unknown = set(data) - allowed
    if unknown:
        raise InputError(f"{where}: unknown field(s) {sorted(unknown)}; expected {sorted(allowed)}")
    raw_stages = data.get("stages") or []
    if not isinstance(raw_stages, list):
        raise InputError(f"{where}: 'stages' must be a list of stages, got {type(raw_stages).__name__}")
    stages = [_stage_def(s, f"{where}: stages[{i}]") for i, s in enumerate(raw_stages)]
    if not stages:
        raise InputError(f"{where}: 'stages' must list at least one stage")
    if stages[0].choices[0].block != "conv":
        raise InputError(f"{where}: stages[0] must be the 'conv' stem")
    n_cls = data.get("num_classes", 1000)
    if isinstance(n_cls, bool) or not isinstance(n_cls, int) or not 1 <= n_cls <= 65_536:
        raise InputError(f"{where}: num_classes: expected an integer from 1 to 65536, got {n_cls!r}")
    res: Any = data.get("resolutions", RESOLUTIONS)
    try:
        resolutions = tuple(int(r) for r in res)
    except (TypeError, ValueError):
        raise InputError(f"{where}: resolutions: expected a list of integers, got {res!r}") from None
    return Space(str(data.get("name", Path(where).stem)), tuple(stages), resolutions, n_cls,
                 str(data.get("description", "")))


def _stage_def(s: Any, at: str) -> StageDef:
    """One stage of a space file, grid or explicit form (JSON values, converted and so checked here)."""
    try:
        if "choices" in s:
            choices = tuple(StageChoice(_block_name(c["block"]), int(c["width"]), int(c.get("depth", 1)),
                                        float(c.get("expand", 1)), bool(c.get("se", False)),
                                        int(c.get("kernel", 3))) for c in s["choices"])
            return StageDef(int(s["stride"]), str(s["act"]), choices)
        blocks = s.get("blocks") or [s["block"]]
        return StageDef.grid(int(s["stride"]), str(s["act"]), [_block_name(b) for b in blocks],
                             s["widths"], s.get("depths", [1]), s.get("expands", [1]),
                             bool(s.get("se", False)), s.get("kernels", [3]))
    except KeyError as e:
        raise InputError(f"{at}: missing field {e.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError) as e:
        raise InputError(f"{at}: {e}") from None


def _macro(name: str, early: str, mid: Sequence[str], late: str, description: str) -> Space:
    """The Table-2 macro space with a given block pattern (kernel 3 everywhere)."""
    late_se = late == "convnext" or late == "mbconv"
    return Space(name, (
        StageDef.grid(2, "relu", ["conv"], [16, 24, 32, 48, 64], [1], [1], False),
        StageDef.grid(1, "hswish", [early], [16, 24, 32, 48, 64], [1], [1], False),
        StageDef.grid(2, "hswish", [early], [32, 48, 64, 80, 96, 112], [1, 2], [1], False),
        StageDef.grid(2, "hswish", mid, [48, 64, 80, 96, 112, 128], [1, 2], [1, 3, 6], False),
        StageDef.grid(2, "hswish", [late], list(range(48, 145, 16)), [2, 4, 6], [6], late_se),
        StageDef.grid(2, "hswish", [late], list(range(64, 161, 16)), [1, 2], [6], late_se),
    ), description=description)


register_space(_macro("hybrid", "sep", ["sep", "convnext"], "convnext",
                      "AtomNet Table 2: SEP early (SRAM-bound), SEP or ConvNext in stage 4, ConvNext+SE late"))
register_space(_macro("sep", "sep", ["sep"], "sep", "single pattern: SEP blocks only (no SE), Table-2 macro space"))
register_space(_macro("convnext", "convnext", ["convnext"], "convnext",
                      "single pattern: ConvNext blocks (SE in stages 5-6), Table-2 macro space"))
register_space(_macro("mbconv", "mbconv", ["mbconv"], "mbconv",
                      "single pattern: MBConv blocks (SE in stages 5-6), Table-2 macro space"))


# ---- per-block spaces (MCUNet's TinyNAS / once-for-all MobileNetV2 style) ---------------------------------------
@dataclass(frozen=True)
class BlockOption:
    """One option of one block: its type, kernel, expand ratio and squeeze-excitation."""

    block: str = "mbconv"
    kernel: int = 3
    expand: float = 6
    se: bool = False

    def label(self) -> str:
        return f"{self.block}{'+SE' if self.se else ''} k{self.kernel} e{self.expand:g}"


@dataclass(frozen=True)
class BlockStage:
    """A stage whose every block picks its own option (``options``) and whose depth is one of ``depths``; the
    first block strides, later blocks keep the width (residual)."""

    width: int  # at width multiplier 1
    stride: int
    depths: tuple[int, ...]
    options: tuple[BlockOption, ...]

    def configurations(self) -> int:
        """Distinct block sequences of the stage: the sum over depths of options ** depth (exact)."""
        return sum(len(self.options) ** d for d in self.depths)


def make_divisible(v: float, divisor: int = 8) -> int:
    """The channel rounding of once-for-all / MCUNet: nearest multiple of ``divisor`` (at least ``divisor``), not
    more than 10 % below ``v``."""
    out = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * v else out


@dataclass(frozen=True)
class BlockSpace:
    """A per-block space: a fixed stem and first block, then :class:`BlockStage` s; one global width multiplier
    and one input resolution per architecture (MCUNet's TinyNAS space, ``../shared/FACTS.md`` §3)."""

    name: str
    stem_width: int
    first_width: int  # the first (expand 1, kernel 3) block after the stem
    stages: tuple[BlockStage, ...]
    width_multipliers: tuple[float, ...]
    resolutions: tuple[int, ...]
    act: str = "relu6"
    num_classes: int = 1000
    description: str = ""

    def size(self) -> int:
        """Number of architectures, exactly (a Python integer: these spaces exceed 64 bits)."""
        n = len(self.width_multipliers) * len(self.resolutions)
        for s in self.stages:
            n *= s.configurations()
        return n

    def widths(self, wm_index: int) -> tuple[int, int, tuple[int, ...]]:
        """(stem, first block, per-stage) widths at width multiplier ``wm_index``."""
        wm = self.width_multipliers[wm_index]
        return (make_divisible(self.stem_width * wm), make_divisible(self.first_width * wm),
                tuple(make_divisible(s.width * wm) for s in self.stages))

    def describe(self) -> list[JSONDict]:
        return [{"stage": i + 1, "width": s.width, "stride": s.stride, "depths": list(s.depths),
                 "options": [o.label() for o in s.options], "configurations": s.configurations()}
                for i, s in enumerate(self.stages)]


_BLOCK_SPACES: dict[str, BlockSpace] = {}


def register_block_space(space: BlockSpace) -> BlockSpace:
    if space.name in _BLOCK_SPACES or space.name in _SPACES:
        raise ValueError(f"search space {space.name!r} is already registered")
    _BLOCK_SPACES[space.name] = space
    return space


def get_block_space(name: str) -> BlockSpace | None:
    """The registered per-block space of that name, or ``None``."""
    return _BLOCK_SPACES.get(name)


def list_block_spaces() -> list[str]:
    return list(_BLOCK_SPACES)


# MCUNet (Lin et al., 2020, §3.1): the MobileNetV2-style once-for-all space searched by TinyNAS: per block kernel
# {3, 5, 7} x expand {3, 4, 6}, per stage depth {2, 3, 4}; the ProxylessNAS-mobile widths and strides of the
# released nets (zoo/mcunet: 24-40-80-96-192 then one 320 block); width multipliers 0.2-1.0 and resolutions
# 48-224 in steps of 16 (the 9 x 12 = 108 sub-spaces of the paper's search-space optimisation).
_MB = tuple(BlockOption("mbconv", k, e) for k in (3, 5, 7) for e in (3, 4, 6))
register_block_space(BlockSpace(
    "mcunet", 32, 16,
    (*(BlockStage(w, s, (2, 3, 4), _MB) for w, s in ((24, 2), (40, 2), (80, 2), (96, 1), (192, 2))),
     BlockStage(320, 1, (1,), _MB)),
    tuple(round(0.1 * i, 1) for i in range(2, 11)), tuple(range(48, 225, 16)),
    description="MCUNet TinyNAS (OFA MobileNetV2): kernel 3/5/7 x expand 3/4/6 per block, depth 2/3/4 per stage, "
                "width multiplier 0.2-1.0, resolution 48-224"))


# ---- per-block space files ----------------------------------------------------------------------------------------
_BLOCK_FIELDS = {"kind", "name", "description", "stem_width", "first_width", "stages", "width_multipliers",
                 "resolutions", "act", "num_classes"}
_BLOCK_STAGE_FIELDS = {"width", "stride", "depths", "options", "blocks", "block", "kernels", "expands", "se"}
_OPTION_FIELDS = {"block", "kernel", "expand", "se"}


def is_block_space_dict(data: Mapping[str, object]) -> bool:
    """Whether a space file's object describes a :class:`BlockSpace` (``"kind": "blocks"``)."""
    return data.get("kind") == "blocks"


def _int(v: object, at: str, lo: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise InputError(f"{at}: expected an integer >= {lo}, got {v!r}")
    return v


def _ints(v: object, at: str, lo: int = 1) -> tuple[int, ...]:
    if not isinstance(v, list) or not v:
        raise InputError(f"{at}: expected a non-empty list of integers, got {v!r}")
    out = tuple(_int(x, f"{at}[{i}]", lo) for i, x in enumerate(v))
    if len(set(out)) != len(out):
        raise InputError(f"{at}: values repeat: {list(out)}")
    return out


def _option(o: object, at: str) -> BlockOption:
    from atomnet.spec import SpecError, canonical_block

    if not isinstance(o, Mapping):
        raise InputError(f"{at}: expected an object with fields {sorted(_OPTION_FIELDS)}, got {o!r}")
    unknown = set(o) - _OPTION_FIELDS
    if unknown:
        raise InputError(f"{at}: unknown field(s) {sorted(unknown)}; expected {sorted(_OPTION_FIELDS)}")
    try:
        block = canonical_block(str(o.get("block", "mbconv")))
    except (SpecError, ValueError, KeyError) as e:
        raise InputError(f"{at}.block: {e}") from None
    kernel = o.get("kernel", 3)
    if kernel not in (1, 3, 5, 7) or isinstance(kernel, bool):
        raise InputError(f"{at}.kernel: expected one of 1, 3, 5, 7, got {kernel!r}")
    expand = o.get("expand", 6)
    if isinstance(expand, bool) or not isinstance(expand, (int, float)) or not expand > 0:
        raise InputError(f"{at}.expand: expected a number > 0, got {expand!r}")
    se = o.get("se", False)
    if not isinstance(se, bool):
        raise InputError(f"{at}.se: expected true or false, got {se!r}")
    return BlockOption(block, int(kernel), float(expand), se)


def _block_stage(s: object, at: str) -> BlockStage:
    if not isinstance(s, Mapping):
        raise InputError(f"{at}: expected an object with fields width, stride, depths, options, got {s!r}")
    unknown = set(s) - _BLOCK_STAGE_FIELDS
    if unknown:
        raise InputError(f"{at}: unknown field(s) {sorted(unknown)}; expected {sorted(_BLOCK_STAGE_FIELDS)}")
    for f in ("width", "stride", "depths"):
        if f not in s:
            raise InputError(f"{at}: missing field {f!r}")
    stride = s["stride"]
    if stride not in (1, 2) or isinstance(stride, bool):
        raise InputError(f"{at}.stride: expected 1 or 2, got {stride!r}")
    if "options" in s:
        grid = set(s) & {"blocks", "block", "kernels", "expands", "se"}
        if grid:
            raise InputError(f"{at}: give either 'options' or the grid fields {sorted(grid)}, not both")
        raw = s["options"]
        if not isinstance(raw, list) or not raw:
            raise InputError(f"{at}.options: expected a non-empty list of block options, got {raw!r}")
        options = tuple(_option(o, f"{at}.options[{j}]") for j, o in enumerate(raw))
    else:  # grid form: every combination of blocks x kernels x expands
        blocks = s.get("blocks", [s.get("block", "mbconv")])
        kernels = s.get("kernels", [3])
        expands = s.get("expands", [6])
        for name, v in (("blocks", blocks), ("kernels", kernels), ("expands", expands)):
            if not isinstance(v, list) or not v:
                raise InputError(f"{at}.{name}: expected a non-empty list, got {v!r}")
        options = tuple(_option({"block": b, "kernel": k, "expand": e, "se": s.get("se", False)},
                                f"{at} (block {b!r}, kernel {k!r}, expand {e!r})")
                        for b, k, e in itertools.product(blocks, kernels, expands))
    if len(set(options)) != len(options):
        raise InputError(f"{at}.options: an option repeats ({[o.label() for o in options]})")
    return BlockStage(_int(s["width"], f"{at}.width"), int(stride), _ints(s["depths"], f"{at}.depths"), options)


def block_space_from_dict(data: Mapping[str, object], where: str = "space") -> BlockSpace:
    """A per-block space from its JSON form; an error names the field. Example (one stage in each form)::

        {"kind": "blocks", "name": "tiny", "stem_width": 16, "first_width": 8,
         "width_multipliers": [0.5, 1.0], "resolutions": [96, 128],
         "stages": [{"width": 24, "stride": 2, "depths": [1, 2],
                     "options": [{"block": "mbconv", "kernel": 3, "expand": 3},
                                 {"block": "mbconv", "kernel": 5, "expand": 6, "se": true}]},
                    {"width": 40, "stride": 2, "depths": [2, 3], "kernels": [3, 5, 7], "expands": [3, 6]}]}
    """
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: expected an object, got {type(data).__name__}")
    unknown = set(data) - _BLOCK_FIELDS
    if unknown:
        raise InputError(f"{where}: unknown field(s) {sorted(unknown)}; expected {sorted(_BLOCK_FIELDS)}")
    for f in ("stem_width", "first_width", "stages", "resolutions"):
        if f not in data:
            raise InputError(f"{where}: missing field {f!r}")
    raw = data["stages"]
    if not isinstance(raw, list) or not raw:
        raise InputError(f"{where}: stages: expected a non-empty list of stages, got {raw!r}")
    stages = tuple(_block_stage(s, f"{where}: stages[{i}]") for i, s in enumerate(raw))
    wms = data.get("width_multipliers", [1.0])
    if not isinstance(wms, list) or not wms or any(isinstance(w, bool) or not isinstance(w, (int, float))
                                                   or not 0 < w <= 4 for w in wms):
        raise InputError(f"{where}: width_multipliers: expected a non-empty list of numbers in (0, 4], got {wms!r}")
    from atomnet.spec import ACTIVATIONS

    act = data.get("act", "relu6")
    if act not in ACTIVATIONS:
        raise InputError(f"{where}: act: expected one of {', '.join(ACTIVATIONS)}, got {act!r}")
    n_cls = data.get("num_classes", 1000)
    if isinstance(n_cls, bool) or not isinstance(n_cls, int) or not 1 <= n_cls <= 65_536:
        raise InputError(f"{where}: num_classes: expected an integer from 1 to 65536, got {n_cls!r}")
    name = data.get("name", Path(where).stem)
    return BlockSpace(str(name), _int(data["stem_width"], f"{where}: stem_width"),
                      _int(data["first_width"], f"{where}: first_width"), stages,
                      tuple(float(w) for w in wms), _ints(data["resolutions"], f"{where}: resolutions", 8), str(act),
                      n_cls, str(data.get("description", "")))


def load_block_space_file(path: str | Path) -> BlockSpace:
    """A per-block space from a JSON/YAML file (:func:`block_space_from_dict`)."""
    data = _read_space_file(path)
    if not isinstance(data, Mapping) or not is_block_space_dict(data):
        raise InputError(f"{path}: not a per-block space: expected \"kind\": \"blocks\" at the top level")
    return block_space_from_dict(data, where=str(path))


def get_any_space(name_or_path: str) -> Space | BlockSpace:
    """A built-in space (macro or per-block) by name, or a space file of either kind."""
    blk = _BLOCK_SPACES.get(name_or_path)
    if blk is not None:
        return blk
    p = Path(name_or_path)
    if name_or_path not in _SPACES and p.suffix.lower() in (".json", ".yaml", ".yml"):
        data = _read_space_file(p)
        if isinstance(data, Mapping) and is_block_space_dict(data):
            return block_space_from_dict(data, where=str(p))
        return space_from_dict(data, where=str(p))
    try:
        return get_space(name_or_path)
    except UnknownNameError:
        raise UnknownNameError(f"unknown search space {name_or_path!r}; known: "
                               f"{', '.join([*_SPACES, *_BLOCK_SPACES])} (or a .json/.yaml file)") from None


def restrict_to_subspace(space: Space | BlockSpace, label: str) -> Space | BlockSpace:
    """The sub-space ``w<multiplier>-r<resolution>`` of ``space`` (the labels ``atomnet search-space`` ranks):
    a per-block space keeps that one width multiplier and resolution; a macro space (no width multiplier:
    ``w1``) keeps that resolution."""
    m = re.fullmatch(r"w([0-9]*\.?[0-9]+)-r([0-9]+)", label.strip())
    if not m:
        raise InputError(f"--subspace: expected w<width multiplier>-r<resolution> such as w0.5-r160, got {label!r}")
    wm, res = float(m.group(1)), int(m.group(2))
    if isinstance(space, BlockSpace):
        wms = [w for w in space.width_multipliers if abs(w - wm) < 1e-9]
        if not wms or res not in space.resolutions:
            labels = ", ".join(f"w{w:g}" for w in space.width_multipliers)
            raise InputError(f"--subspace {label}: space {space.name} has width multipliers {labels} and "
                             f"resolutions {', '.join(map(str, space.resolutions))}")
        return dataclasses.replace(space, width_multipliers=(wms[0],), resolutions=(res,))
    if abs(wm - 1.0) > 1e-9 or res not in space.resolutions:
        raise InputError(f"--subspace {label}: space {space.name} has no width multiplier (w1) and resolutions "
                         f"{', '.join(map(str, space.resolutions))}")
    return dataclasses.replace(space, resolutions=(res,))
