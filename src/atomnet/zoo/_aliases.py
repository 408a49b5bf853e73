"""The published names of the zoo models (``atomnet zoo list`` shows them; every command taking a zoo name
accepts them, case-insensitively).

MCUNet's models are known by three sets of names (``../shared/zoo/mcunet/SOURCES.md``): the ``net_id`` of
``mcunet.model_zoo`` since 2022-12 (``mcunet-in0`` …, our canonical names), the ``net_name`` its download files
carry (``mcunet-10fps_imagenet.json`` …, the names of the paper's tables), and the old ``net_id`` of the PyPI
release 0.1.1 (``mcunet-256kB`` …). SOURCES.md maps each file to both ids; the VWW files' ``net_id`` column
gives ``mcunet-vww0`` = ``mcunet-10fps_vww``, ``vww1`` = ``mcunet-5fps_vww``, ``vww2`` = ``mcunet-320kb-1mb_vww``.
"""

from __future__ import annotations

#: canonical zoo name -> its published aliases (lower case; SOURCES.md tables "Verbatim" and "Reconstructed")
ALIASES: dict[str, tuple[str, ...]] = {
    "mcunet-in0": ("mcunet-10fps", "mcunet-10fps_imagenet"),
    "mcunet-in1": ("mcunet-5fps", "mcunet-5fps_imagenet"),
    "mcunet-in2": ("mcunet-256kb-1mb", "mcunet-256kb-1mb_imagenet", "mcunet-256kb"),
    "mcunet-in3": ("mcunet-320kb-1mb", "mcunet-320kb-1mb_imagenet", "mcunet-320kb"),
    "mcunet-in4": ("mcunet-512kb-2mb", "mcunet-512kb-2mb_imagenet", "mcunet-512kb"),
    "mcunet-vww0": ("mcunet-10fps-vww", "mcunet-10fps_vww"),
    "mcunet-vww1": ("mcunet-5fps-vww", "mcunet-5fps_vww"),
    "mcunet-vww2": ("mcunet-320kb-vww", "mcunet-320kb-1mb-vww", "mcunet-320kb-1mb_vww"),
    "mbv2-w0.35-r144": ("mbv2-w0.35", "mbv2-w0.35-r144_imagenet", "mbv2-320kb"),
    "proxyless-w0.3-r176": ("proxyless-w0.3", "proxyless-w0.3-r176_imagenet", "proxyless-320kb"),
}


def _check() -> dict[str, str]:
    """alias -> canonical name; loud on an alias given twice (a registry must not be ambiguous)."""
    out: dict[str, str] = {}
    for name, aliases in ALIASES.items():
        for a in aliases:
            if a in out or a in ALIASES or a != a.lower():
                raise ValueError(f"zoo alias {a!r} of {name!r} is ambiguous or not lower case")
            out[a] = name
    return out


ALIAS_TO_NAME = _check()
