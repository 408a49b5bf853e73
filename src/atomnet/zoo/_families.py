"""Parametric zoo families: one name pattern stands for a whole grid of architectures (width, resolution,
classes), built on demand instead of shipped as files.

A family registers a prefix, its name pattern and a builder (:func:`register_family`, loud on duplicates).
Names read ``{prefix}-[{alpha}-]{res}-c{classes}[-gray]``: ``alpha`` a decimal width multiplier in (0, 4] with at
most 4 decimals, printed with at least one (``1.0``, ``0.25``); ``res`` the square input side; ``classes`` the data
set's classes; ``-gray`` a one-channel input. :func:`parse_family_name` returns the canonical spelling
(``keras-mobilenet-v1-1-224-c5`` is ``keras-mobilenet-v1-1.0-224-c5``) and raises
:class:`~atomnet.errors.UnknownNameError` naming the pattern when a name starts with a family's prefix but does
not fit it.

>>> from atomnet.zoo import get_zoo
>>> get_zoo("keras-mobilenet-v2-1-224-c1000").name
'keras-mobilenet-v2-1.0-224-c1000'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from atomnet.errors import InputError, UnknownNameError
from atomnet.spec import ModelSpec

_NAME = re.compile(r"(?:(?P<alpha>\d+(?:\.\d{1,4})?)-)?(?P<res>\d+)-c(?P<classes>\d+)(?P<gray>-gray)?")


@dataclass(frozen=True)
class FamilyParams:
    """The parameters one family name spells: width multiplier (None for families without one), square input
    side, the data set's classes and input channels (3, or 1 for ``-gray``)."""

    alpha: float | None
    resolution: int
    classes: int
    in_channels: int = 3


def format_alpha(alpha: float) -> str:
    """``alpha`` as names print it: the shortest decimal with at least one digit after the point."""
    s = f"{alpha:.4f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


@dataclass(frozen=True)
class ZooFamily:
    """A registered family. ``check(params)`` raises :class:`InputError` (a plain message, no prefix) for
    parameters the architecture cannot take; ``build(name, params)`` returns the spec called ``name``."""

    prefix: str
    description: str
    example: str
    has_alpha: bool
    build: Callable[[str, FamilyParams], ModelSpec]
    check: Callable[[FamilyParams], None]
    source: str = ""

    @property
    def pattern(self) -> str:
        alpha = "{alpha}-" if self.has_alpha else ""
        return f"{self.prefix}-{alpha}{{res}}-c{{classes}}[-gray]"

    def name_of(self, p: FamilyParams) -> str:
        alpha = f"{format_alpha(p.alpha)}-" if p.alpha is not None else ""
        gray = "-gray" if p.in_channels == 1 else ""
        return f"{self.prefix}-{alpha}{p.resolution}-c{p.classes}{gray}"

    def parse(self, name: str) -> FamilyParams:
        """The parameters of ``name`` (which starts with ``prefix-``); :class:`UnknownNameError` naming the
        pattern when it does not fit or the architecture cannot take them."""
        rest = name[len(self.prefix) + 1:]
        m = _NAME.fullmatch(rest)
        if m is None or (m["alpha"] is None) == self.has_alpha:
            raise UnknownNameError(f"zoo model {name!r}: expected {self.pattern} (e.g. {self.example})")
        alpha = float(m["alpha"]) if m["alpha"] is not None else None
        p = FamilyParams(alpha, int(m["res"]), int(m["classes"]), 1 if m["gray"] else 3)
        if alpha is not None and not 0 < alpha <= 4:
            raise UnknownNameError(f"zoo model {name!r}: alpha must be in (0, 4], got {m['alpha']} "
                                   f"(pattern {self.pattern})")
        try:
            self.check(p)
        except InputError as e:
            raise UnknownNameError(f"zoo model {name!r}: {e} (pattern {self.pattern}, e.g. {self.example})") from None
        return p


_FAMILIES: dict[str, ZooFamily] = {}


def register_family(family: ZooFamily) -> ZooFamily:
    """Add ``family`` to the zoo; a prefix that is already registered, or one that starts another's, raises."""
    for other in _FAMILIES:
        if family.prefix == other or family.prefix.startswith(other + "-") or other.startswith(family.prefix + "-"):
            raise ValueError(f"zoo family {family.prefix!r} clashes with the registered family {other!r}")
    _FAMILIES[family.prefix] = family
    return family


def list_families() -> list[ZooFamily]:
    """The registered families, by prefix."""
    return [_FAMILIES[k] for k in sorted(_FAMILIES)]


def get_family(prefix: str) -> ZooFamily:
    """The family registered under ``prefix``; :class:`UnknownNameError` listing the known prefixes otherwise."""
    try:
        return _FAMILIES[prefix]
    except KeyError:
        raise UnknownNameError(f"unknown zoo family {prefix!r}; known: {', '.join(sorted(_FAMILIES))}") from None


def family_of(name: str) -> ZooFamily | None:
    """The family whose prefix ``name`` starts with (any case), else None."""
    low = name.lower()
    for prefix, fam in _FAMILIES.items():
        if low.startswith(prefix + "-"):
            return fam
    return None


def parse_family_name(name: str) -> str | None:
    """The canonical name of family model ``name``; None when no family's prefix starts it; raises
    :class:`UnknownNameError` naming the pattern when one does but the rest does not fit."""
    fam = family_of(name)
    if fam is None:
        return None
    return fam.name_of(fam.parse(name.lower()))


@lru_cache(maxsize=512)
def family_spec(canonical: str) -> ModelSpec:
    """The (cached, immutable) spec of a canonical family name."""
    fam = family_of(canonical)
    if fam is None:
        raise UnknownNameError(f"{canonical!r} is not a zoo family name")
    return fam.build(canonical, fam.parse(canonical))
