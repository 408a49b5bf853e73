"""Where the user's AtomDB lives: ``--db PATH``, else ``$ATOMNET_DB``, else a per-user data directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def user_data_dir() -> Path:
    """Per-user data directory (XDG on Linux, ``~/Library/Application Support`` on macOS, ``%APPDATA%``)."""
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "atomnet"


def default_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the database path: explicit argument, ``$ATOMNET_DB``, then ``<user data dir>/atomdb.sqlite``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("ATOMNET_DB")
    if env:
        return Path(env)
    return user_data_dir() / "atomdb.sqlite"
