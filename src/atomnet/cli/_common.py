"""Plumbing shared by the command modules (no command lives here): the AtomDB a command opens, the board
rows are stored under, the SPEC argument of the ML commands, torch threads. Command modules import from here,
never from each other."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

#: SPEC names that are not zoo models: the built-in demo architecture (atomnet.nn.demo_spec)
DEMO_NAMES = ("demo", "demo-hybrid-r32")


def open_db(args: argparse.Namespace, *, write: bool = False, create: bool = False,
            missing_ok: bool = False) -> Any:
    """The AtomDB of ``--db`` / ``$ATOMNET_DB`` / the default path. Read-only unless ``write``; only ``create``
    (db import, db measure) makes a new file, and says so on stderr; ``missing_ok``: None when the default
    file does not exist (an explicit path must exist)."""
    from atomnet.db import open_user_db

    db = open_user_db(args.db, readonly=not write, create=create, missing_ok=missing_ok)
    if db is not None and db.created:
        print(f"created new AtomDB at {db.path}", file=sys.stderr)
    return db


def existing_db(args: argparse.Namespace) -> Any:
    """The user's AtomDB opened read-only (never created, never write-locked), or None on a fresh install (no
    --db, no $ATOMNET_DB and no default file: the embedded predictors price). A --db or $ATOMNET_DB path that
    does not exist is an error (``atomnet.db.open_user_db``)."""
    return open_db(args, missing_ok=True)


def stored_board(name_or_file: str) -> str:
    """``--board`` of the commands that store measurements: the name they are stored under (a built-in board or
    a board file's name; :func:`atomnet.boards.measured_board_name` refuses a scaled board)."""
    from atomnet.boards import measured_board_name

    return measured_board_name(name_or_file, field="--board")


def resolve_spec(name: str) -> Any:
    """A zoo model, a spec file, or the built-in demo net."""
    from atomnet.spec import load_spec
    from atomnet.zoo import ZOO, list_zoo

    if name in DEMO_NAMES and name not in list_zoo():
        from atomnet.nn import demo_spec

        return demo_spec()
    return load_spec(name, catalog=ZOO)


def set_threads(threads: int | None) -> int:
    """Torch intra-op threads: ``threads``, else ``$OMP_NUM_THREADS``, else 1. One thread per process is the
    measured fastest for these small nets on a shared 2-core CPU (docs/export.md: 2 threads were 10–50× slower
    there); torchrun sets ``OMP_NUM_THREADS=1`` per process itself."""
    from atomnet.cli import CliError

    n = threads if threads is not None else int(os.environ.get("OMP_NUM_THREADS") or 1)
    if n < 1:
        raise CliError(f"--threads: expected a positive integer, got {n}")
    import torch

    torch.set_num_threads(n)
    return n


def need_ml_stack(what: str) -> None:
    """Refuse (as a user error) a command that needs torch when the ML stack is not installed."""
    from atomnet.cli import CliError

    try:
        import torch  # noqa: F401
    except ImportError:
        raise CliError(f"{what} needs the ML stack: .venv/bin/pip install -r requirements-ml.txt") from None
