"""The base classes of errors in what the user gave (a file, an option, a name): the CLI prints them as one
line ``atomnet: error: …`` with exit status 2; any other exception is a bug in atomnet (exit status 3).

An error in the input names where it is (file, line, field or option) and what was expected. Imports nothing of
atomnet, so every module may raise these.

>>> try:
...     raise UnknownNameError("unknown board 'x'; known boards: stm32h743")
... except KeyError as e:  # still a KeyError (and a ValueError) for callers that catch those
...     print(e)
unknown board 'x'; known boards: stm32h743
"""

from __future__ import annotations


class InputError(ValueError):
    """Input that cannot be used, with what to do about it (a ``ValueError``)."""


class UnknownNameError(InputError, KeyError):
    """A name that is not in a registry (board, zoo model, space, runner …); the message lists the known ones.
    Also a ``KeyError``, printed as its message (not quoted like a ``KeyError``'s key)."""

    def __str__(self) -> str:
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


__all__ = ["InputError", "UnknownNameError"]
