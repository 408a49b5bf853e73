"""Published architectures as atomnet spec files (``atomnet/data/zoo/*.json``).

The files are generated from the public configurations in ``../shared/zoo`` by
``python -m atomnet.zoo._build``; each carries its provenance (original file, its SHA-256, upstream source).
AtomNet (FACTS §2): ``atomnet-256kb``, ``atomnet-256kb-max``, ``atomnet-320kb``, ``atomnet-512kb``,
``atomnet-512kb-large``, ``atomnet-512kb-max``, ``atomnet-10fps``, ``atomnet-5fps``. MCUNet (FACTS §3):
``mcunet-in0`` … ``mcunet-in4``, ``mcunet-vww0`` … ``mcunet-vww2``, ``mbv2-w0.35-r144``,
``proxyless-w0.3-r176``. The MCUNet models also answer to their published names (``mcunet-256kb-1mb``,
``mcunet-5fps``, ``mcunet-10fps-vww`` …; :func:`zoo_aliases`, ``atomnet zoo list``).

Besides the packaged files, parametric **families** (:func:`zoo_families`) build a spec from its name: the
architectures of the public STM32 model zoo measurements (:mod:`atomnet.zoo._keras`):
``keras-mobilenet-v1-{alpha}-{res}-c{classes}[-gray]``, ``keras-mobilenet-v2-{alpha}-{res}-c{classes}[-gray]``,
``fd-mobilenet-{alpha}-{res}-c{classes}[-gray]``, ``st-fdmobilenet-v1-{res}-c{classes}[-gray]``. The TinyOps
architectures (:mod:`atomnet.zoo._mobilenets`, docs/mobilenets.md): ``mbv3-w{width}-r{res}``,
``mnasnet-w{width}-r{res}``, ``proxyless-w{width}-r{res}``. Every function
here takes those names too; :func:`list_zoo` lists only the packaged models. :func:`zoo_name_for_row` maps a
published measurement row to its zoo name (or says why there is none).

>>> from atomnet.zoo import get_zoo, list_zoo, resolve_zoo
>>> len(list_zoo()), get_zoo("mcunet-in2").resolution
(18, (160, 160))
>>> resolve_zoo("mcunet-256kb-1mb"), get_zoo("mcunet-10fps").name
('mcunet-in2', 'mcunet-in0')
>>> resolve_zoo("Keras-MobileNet-v1-0.250-96-c5"), get_zoo("keras-mobilenet-v2-0.35-128-c2").num_classes
('keras-mobilenet-v1-0.25-96-c5', 1)

:data:`ZOO` is the zoo as an :class:`atomnet.spec.SpecCatalog`: ``load_spec(name_or_file, catalog=ZOO)`` takes a
zoo name, an alias or a spec file.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from atomnet.errors import UnknownNameError
from atomnet.spec import ModelSpec, SpecError
from atomnet.zoo import (
    _keras,  # noqa: F401  (registers the Keras / FD-MobileNet families)
    _mobilenets,  # noqa: F401  (registers mbv3-, mnasnet-, proxyless-w{width}-r{res})
)
from atomnet.zoo._aliases import ALIAS_TO_NAME, ALIASES
from atomnet.zoo._families import (
    FamilyParams,
    ZooFamily,
    family_of,
    family_spec,
    list_families,
    parse_family_name,
    register_family,
)
from atomnet.zoo._mobilenets import only_in_tinyops_families
from atomnet.zoo._rows import RowMatch, match_row, zoo_name_for_row


def _zoo_dir() -> Traversable:
    return files("atomnet").joinpath("data", "zoo")


@lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    return tuple(sorted(p.name[:-5] for p in _zoo_dir().iterdir() if p.name.endswith(".json")))


def list_zoo() -> list[str]:
    """Names of the packaged zoo models, sorted."""
    return list(_names())


def zoo_aliases() -> dict[str, tuple[str, ...]]:
    """Canonical zoo name -> its published aliases (empty tuple for none), for every zoo model."""
    return {n: ALIASES.get(n, ()) for n in _names()}


def zoo_families() -> list[ZooFamily]:
    """The parametric families (prefix, name pattern, description, example), by prefix."""
    return list_families()


def resolve_zoo(name: str) -> str | None:
    """The canonical zoo name of ``name`` (a zoo name, a published alias or a family name, any case), else None
    (also for a family name whose parameters do not fit: :func:`get_zoo` says why)."""
    if name in _names():
        return name
    low = name.lower()
    if low in _names():
        return low
    canon = ALIAS_TO_NAME.get(low)
    if canon in _names():
        return canon
    try:
        return parse_family_name(low)
    except UnknownNameError:
        return None


def _known() -> str:
    fams = ", ".join(f.pattern for f in list_families())
    return f"{', '.join(_names())}, and the families {fams}"


def get_zoo(name: str) -> ModelSpec:
    """The spec of zoo model ``name``: a packaged model, a published alias or a family name (a cached, immutable
    :class:`ModelSpec` named by its canonical name). A family name that does not fit its pattern raises
    :class:`UnknownNameError` naming the pattern."""
    canon = resolve_zoo(name)
    if canon is None:
        parse_family_name(name)  # raises with the family's pattern when the name starts with a family prefix
        raise UnknownNameError(f"unknown zoo model {name!r}; known: {_known()} (aliases: atomnet zoo list)")
    return _load(canon) if canon in _names() else family_spec(canon)


class ZooCatalog:
    """The packaged zoo as a :class:`~atomnet.spec.SpecCatalog` (names and aliases, any case)."""

    what = "zoo model"

    def find(self, name: str) -> ModelSpec | None:
        canon = resolve_zoo(name)
        if canon is None:
            if family_of(name) is not None and not Path(name).is_file():
                parse_family_name(name)  # a family name that does not fit: say which pattern it expects
            return None
        return _load(canon) if canon in _names() else family_spec(canon)

    def names(self) -> list[str]:
        """The packaged models, then the families' name patterns (for messages)."""
        return [*list_zoo(), *(f.pattern for f in list_families())]


#: the packaged zoo, for ``atomnet.spec.load_spec(name, catalog=ZOO)``
ZOO = ZooCatalog()


@cache
def _load(name: str) -> ModelSpec:
    path = _zoo_dir().joinpath(f"{name}.json")
    try:
        return ModelSpec.from_dict(json.loads(path.read_text()))
    except SpecError as e:
        raise e.in_file(f"atomnet/data/zoo/{name}.json") from None


__all__ = [
    "ZOO",
    "FamilyParams",
    "RowMatch",
    "ZooCatalog",
    "ZooFamily",
    "get_zoo",
    "list_zoo",
    "match_row",
    "only_in_tinyops_families",
    "register_family",
    "resolve_zoo",
    "zoo_aliases",
    "zoo_families",
    "zoo_name_for_row",
]
