"""Where the user's AtomDB lives: ``--db PATH``, else ``$ATOMNET_DB``, else a per-user data directory.

Only commands that add measurements (``db import``, ``db measure``) create a database; every other command
opens an existing one read-only. A ``--db`` or ``$ATOMNET_DB`` path that does not exist is therefore an error
for them (a typo must not silently mean "no measurements"); only the default per-user file may be absent,
which is a fresh install: ``cost`` and ``search`` then price with the embedded predictors.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from atomnet.db._store import AtomDB, NoDatabaseError


def user_data_dir() -> Path:
    """Per-user data directory (XDG on Linux, ``~/Library/Application Support`` on macOS, ``%APPDATA%``)."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "atomnet"


def resolve_db_path(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """(path, where it came from: ``"--db"``, ``"$ATOMNET_DB"`` or ``"default"``)."""
    if explicit:
        return Path(explicit), "--db"
    env = os.environ.get("ATOMNET_DB")
    if env:
        return Path(env), "$ATOMNET_DB"
    return user_data_dir() / "atomdb.sqlite", "default"


def default_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the database path: explicit argument, ``$ATOMNET_DB``, then ``<user data dir>/atomdb.sqlite``."""
    return resolve_db_path(explicit)[0]


def open_user_db(explicit: str | os.PathLike[str] | None = None, *, readonly: bool = True, create: bool = False,
                 missing_ok: bool = False) -> AtomDB | None:
    """Open the user's AtomDB (module doc). ``create``: make a new one if missing (``db.created`` says so);
    ``missing_ok``: return None when the *default* file does not exist (an explicit path must exist)."""
    path, origin = resolve_db_path(explicit)
    if not create and not path.exists():
        if missing_ok and origin == "default":
            return None
        hint = f"create one with 'atomnet --db {path} db import ...'"
        if origin == "--db":
            raise NoDatabaseError(f"--db {path}: no such AtomDB; {hint}")
        if origin == "$ATOMNET_DB":
            raise NoDatabaseError(f"$ATOMNET_DB={path}: no such AtomDB; {hint}")
        raise NoDatabaseError(f"no AtomDB yet at the default {path}; create it with 'atomnet db import ...' "
                              f"(or name one with --db PATH)")
    return AtomDB(path, readonly=readonly and not create, create=create)
