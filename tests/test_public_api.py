"""The public signatures of the packages the search stands on (issue 11, scope 9): no ``Any`` in them.

For ``atomnet.cost``, ``atomnet.search``, ``atomnet.db``, ``atomnet.spec``, ``atomnet.ops`` and
``atomnet.runtimes``, every name of ``__all__`` (modules without one: their public functions and classes) is
looked at: a function's parameters and return; a class's public fields (its resolved class annotations), its
constructor and every public method, property, class and static method of it and of its atomnet bases; a public
type alias itself. An annotation is resolved (:func:`typing.get_type_hints` per annotation, in the defining
module's namespace); where it cannot be (a name imported only under ``TYPE_CHECKING``), its text is searched for
the word ``Any``. ``Any`` anywhere counts, nested too (``dict[str, Any]``, ``Callable[..., Any]``), except
numpy's shape slot of ``ndarray[Any, dtype[...]]`` (what ``numpy.typing.NDArray`` expands to).

Also: importing ``atomnet.cost`` and ``atomnet.search`` does not import torch (the search runs on a laptop)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import subprocess
import sys
import typing
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import numpy as np

PACKAGES = ("atomnet.cost", "atomnet.search", "atomnet.db", "atomnet.spec", "atomnet.ops", "atomnet.runtimes")

_ANY_WORD = re.compile(r"\bAny\b")
_NDARRAY_SHAPE = re.compile(r"ndarray\[\s*(?:typing\.)?Any\s*,")


def public_names(mod: ModuleType) -> list[str]:
    """``__all__``, or (no ``__all__``) the public functions and classes defined in the module itself."""
    names = getattr(mod, "__all__", None)
    if names is not None:
        return list(names)
    return sorted(n for n, v in vars(mod).items() if not n.startswith("_")
                  and (inspect.isfunction(v) or inspect.isclass(v)) and getattr(v, "__module__", "") == mod.__name__)


def has_any(t: object) -> bool:
    """Whether a resolved annotation is or contains ``typing.Any`` (numpy's shape slot excepted)."""
    if t is Any:
        return True
    if isinstance(t, str):  # a forward reference left as text
        return text_has_any(t)
    if isinstance(t, typing.ForwardRef):
        return text_has_any(t.__forward_arg__)
    if isinstance(t, (list, tuple)):  # Callable's parameter list
        return any(has_any(a) for a in t)
    args = typing.get_args(t)
    if typing.get_origin(t) is np.ndarray and len(args) == 2:
        args = args[1:]  # ndarray[shape, dtype]: numpy spells an unconstrained shape as Any
    return any(has_any(a) for a in args)


def text_has_any(text: str) -> bool:
    return bool(_ANY_WORD.search(_NDARRAY_SHAPE.sub("ndarray[", text)))


def _resolve(raw: object, owner: object, globalns: dict[str, Any]) -> object:
    """One annotation resolved like :func:`typing.get_type_hints` does; its text where that fails."""
    if not isinstance(raw, str):
        return raw
    holder = type("_Holder", (), {"__annotations__": {"x": raw}, "__module__": getattr(owner, "__module__", None)})
    localns = dict(vars(owner)) if inspect.isclass(owner) else None
    try:
        return typing.get_type_hints(holder, globalns=globalns, localns=localns)["x"]
    except Exception:
        return raw


def annotations_with_any(fn: Callable[..., object], owner: object = None) -> list[str]:
    """``param``/``return`` names of ``fn`` whose annotation contains ``Any``, each with its annotation."""
    fn = inspect.unwrap(fn)
    raw = getattr(fn, "__annotations__", None) or {}
    globalns = getattr(fn, "__globals__", {})
    out = []
    for name, ann in raw.items():
        resolved = _resolve(ann, owner if owner is not None else fn, globalns)
        if has_any(resolved):
            what = "return" if name == "return" else f"parameter {name}"
            out.append(f"{what}: {ann if isinstance(ann, str) else _show(ann)}")
    return out


def _show(t: object) -> str:
    return t.__name__ if isinstance(t, type) else str(t).replace("typing.", "")


def _ours(klass: type) -> bool:
    """Classes whose members are checked: atomnet's (and this module's, for the checker's own test)."""
    return klass.__module__.startswith(("atomnet.", __name__))


def _callables_of(cls: type) -> Iterator[tuple[str, Callable[..., object], type]]:
    """Public methods (and ``__init__``/``__call__``) defined by ``cls`` and its atomnet bases, each once, with
    the class that defines it."""
    seen: set[str] = set()
    for klass in cls.__mro__:
        if not _ours(klass):
            continue
        for name, member in vars(klass).items():
            if name in seen or (name.startswith("_") and name not in ("__init__", "__call__")):
                continue
            if name == "__init__" and dataclasses.is_dataclass(klass):
                continue  # generated from the fields, which are checked as fields
            seen.add(name)
            if isinstance(member, (staticmethod, classmethod)):
                yield name, member.__func__, klass
            elif isinstance(member, property):
                if member.fget is not None:
                    yield name, member.fget, klass
            elif inspect.isfunction(member):
                yield name, member, klass


def _fields_of(cls: type) -> Iterator[tuple[str, object, dict[str, Any]]]:
    """Public class annotations (dataclass fields, attributes) of ``cls`` and its atomnet bases."""
    for klass in reversed(cls.__mro__):
        if not _ours(klass):
            continue
        globalns = vars(sys.modules[klass.__module__])
        for name, ann in vars(klass).get("__annotations__", {}).items():
            if not name.startswith("_"):
                yield name, ann, globalns


def findings_of(label: str, obj: object, seen: set[int] | None = None) -> list[str]:
    """What of ``obj``'s public signature has ``Any``; ``seen`` (ids of methods and fields' classes already
    listed) lists a method inherited by several public classes once, under the first."""
    seen = set() if seen is None else seen
    out: list[str] = []
    if inspect.isclass(obj):
        for name, ann, globalns in _fields_of(obj):
            if has_any(_resolve(ann, obj, globalns)):
                out.append(f"{label}.{name}: field {ann if isinstance(ann, str) else _show(ann)}")
        for name, fn, klass in _callables_of(obj):
            if id(fn) not in seen:
                seen.add(id(fn))
                where = "" if klass is obj else f" (of {klass.__name__})"
                out += [f"{label}.{name}{where}: {f}" for f in annotations_with_any(fn, obj)]
    elif inspect.isroutine(obj) and callable(obj):
        out += [f"{label}: {f}" for f in annotations_with_any(obj)]
    elif typing.get_origin(obj) is not None and has_any(obj):  # a public type alias
        out.append(f"{label}: alias {_show(obj)}")
    return out


def public_any() -> list[str]:
    found: list[str] = []
    done: set[int] = set()
    methods: set[int] = set()
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        for name in public_names(mod):
            obj = getattr(mod, name)
            if id(obj) in done and (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # re-exported by an earlier package: listed there
            done.add(id(obj))
            found += findings_of(f"{pkg}.{name}", obj, methods)
    return found


# ---- the checker sees what it should ----------------------------------------------------------------------------

def test_the_checker_finds_any_nested_and_in_text_and_not_in_ndarray_shapes() -> None:
    import numpy.typing as npt

    assert has_any(Any) and has_any(dict[str, Any]) and has_any(list[tuple[int, Any]] | None)
    assert has_any(Callable[..., Any]) and has_any(Callable[[Any], int])
    assert not has_any(dict[str, int]) and not has_any(Callable[[int], str]) and not has_any(object)
    assert not has_any(npt.NDArray[np.float64]) and has_any(npt.NDArray[Any]) and has_any(np.ndarray[Any, Any])
    assert text_has_any("Mapping[str, Any]") and text_has_any("typing.Any")
    assert not text_has_any("Anything | AnyOther") and not text_has_any("np.ndarray[Any, np.dtype[np.int64]]")

    def f(a: dict[str, Any], b: int, *rest: Any) -> Missing:  # type: ignore[name-defined]  # noqa: F821
        raise NotImplementedError

    def g(a: int) -> dict[str, Any | None]:
        raise NotImplementedError

    assert annotations_with_any(f) == ["parameter a: dict[str, Any]", "parameter rest: Any"]
    assert annotations_with_any(g) == ["return: dict[str, Any | None]"]

    @dataclasses.dataclass(frozen=True)
    class Rec:
        ok: int
        extra: dict[str, Any]
        _private: Any = None

        def m(self, x: Any) -> int:
            raise NotImplementedError

        @property
        def p(self) -> list[Any]:
            raise NotImplementedError

        @classmethod
        def make(cls, v: int) -> Rec:
            raise NotImplementedError

        def _hidden(self) -> Any:
            raise NotImplementedError

    assert findings_of("Rec", Rec) == ["Rec.extra: field dict[str, Any]", "Rec.m: parameter x: Any",
                                       "Rec.p: return: list[Any]"]


# ---- the rule ---------------------------------------------------------------------------------------------------

def test_no_any_in_public_signatures() -> None:
    found = public_any()
    print(f"{len(found)} annotations with Any:\n" + "\n".join(found))
    assert not found, f"{len(found)} public annotations with Any:\n" + "\n".join(found)


def test_importing_cost_and_search_does_not_import_torch() -> None:
    code = "import sys, atomnet.cost, atomnet.search; assert 'torch' not in sys.modules, 'torch was imported'"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
