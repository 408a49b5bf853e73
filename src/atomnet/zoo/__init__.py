"""Published architectures as atomnet spec files (``atomnet/data/zoo/*.json``).

The files are generated from the public configurations in ``../shared/zoo`` by
``python -m atomnet.zoo._build``; each carries its provenance (original file, its SHA-256, upstream source).
AtomNet (FACTS §2): ``atomnet-256kb``, ``atomnet-256kb-max``, ``atomnet-320kb``, ``atomnet-512kb``,
``atomnet-512kb-large``, ``atomnet-512kb-max``, ``atomnet-10fps``, ``atomnet-5fps``. MCUNet (FACTS §3):
``mcunet-in0`` … ``mcunet-in4``, ``mcunet-vww0`` … ``mcunet-vww2``, ``mbv2-w0.35-r144``,
``proxyless-w0.3-r176``.

>>> from atomnet.zoo import get_zoo, list_zoo
>>> len(list_zoo()), get_zoo("mcunet-in2").resolution
(18, (160, 160))
"""

from __future__ import annotations

import json
from functools import cache, lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable

from atomnet.spec import ModelSpec, SpecError


def _zoo_dir() -> Traversable:
    return files("atomnet").joinpath("data", "zoo")


@lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    return tuple(sorted(p.name[:-5] for p in _zoo_dir().iterdir() if p.name.endswith(".json")))


def list_zoo() -> list[str]:
    """Names of the packaged zoo models, sorted."""
    return list(_names())


@cache
def get_zoo(name: str) -> ModelSpec:
    """The packaged spec of zoo model ``name`` (a cached, immutable :class:`ModelSpec`)."""
    if name not in _names():
        raise KeyError(f"unknown zoo model {name!r}; known: {', '.join(_names())}")
    path = _zoo_dir().joinpath(f"{name}.json")
    try:
        return ModelSpec.from_dict(json.loads(path.read_text()))
    except SpecError as e:
        raise e.in_file(f"atomnet/data/zoo/{name}.json") from None


__all__ = ["get_zoo", "list_zoo"]
