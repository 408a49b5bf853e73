"""The one error type of spec handling: it names the field path (and the file) that is wrong."""

from __future__ import annotations

from typing import Any

from atomnet.errors import InputError


class SpecError(InputError):
    """An invalid architecture description.

    ``path`` is the field path inside the document (``stages[3].blocks[0].out_channels``), ``source`` the file
    or document it came from (may be empty). ``str(err)`` reads ``source: path: problem``.
    """

    def __init__(self, path: str, problem: str, source: str = "") -> None:
        self.path = path
        self.problem = problem
        self.source = source
        super().__init__(self._text())

    def _text(self) -> str:
        parts = [p for p in (self.source, self.path) if p]
        return ": ".join([*parts, self.problem])

    def within(self, prefix: str) -> SpecError:
        """The same error seen from an enclosing field: ``prefix`` + ``.`` + path."""
        if not prefix:
            return self
        path = prefix if not self.path else (f"{prefix}{self.path}" if self.path.startswith("[")
                                             else f"{prefix}.{self.path}")
        return SpecError(path, self.problem, self.source)

    def in_file(self, source: str) -> SpecError:
        return SpecError(self.path, self.problem, source)


def expect_int(value: object, path: str, *, minimum: int = 1, what: str = "a positive int") -> int:
    """``value`` as an int ≥ ``minimum`` (bools and floats with a fraction are rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value \
            or int(value) < minimum:
        raise SpecError(path, f"expected {what}, got {value!r}")
    return int(value)


def expect_number(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise SpecError(path, f"expected a positive number, got {value!r}")
    return value


def expect_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(path, f"expected true or false, got {value!r}")
    return value


def expect_str(value: object, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(path, f"expected a non-empty string, got {value!r}")
    return value


def check_keys(d: object, path: str, allowed: set[str] | frozenset[str],
               required: tuple[str, ...] = ()) -> dict[str, Any]:
    """``d`` as a dict with only ``allowed`` keys and all ``required`` ones."""
    if not isinstance(d, dict):
        raise SpecError(path, f"expected an object, got {type(d).__name__}")
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise SpecError(path, f"unknown key(s) {unknown}; allowed: {sorted(allowed)}")
    for k in required:
        if k not in d:
            raise SpecError(f"{path}.{k}" if path else k, "missing required field")
    return d
