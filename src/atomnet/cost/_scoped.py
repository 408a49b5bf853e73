"""Register a runtime with its own lowering and planner for the duration of a ``with`` block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from atomnet.cost._sram import Planner, get_planner, register_planner, unregister_planner
from atomnet.errors import InputError, UnknownNameError
from atomnet.runtimes import Runtime, runtime_registered
from atomnet.spec import Lowering, list_lowerings, register_lowering, unregister_lowering


@contextmanager
def scoped_runtime(runtime: Runtime, *, lowering: type[Lowering] | None = None,
                   planner: type[Planner] | None = None) -> Iterator[Runtime]:
    """Register ``runtime`` — with ``lowering`` under the name ``runtime.lowering`` and ``planner`` under
    ``runtime.planner`` when given (else those names must already be registered) — and remove all of them
    on exit, so the global registries are as before (tests, experiments).

    >>> from dataclasses import replace
    >>> from atomnet.runtimes import get_runtime, list_runtimes
    >>> with scoped_runtime(replace(get_runtime("tflm"), name="tflm-o3", aliases=())):
    ...     list_runtimes()
    ['tflm', 'tflm-o3', 'tinyengine', 'xcube-ai']
    >>> list_runtimes()
    ['tflm', 'tinyengine', 'xcube-ai']
    """
    with ExitStack() as stack:
        if lowering is not None:
            register_lowering(runtime.lowering)(lowering)
            stack.callback(unregister_lowering, runtime.lowering)
        if planner is not None:
            register_planner(runtime.planner, runtime.lowering)(planner)
            stack.callback(unregister_planner, runtime.planner)
        check_components(runtime)
        yield stack.enter_context(runtime_registered(runtime))


def check_components(runtime: Runtime) -> None:
    """Raise :class:`~atomnet.errors.InputError` (``UnknownNameError`` for a name that is not registered)
    unless ``runtime``'s lowering and planner are registered and agree."""
    if runtime.lowering not in list_lowerings():
        raise UnknownNameError(f"runtime {runtime.name!r}: no lowering {runtime.lowering!r} is registered; known: "
                         f"{', '.join(list_lowerings())}")
    p = get_planner(runtime.planner)
    if p.lowering != runtime.lowering:
        raise InputError(f"runtime {runtime.name!r}: planner {runtime.planner!r} plans graphs of lowering "
                         f"{p.lowering!r}, not {runtime.lowering!r}")
