"""The ``atomnet`` command line. Commands are thin: they compute a result object, then render it
(table, JSON or plot). Heavy modules are imported lazily inside each command.

Examples::

    atomnet db import ../shared/atomdb/stm32h743/atomdb.csv --se ../shared/atomdb/stm32h743/atomdb_se.csv \\
        --board stm32h743
    atomnet db query pointwise --c-in 80 --h-in 7 --c-out 480
    atomnet cost atomnet-256kb --board stm32h743
    atomnet search --board stm32h743 --sram 256KB --flash 1MB --latency 275ms
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from atomnet import __version__

#: command modules, each with add_parser(subparsers) setting args.func (imports stay light: heavy work is lazy)
_COMMANDS = ("_db", "_boards", "_zoo", "_cost", "_search", "_demo", "_train", "_export", "_verify", "_analyze")


class CliError(Exception):
    """An error for the user: printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="atomnet",
        description="Design tiny neural networks for microcontrollers from measured atom operators.",
        epilog="Run 'atomnet COMMAND --help' for the options of a command.")
    p.add_argument("--version", action="version", version=f"atomnet {__version__}")
    p.add_argument("--db", metavar="PATH",
                   help="AtomDB SQLite file (default: $ATOMNET_DB, else the per-user data directory)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _COMMANDS:
        try:
            mod = importlib.import_module(f"atomnet.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"atomnet.cli.{name}":
                raise
            continue  # a command module not present in this build
        mod.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CliError, ValueError, KeyError, FileNotFoundError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"atomnet: error: {msg}", file=sys.stderr)
        if os.environ.get("ATOMNET_DEBUG"):
            raise
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
