"""The ``atomnet`` command line. Commands are thin: they compute a result object, then render it
(table, JSON or plot). Heavy modules are imported lazily inside each command.

Examples::

    atomnet db import ../shared/atomdb/stm32h743/atomdb.csv --se ../shared/atomdb/stm32h743/atomdb_se.csv \\
        --board stm32h743
    atomnet db query pointwise --c-in 80 --h-in 7 --c-out 480
    atomnet cost atomnet-256kb --board stm32h743
    atomnet search --board stm32h743 --sram 256KB --flash 1MB --latency 275ms

Exit status: 0 success; 1 the model does not fit (``cost``) or nothing fits (``search``); 2 an error in the input
(one line ``atomnet: error: …``); 3 a bug in atomnet (``ATOMNET_DEBUG=1`` prints the traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sqlite3
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from atomnet import __version__
from atomnet.errors import InputError

#: command modules, each with add_parser(subparsers) setting args.func (imports stay light: heavy work is lazy)
_COMMANDS = ("_db", "_boards", "_zoo", "_cost", "_search", "_search_space", "_search_front", "_demo", "_train",
             "_export", "_verify", "_analyze", "_validate", "_deploy")
#: modules that add subcommands to a command (add_subparsers(the command's subparsers, as its add_parser returns))
_NESTED = (("_db_measure", "_db"),)

#: exit statuses
EXIT_USER_ERROR = 2
EXIT_BUG = 3

#: a "negative number" for argparse: also with a unit, so that ``--latency -5ms`` hands "-5ms" to the option (and
#: the option's parser says what is wrong) instead of argparse taking it for an unknown option
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d+(\.\d*)?([eE][-+]?\d+)?[A-Za-zµ]*$")

#: SQLite errors that come from the file or its environment (locked, read-only, corrupt), not from atomnet's SQL
_SQLITE_USER = re.compile(r"locked|busy|readonly|read-only|disk|malformed|not a database|unable to open|full",
                          re.IGNORECASE)


#: top-level modules of the ML stack (requirements-ml.txt): missing one is an installation step, not a bug
_ML_MODULES = ("torch", "torchvision", "onnx", "onnx2tf", "onnxscript", "tflite_micro", "tensorflow",
               "ai_edge_litert")


class CliError(InputError):
    """An error in the command line (an option, a combination of options): printed as one line without a
    traceback, exit status 2. Library code raises :class:`atomnet.errors.InputError` instead."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose subparsers are of this class too (argparse's default ``parser_class`` is
    ``type(self)``), so the negative-number rule holds for every command and nested subcommand."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._negative_number_matcher = _NEGATIVE_NUMBER


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="atomnet",
        description="Design tiny neural networks for microcontrollers from measured atom operators.",
        epilog="Run 'atomnet COMMAND --help' for the options of a command. Sizes need a unit (256KB, 1MB, "
               "262144B); a time without a unit is milliseconds. Exit status: 0 success, 1 the model does not fit "
               "(cost) or nothing fits (search), 2 an error in the input, 3 a bug in atomnet "
               "(ATOMNET_DEBUG=1 prints the traceback).")
    p.add_argument("--version", action="version", version=f"atomnet {__version__}")
    p.add_argument("--db", metavar="PATH",
                   help="AtomDB SQLite file (default: $ATOMNET_DB, else the per-user data directory)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    nested = {}
    for name in _COMMANDS:
        mod = _command_module(name)
        if mod is not None:
            nested[name] = mod.add_parser(sub)
    for name, parent in _NESTED:
        mod = _command_module(name)
        if mod is not None and nested.get(parent) is not None:
            mod.add_subparsers(nested[parent])
    return p


def _command_module(name: str) -> Any:
    """``atomnet.cli.NAME``, or None for a command module not present in this build."""
    try:
        return importlib.import_module(f"atomnet.cli.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"atomnet.cli.{name}":
            raise
        return None


def _user_message(e: BaseException) -> str | None:
    """The one-line message of a user error, or None when ``e`` is a bug in atomnet. User errors are exactly:
    :class:`~atomnet.errors.InputError` (with :class:`CliError` and every library error about the input: spec,
    board, units, CSV, schema, journal, .tflite, data …); an ``OSError`` about a file (with its filename, or
    raised by atomnet with a message naming the file); SQLite errors of the file or its environment (locked,
    read-only, corrupt, full); a missing module of the ML stack. Anything else (a bare ``ValueError``,
    ``KeyError``, ``TypeError`` …) is a bug."""
    if isinstance(e, InputError):
        return str(e)
    if isinstance(e, OSError):
        if e.filename is not None and e.strerror:
            return f"{e.filename}: {e.strerror}"
        if e.errno is None and len(e.args) == 1 and isinstance(e.args[0], str) and e.args[0].strip():
            return e.args[0]  # raised by atomnet: FileNotFoundError("PATH: missing; …")
        return None
    if isinstance(e, sqlite3.DatabaseError):
        if isinstance(e, (sqlite3.ProgrammingError, sqlite3.InterfaceError)) or not _SQLITE_USER.search(str(e)):
            return None
        return f"database: {e}"
    if isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] in _ML_MODULES:
        return f"this command needs the ML stack (no module {e.name!r}): .venv/bin/pip install -r requirements-ml.txt"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors: argparse prints them and exits 2
    debug = bool(os.environ.get("ATOMNET_DEBUG"))
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("atomnet: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # the one place that turns any exception into a message and a status
        msg = _user_message(e)
        if debug:
            traceback.print_exc()
        if msg is not None:
            print(f"atomnet: error: {msg}", file=sys.stderr)
            return EXIT_USER_ERROR
        detail = " ".join((f"{type(e).__name__}: {e}" if str(e) else type(e).__name__).split())
        print(f"atomnet: internal error ({detail[:300]}); this is a bug in atomnet, please report it"
              f"{'' if debug else '; set ATOMNET_DEBUG=1 for the traceback'}", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
