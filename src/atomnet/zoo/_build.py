"""Regenerate the packaged zoo (``src/atomnet/data/zoo/*.json``) from the public configs in ``../shared/zoo``.

    python -m atomnet.zoo._build [--shared ../shared] [--out src/atomnet/data/zoo]

Architecture numbers are published facts; the generated files are our own format (``atomnet.spec/1``) and
record where each came from (shared file, its SHA-256, upstream source), so the build is reproducible.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from atomnet.errors import InputError
from atomnet.spec import ModelSpec, from_ofa, from_stage_config

REPO = Path(__file__).resolve().parents[3]
ATOMNET = ("atomnet-256kb", "atomnet-256kb-max", "atomnet-320kb", "atomnet-512kb", "atomnet-512kb-large",
           "atomnet-512kb-max", "atomnet-10fps", "atomnet-5fps")
_MCUNET_REPO = "github.com/mit-han-lab/mcunet@8326da697b90bde55d3d85624bd67343c4741a01 assets/configs/"
#: zoo name -> (file in shared/zoo/mcunet, upstream source)
MCUNET: dict[str, tuple[str, str]] = {
    "mcunet-in0": ("mcunet-10fps_imagenet.json", "MCUNet model zoo mcunet-in0 (mcunet-10fps), " + _MCUNET_REPO),
    "mcunet-in1": ("mcunet-5fps_imagenet.json", "MCUNet model zoo mcunet-in1 (mcunet-5fps), " + _MCUNET_REPO),
    "mcunet-in2": ("mcunet-256kb-1mb_imagenet.json",
                   "MCUNet model zoo mcunet-in2 (mcunet-256kB), " + _MCUNET_REPO),
    "mcunet-in3": ("mcunet-320kb-1mb_imagenet.json",
                   "MCUNet model zoo mcunet-in3 (mcunet-320kB), " + _MCUNET_REPO),
    "mcunet-in4": ("mcunet-512kb-2mb_imagenet.json",
                   "MCUNet model zoo mcunet-in4 (mcunet-512kB), " + _MCUNET_REPO),
    "mcunet-vww0": ("mcunet-10fps_vww.json", "MCUNet model zoo mcunet-vww0, architecture reconstructed from "
                                             "harvard-edge/Wake_Vision wv_quality_mcunet-10fps_vww.tflite"),
    "mcunet-vww1": ("mcunet-5fps_vww.json", "MCUNet model zoo mcunet-vww1, architecture reconstructed from "
                                            "mit-han-lab/tinyengine assets/vww.tflite"),
    "mcunet-vww2": ("mcunet-320kb-1mb_vww.json", "MCUNet model zoo mcunet-vww2, architecture reconstructed from "
                                                 "harvard-edge/Wake_Vision wv_quality_mcunet-320kb-1mb_vww.tflite"),
    "mbv2-w0.35-r144": ("mbv2-w0.35-r144_imagenet.json",
                        "MCUNet model zoo mbv2-w0.35 (mbv2-320kB), " + _MCUNET_REPO),
    "proxyless-w0.3-r176": ("proxyless-w0.3-r176_imagenet.json",
                            "MCUNet model zoo proxyless-w0.3 (proxyless-320kB), " + _MCUNET_REPO),
}


def _read(path: Path) -> tuple[Any, dict[str, str]]:
    raw = path.read_bytes()
    return json.loads(raw), {"sha256": hashlib.sha256(raw).hexdigest()}


def build_specs(shared: Path) -> list[ModelSpec]:
    """All zoo specs, imported from ``shared/zoo`` with provenance."""
    specs = []
    for name in ATOMNET:
        rel = f"zoo/atomnet/{name}.json"
        d, extra = _read(shared / rel)
        if d["name"] != name:
            raise InputError(f"{shared / rel}: expected model {name!r}, found {d['name']!r}")
        specs.append(from_stage_config(d, provenance={"file": f"../shared/{rel}", **extra}))
    for name, (fname, source) in MCUNET.items():
        rel = f"zoo/mcunet/{fname}"
        d, extra = _read(shared / rel)
        specs.append(from_ofa(d, name, provenance={"source": source, "file": f"../shared/{rel}", **extra}))
    return specs


def dumps_spec(d: dict[str, Any]) -> str:
    """Readable, stable JSON: one line per block."""
    lines = ["{"]
    items = list(d.items())
    for i, (k, v) in enumerate(items):
        sep = "," if i < len(items) - 1 else ""
        if k == "stages":
            lines.append(' "stages": [')
            for j, st in enumerate(v):
                blocks = ",\n".join("   " + json.dumps(b) for b in st["blocks"])
                lines.append('  {"blocks": [\n' + blocks + "\n  ]}" + ("," if j < len(v) - 1 else ""))
            lines.append(" ]" + sep)
        else:
            lines.append(f" {json.dumps(k)}: {json.dumps(v)}{sep}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_zoo(specs: list[ModelSpec], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in specs:
        p = out / f"{spec.name}.json"
        p.write_text(dumps_spec(spec.to_dict()))
        paths.append(p)
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m atomnet.zoo._build", description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="the shared data folder")
    ap.add_argument("--out", type=Path, default=REPO / "src" / "atomnet" / "data" / "zoo")
    args = ap.parse_args(argv)
    for p in write_zoo(build_specs(args.shared), args.out):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
