"""Types of JSON-like data (what ``json.load`` returns, what ``to_dict`` gives and ``from_dict`` takes).

Imports nothing of atomnet, so every module may use these.

>>> row: JSONDict = {"name": "atomnet-256kb", "macs": 102_461_648, "stages": [1, 2]}
>>> sorted(row)
['macs', 'name', 'stages']
"""

from __future__ import annotations

from typing import TypeAlias

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None
"""Any JSON value (recursive)."""

JSONDict: TypeAlias = dict[str, object]
"""A JSON object as read or written: string keys, values checked by the reader (``object``, not ``Any``)."""

__all__ = ["JSONDict", "JSONValue"]
