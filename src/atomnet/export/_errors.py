"""Errors of :mod:`atomnet.export` (importable without torch)."""

from __future__ import annotations


class ExportError(RuntimeError):
    """The conversion failed or produced a model that is not fully int8 (the message says which operator)."""
