"""Which zoo model a published measurement row measures (``../shared/published/measurements.json``).

:func:`match_row` reads an STM32 model zoo row (``architecture``, ``alpha``, ``input_resolution`` or
``input_h``/``input_w``/``input_c``, ``num_classes``, ``dataset``, ``model_name``/``model_file``) and returns the
zoo family name of its architecture (:mod:`atomnet.zoo._keras`), or None with the reason there is none:

>>> row = {"architecture": "MobileNet v1 (Keras applications topology)", "alpha": 0.25, "num_classes": 5,
...        "input_resolution": "96x96x1", "model_file": "mobilenet_v1_0.25_96_grayscale_tfs_int8.tflite"}
>>> zoo_name_for_row(row)
'keras-mobilenet-v1-0.25-96-c5-gray'
>>> match_row({"architecture": "SqueezeNet v1.1", "input_resolution": "128x128"}).name is None
True

Rows of other architectures (SqueezeNet, ResNet v1, the ST custom nets) get None and a reason; MLPerf Tiny
rows measure reference models that exist as public ``.tflite`` files and are priced from the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from atomnet.errors import InputError, UnknownNameError
from atomnet.zoo._families import FamilyParams, ZooFamily, get_family

#: (substring of the row's ``architecture``, why no spec expresses it)
NO_SPEC: tuple[tuple[str, str], ...] = (
    ("SqueezeNet", "SqueezeNet's Fire modules (a 1x1 squeeze feeding parallel 1x1 and 3x3 expand convs whose "
                   "outputs are concatenated) and its max pooling: the spec has no concatenation and no max pool"),
    ("ST ResNet 8 Hybrid", "binary (larq) depthwise and 1x1 convs, a concatenation inside every cell and a "
                           "Dense + BN head: not an int8 architecture the spec expresses"),
    ("ResNet v1", "Keras CIFAR ResNet v1 blocks (two 3x3 convs, a 1x1 stride-2 projection shortcut): the spec's "
                  "residual is an identity add inside one block; price the model's .tflite instead"),
    ("ST EfficientNet LC", "MBConv blocks whose SE squeezes to int(0.25 x block input channels) with a sigmoid "
                           "gate; the spec's SE squeezes to make_divisible(expanded / 4, 8) with an h-sigmoid"),
    ("ST MNIST", "a 3x3 depthwise conv followed by a full 3x3 conv (the spec's separable block ends in a 1x1 conv)"),
)
#: (row ``architecture`` prefix, zoo family prefix)
FAMILY_OF_ARCHITECTURE: tuple[tuple[str, str], ...] = (
    ("MobileNet v1", "keras-mobilenet-v1"),
    ("MobileNet v2", "keras-mobilenet-v2"),
    ("FD-MobileNet", "fd-mobilenet"),
    ("ST FdMobileNet v1", "st-fdmobilenet-v1"),
)
#: data sets whose rows measure a model other than the zoo training code's (dataset, reason)
NOT_THE_TRAINING_CODE: dict[str, str] = {
    "visual wake word": "the zoo's VWW MobileNet v1 0.25 rows are not its training code's model: the 7.3.0 row's "
                        "213.93 KiB of weights are a 2-output Dense (not the code's Dense(1) for 2 classes) and "
                        "its MACC lack the uint8 input conversion; the 8.1.0 row's 41.61 KiB are less than "
                        "MobileNet v1 0.25's int8 weights alone (214 KiB)",
}
_RES = re.compile(r"\s*(\d+)\s*x\s*(\d+)\s*(?:x\s*(\d+))?\s*")


@dataclass(frozen=True)
class RowMatch:
    """The zoo model a row measures (``name``), or None with ``reason``; ``reason`` says how a match was read."""

    name: str | None
    reason: str


def _text(row: Mapping[str, object], key: str) -> str:
    v = row.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise InputError(f"measurement row field {key!r}: expected text, got {v!r}")
    return v


def _int(row: Mapping[str, object], key: str) -> int | None:
    v = row.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v or v < 1:
        raise InputError(f"measurement row field {key!r}: expected a positive integer, got {v!r}")
    return int(v)


def _shape(row: Mapping[str, object]) -> tuple[int | None, int | None, int | None]:
    """(height, width, channels) from ``input_resolution`` ("96x96", "96x96x1"), else ``input_h/w/c``."""
    res = _text(row, "input_resolution")
    h, w, c = _int(row, "input_h"), _int(row, "input_w"), _int(row, "input_c")
    if res:
        m = _RES.fullmatch(res)
        if m is None:
            raise InputError(f"measurement row field 'input_resolution': expected HxW or HxWxC, got {res!r}")
        h, w = int(m[1]), int(m[2])
        c = int(m[3]) if m[3] else c
    if c is None:
        names = f"{_text(row, 'model_name')} {_text(row, 'model_file')}".lower()
        c = 1 if "grayscale" in names else 3
    return h, w, c


def _alpha(row: Mapping[str, object]) -> float | None:
    v = row.get("alpha")
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        raise InputError(f"measurement row field 'alpha': expected a positive number, got {v!r}")
    return float(v)


def _family(arch: str) -> ZooFamily | None:
    for head, prefix in FAMILY_OF_ARCHITECTURE:
        if arch.startswith(head):
            return get_family(prefix)
    return None


def _row_family(row: Mapping[str, object]) -> ZooFamily | RowMatch:
    """The family of the row's architecture, or a no-match with the reason."""
    arch = _text(row, "architecture")
    if not arch:
        return RowMatch(None, "the row names no architecture")
    for key, why in NO_SPEC:
        if key in arch:
            return RowMatch(None, why)
    fam = _family(arch)
    if fam is None:
        return RowMatch(None, f"no zoo family for architecture {arch!r}")
    dataset = _text(row, "dataset").lower()
    if dataset in NOT_THE_TRAINING_CODE:
        return RowMatch(None, NOT_THE_TRAINING_CODE[dataset])
    return fam


def match_row(row: Mapping[str, object]) -> RowMatch:
    """The zoo name of the architecture ``row`` measures, or None and why (see the module docstring).
    Fields of the wrong type raise :class:`~atomnet.errors.InputError` naming the field."""
    if not isinstance(row, Mapping):
        raise InputError(f"a measurement row must be an object, got {type(row).__name__}")
    fam = _row_family(row)
    if isinstance(fam, RowMatch):
        return fam
    h, w, c = _shape(row)
    classes = _int(row, "num_classes")
    alpha = _alpha(row) if fam.has_alpha else None
    if h is None or w is None:
        return RowMatch(None, "the row gives no input resolution")
    if h != w:
        return RowMatch(None, f"non-square input {h}x{w}: the family names one side")
    if classes is None:
        return RowMatch(None, "the row gives no num_classes")
    if fam.has_alpha and alpha is None:
        return RowMatch(None, f"the row gives no alpha for {fam.pattern}")
    if c not in (1, 3):
        return RowMatch(None, f"{c} input channels: the families take RGB or grayscale")
    name = fam.name_of(FamilyParams(alpha, h, classes, c))
    try:
        fam.parse(name)
    except UnknownNameError as e:
        return RowMatch(None, str(e))
    return RowMatch(name, f"{_text(row, 'architecture')} -> {fam.pattern}")


def zoo_name_for_row(row: Mapping[str, object]) -> str | None:
    """The zoo name of the architecture ``row`` measures, or None (:func:`match_row` gives the reason)."""
    return match_row(row).name
