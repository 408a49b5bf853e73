"""``atomnet zoo``: the published architectures shipped with atomnet."""

from __future__ import annotations

import argparse
from typing import Any

from atomnet.cli._render import print_json, table


def add_parser(sub: Any) -> None:
    p = sub.add_parser("zoo", help="published architectures (AtomNet, MCUNet, MobileNetV2, ProxylessNAS)")
    zsub = p.add_subparsers(dest="zoo_command", metavar="SUBCOMMAND")
    zsub.required = True
    s = zsub.add_parser("list", help="list zoo models with resolution, MACs, parameters and published aliases")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)
    s = zsub.add_parser("show", help="print a zoo model's spec JSON")
    s.add_argument("name", help="zoo name or published alias (e.g. mcunet-256kb-1mb = mcunet-in2)")
    s.set_defaults(func=cmd_show)


def cmd_list(args: argparse.Namespace) -> int:
    from atomnet.spec import spec_macs, spec_params
    from atomnet.zoo import get_zoo, list_zoo, zoo_aliases, zoo_families

    rows: list[dict[str, Any]] = []
    aliases = zoo_aliases()
    for name in list_zoo():
        spec = get_zoo(name)
        rows.append({"name": name, "aliases": list(aliases[name]), "resolution": spec.resolution,
                     "macs": spec_macs(spec),
                     "params": spec_params(spec), "blocks": sum(len(s.blocks) for s in spec.stages),
                     "source": spec.provenance.get("source", "")})
    families = [{"name": f.pattern, "aliases": [], "family": True, "example": f.example,
                 "description": f.description, "source": f.source} for f in zoo_families()]
    if args.json:
        print_json(rows + families)
        return 0
    # the source (upstream file and commit) is in --json and in 'zoo show'
    print(table(["model", "res", "MACs (M)", "params", "blocks", "also known as (any of these names works)"],
                [(r["name"], r["resolution"], r["macs"] / 1e6, r["params"], r["blocks"], ", ".join(r["aliases"]))
                 for r in rows]))
    print("\nfamilies (any alpha / res / classes in the pattern; 'atomnet zoo show EXAMPLE'):")
    print(table(["name pattern", "example", "what"], [(f["name"], f["example"], f["description"]) for f in families]))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from atomnet.zoo import get_zoo

    print_json(get_zoo(args.name).to_dict())
    return 0
