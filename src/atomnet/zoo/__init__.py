"""Published architectures as atomnet spec files (``atomnet/data/zoo/*.json``).

The files are generated from the public configurations in ``../shared/zoo`` by
``python -m atomnet.zoo._build``; each carries its provenance (original file, its SHA-256, upstream source).
AtomNet (FACTS §2): ``atomnet-256kb``, ``atomnet-256kb-max``, ``atomnet-320kb``, ``atomnet-512kb``,
``atomnet-512kb-large``, ``atomnet-512kb-max``, ``atomnet-10fps``, ``atomnet-5fps``. MCUNet (FACTS §3):
``mcunet-in0`` … ``mcunet-in4``, ``mcunet-vww0`` … ``mcunet-vww2``, ``mbv2-w0.35-r144``,
``proxyless-w0.3-r176``. The MCUNet models also answer to their published names (``mcunet-256kb-1mb``,
``mcunet-5fps``, ``mcunet-10fps-vww`` …; :func:`zoo_aliases`, ``atomnet zoo list``).

>>> from atomnet.zoo import get_zoo, list_zoo, resolve_zoo
>>> len(list_zoo()), get_zoo("mcunet-in2").resolution
(18, (160, 160))
>>> resolve_zoo("mcunet-256kb-1mb"), get_zoo("mcunet-10fps").name
('mcunet-in2', 'mcunet-in0')

:data:`ZOO` is the zoo as an :class:`atomnet.spec.SpecCatalog`: ``load_spec(name_or_file, catalog=ZOO)`` takes a
zoo name, an alias or a spec file.
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable

from atomnet.errors import UnknownNameError
from atomnet.spec import ModelSpec, SpecError
from atomnet.zoo._aliases import ALIAS_TO_NAME, ALIASES


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


def resolve_zoo(name: str) -> str | None:
    """The canonical zoo name of ``name`` (a zoo name or a published alias, any case), else None."""
    if name in _names():
        return name
    low = name.lower()
    if low in _names():
        return low
    canon = ALIAS_TO_NAME.get(low)
    return canon if canon in _names() else None


def get_zoo(name: str) -> ModelSpec:
    """The packaged spec of zoo model ``name`` or of a published alias (a cached, immutable :class:`ModelSpec`
    named by its canonical name)."""
    canon = resolve_zoo(name)
    if canon is None:
        raise UnknownNameError(f"unknown zoo model {name!r}; known: {', '.join(_names())} (aliases: atomnet zoo list)")
    return _load(canon)


class ZooCatalog:
    """The packaged zoo as a :class:`~atomnet.spec.SpecCatalog` (names and aliases, any case)."""

    what = "zoo model"

    def find(self, name: str) -> ModelSpec | None:
        canon = resolve_zoo(name)
        return None if canon is None else _load(canon)

    def names(self) -> list[str]:
        return list_zoo()


#: the packaged zoo, for ``atomnet.spec.load_spec(name, catalog=ZOO)``
ZOO = ZooCatalog()


@cache
def _load(name: str) -> ModelSpec:
    path = _zoo_dir().joinpath(f"{name}.json")
    try:
        return ModelSpec.from_dict(json.loads(path.read_text()))
    except SpecError as e:
        raise e.in_file(f"atomnet/data/zoo/{name}.json") from None


__all__ = ["ZOO", "ZooCatalog", "get_zoo", "list_zoo", "resolve_zoo", "zoo_aliases"]
