"""The memory plan the generated code follows: the runtime planner's own offsets, so that the generated arena *is*
the planner's peak (issue 17: "the generated code is the memory plan").

``tinyengine`` — the file as TinyEngine runs it (:func:`atomnet.export.file_graph` ``"tinyengine"``) planned by
    the ``tinyengine`` SRAM planner: every file tensor at the offset of the graph tensor it was merged into (a
    dropped RESHAPE's output is its input's bytes, a fused activation or constant MUL/ADD/SUB runs as its own
    elementwise call on its host's buffer right after it), a PAD folded into the convolution reading it (the
    convolution reads the unpadded input, padding with the PAD's top/left amounts: exact when the PAD pads H and W
    only with its zero point), depthwise with channel multiplier 1 **in place** (its output overwrites its input
    channel by channel, each channel first copied into the scratch). The arena is one array of the planner's
    peak, ``arena_bytes + extra_bytes``: tensors in ``[0, arena_bytes)``, the scratch (TinyEngine's im2col and
    kernel buffers) in ``[arena_bytes, peak)``; the in-place depthwise uses it for one padded channel.
``tflm-plan`` — the ``tflm`` SRAM planner on the file as TFLite Micro runs it (every operator its own call): the
    offsets of TFLM's greedy planner, the arena its head arena.

Whatever cannot follow the plan (a tensor with no planned offset, a PAD that does not pad with its zero point, an
in-place depthwise whose input is read later — the planner runs a depthwise in place even where a residual ADD
reads its input afterwards —, a scratch larger than the planned one, two tensors the plan overlaps while both are
live in the generated code) is placed apart, first-fit over the lifetimes of everything else (in a gap of the plan
where one is free, else after the peak), and named in :attr:`DeployPlan.notes`; ``arena_bytes -
planner_peak_bytes`` is the excess, reported, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from atomnet.errors import InputError

if TYPE_CHECKING:
    from atomnet.deploy._gen import _Model
    from atomnet.export import TFLiteModel

__all__ = ["ConvInput", "DeployPlan", "plan_deploy"]

#: how a file operator runs in the generated code
CALL, FUSED, SKIP, FOLD, DW_INPLACE = "call", "fused", "skip", "fold", "dw in place"
_ALIGN = 4  # overflow buffers (after the peak) keep TinyEngine's 4-byte alignment


@dataclass(frozen=True)
class ConvInput:
    """What a convolution reads when a PAD is folded into it: the PAD's input ``tensor`` (``h`` × ``w``) and the
    PAD's top/left amounts, added to the convolution's own padding."""

    tensor: int
    h: int
    w: int
    pad_top: int
    pad_left: int


@dataclass(frozen=True)
class DeployPlan:
    """Offsets (file tensor → byte offset in the arena), the arena size, and how each file operator runs (``runs``:
    :data:`CALL`, :data:`FUSED` (its own elementwise call on its host's buffer), :data:`SKIP` (a dropped view),
    :data:`FOLD` (a PAD folded into ``conv_inputs``' convolution), :data:`DW_INPLACE`). ``scratch_offset`` /
    ``scratch_bytes``: the region the in-place depthwise copies a channel into; ``planned_bytes``: the planner's
    tensor arena; ``planner_peak_bytes``: the planner's peak (= ``arena_bytes`` unless a note says "after the peak")."""

    runtime: str
    offsets: dict[int, int]
    arena_bytes: int
    planner_peak_bytes: int
    planned_bytes: int
    scratch_offset: int
    scratch_bytes: int
    runs: tuple[str, ...]
    conv_inputs: dict[int, ConvInput]
    notes: tuple[str, ...]

    def runs_own_call(self, op_index: int) -> bool:
        return self.runs[op_index] not in (SKIP, FOLD)


def dw_scratch_bytes(oh: int, ow: int, kh: int, kw: int, sh: int, sw: int) -> int:
    """Bytes of one padded input channel the in-place depthwise kernel reads: ``((oh-1)·sh + kh) · ((ow-1)·sw + kw)``
    (≤ ``(H+2p)·(W+2p)`` for SAME padding, half of TinyEngine's in-place im2col budget ``2·(H+2p)·(W+2p)``)."""
    return ((oh - 1) * sh + kh) * ((ow - 1) * sw + kw)


def _fold_pad(mod: _Model, li: int) -> tuple[int, int] | str:
    """``(top, left)`` of a PAD that pads H and W only, with its zero point, on equal quantization; else why not."""
    ins, outs = mod.g.operators[li].inputs, mod.g.operators[li].outputs
    pads = mod.data(ins[1], np.int32) if len(ins) > 1 else None
    if pads is None:
        pads = mod.data(ins[1], np.int64) if len(ins) > 1 else None
    if pads is None or pads.shape != (4, 2):
        return "paddings are not a constant 4×2 table"
    if pads[0].any() or pads[3].any():
        return "it pads the batch or channel dimension"
    (xs, xz), (ys, yz) = mod.q(ins[0]), mod.q(outs[0])
    if not (np.array_equal(xs, ys) and np.array_equal(xz, yz)):
        return "its input and output quantization differ"
    if mod.opnames[mod.g.operators[li].opcodeIndex] == "PADV2" and len(ins) > 2:
        v = mod.data(ins[2], np.int8)
        if v is None or int(v.ravel()[0]) != int(yz[0]):
            return "its constant value is not the zero point"
    return int(pads[1][0]), int(pads[2][0])


def plan_deploy(path: Path, runtime: str, mod: _Model) -> DeployPlan:  # noqa: C901
    """The plan of ``path`` for ``runtime`` (``tinyengine`` or ``tflm-plan``); ``mod``: the generator's reading of
    the same file (constants and quantization)."""
    from atomnet.cost import get_planner
    from atomnet.export import file_graph, read_tflite

    m = read_tflite(path)
    te = runtime == "tinyengine"
    fg = file_graph(m, "tinyengine" if te else "tflm")
    sp = get_planner("tinyengine" if te else "tflm").plan(fg.graph)
    g = fg.graph
    n_ops = len(m.ops)
    notes: list[str] = []
    runs = [CALL] * n_ops
    conv_inputs: dict[int, ConvInput] = {}
    key = dict(fg.tensor_ids)  # file tensor → storage key (graph tensor id; detached tensors get keys < 0)
    for i, where in enumerate(fg.placement):
        if where.startswith("dropped"):
            runs[i] = SKIP
        elif where.startswith("fused"):
            runs[i] = FUSED
    detached: list[int] = []  # storage keys placed apart from the plan (in a gap of it, or after the peak)
    why_detached: dict[int, tuple[int, str]] = {}

    def detach(t: int, why: str) -> None:
        old = key[t]
        nk = -1 - len(detached)
        for u, k in list(key.items()):
            if k == old:
                key[u] = nk
        detached.append(nk)
        why_detached[nk] = (t, why)

    # PAD folded into its convolution (tinyengine)
    for i, op in enumerate(m.ops):
        if runs[i] != FUSED or op.name not in ("PAD", "PADV2"):
            continue
        readers = [j for j, o in enumerate(m.ops) if op.outputs[0] in o.inputs]
        amounts = _fold_pad(mod, i)
        if isinstance(amounts, str) or len(readers) != 1:
            runs[i] = CALL
            detach(op.outputs[0], f"PAD {i} cannot be folded into its convolution "
                                  f"({amounts if isinstance(amounts, str) else 'several readers'})")
            continue
        runs[i] = FOLD
        x = op.inputs[0]
        _, h, w, _ = m.tensors[x].shape
        conv_inputs[readers[0]] = ConvInput(x, int(h), int(w), *amounts)
    # depthwise in place (tinyengine): only where nothing else reads its input afterwards
    cons = g.consumers()
    scratch_need = 0
    for k, layer in enumerate(g.layers):
        if not layer.inplace or layer.tflite_op != "DEPTHWISE_CONV_2D":
            continue
        i = fg.layers[k].primary
        xg, yg = layer.inputs[0], layer.output
        reads = conv_inputs[i].tensor if i in conv_inputs else m.ops[i].inputs[0]
        if key[reads] != xg:  # it reads a PAD that could not be folded: an ordinary depthwise, out of place
            continue
        if cons.get(xg, []) != [k] or xg == g.output or sp.tensor_offsets[xg] != sp.tensor_offsets[yg]:
            detach(m.ops[i].outputs[0], f"depthwise {i} cannot run in place (its input is read later)")
            continue
        runs[i] = DW_INPLACE
        wt = m.tensors[m.ops[i].inputs[1]].shape
        _, oh, ow, _ = m.tensors[m.ops[i].outputs[0]].shape
        scratch_need = max(scratch_need, dw_scratch_bytes(int(oh), int(ow), int(wt[1]), int(wt[2]), *m.ops[i].stride))
    # tensors the plan gives no offset
    for t, gid in sorted(key.items()):
        if gid >= 0 and sp.tensor_offsets[gid] < 0 and _touched(m, t, runs):
            detach(t, "the planner gives it no buffer")
    planned = int(sp.arena_bytes)
    peak = int(sp.peak_bytes) if te else planned
    scratch_off, scratch_bytes = planned, peak - planned
    at = {k: int(sp.tensor_offsets[k]) for k in set(key.values()) if k >= 0}
    for _ in range(len(key) + 1):  # detach what the plan overlaps while live in the generated code
        clash = _first_clash(m, at, key, runs, conv_inputs)
        if clash is None:
            break
        detach(clash, "the plan overlaps it with a tensor live at the same time in the generated code")
    if scratch_need > scratch_bytes:
        notes.append(f"in-place depthwise scratch {scratch_need} B > the planner's {scratch_bytes} B: after the peak")
        scratch_off, scratch_bytes = peak, scratch_need
    at.update(_place(m, at, key, runs, conv_inputs, detached, (scratch_off, scratch_bytes)))
    if _first_clash(m, at, key, runs, conv_inputs) is not None:  # the placement above is first-fit over lifetimes
        raise AssertionError(f"{path}: the deploy plan overlaps live tensors")
    offsets = {t: at[k] for t, k in key.items() if _touched(m, t, runs)}
    if not offsets:
        raise InputError(f"{path}: no activation tensors to plan")
    nbytes = {k: int(m.tensors[t].nbytes) for t, k in key.items() if k < 0}
    end = max([peak, scratch_off + scratch_bytes, *(at[k] + _up(nbytes.get(k, 0)) for k in detached if k in at)])
    for k in detached:
        t, why = why_detached[k]
        where = "not placed (never touched)" if k not in at else \
            f"at {at[k]}, {'after the peak' if at[k] + nbytes.get(k, 0) > peak else 'in a gap of the plan'}"
        notes.append(f"tensor {t} {m.tensors[t].name[:40]!r} apart from the plan ({where}): {why}")
    return DeployPlan(runtime, offsets, end, peak, planned, scratch_off, scratch_bytes, tuple(runs), conv_inputs,
                      tuple(notes))


def _place(m: TFLiteModel, at: dict[int, int], key: dict[int, int], runs: list[str],
           conv_inputs: dict[int, ConvInput], detached: list[int], scratch: tuple[int, int]) -> dict[int, int]:
    """Offsets for the storages the plan could not hold: largest first, each at the lowest 4-aligned offset free
    over its lifetime (in a gap of the plan where there is one, else after the peak); the scratch counts as busy
    during the in-place depthwise operators."""
    first, last, nbytes, _, _ = _lifetimes(m, key, runs, conv_inputs)
    dw_ops = [i for i, r in enumerate(runs) if r == DW_INPLACE]
    placed = dict(at)
    out: dict[int, int] = {}
    for k in sorted((k for k in detached if k in first), key=lambda k: -nbytes[k]):
        busy = sorted((placed[j], placed[j] + nbytes[j]) for j in placed
                      if j in first and first[j] <= last[k] and first[k] <= last[j])
        if any(first[k] <= i <= last[k] for i in dw_ops) and scratch[1]:
            busy = sorted([*busy, (scratch[0], scratch[0] + scratch[1])])
        x = 0
        for a, b in busy:
            if a - x >= nbytes[k]:
                break
            x = max(x, _up(b))
        placed[k] = out[k] = x
    return out


def _up(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _touched(m: TFLiteModel, t: int, runs: list[str]) -> bool:
    """Whether file tensor ``t`` is read or written by an operator the generated code runs, or is a model I/O."""
    if t in m.inputs or t in m.outputs:
        return True
    return any(runs[i] not in (SKIP, FOLD) and (t in op.inputs or t in op.outputs) for i, op in enumerate(m.ops))


def _first_clash(m: TFLiteModel, offs: dict[int, int], key: dict[int, int], runs: list[str],
                 conv_inputs: dict[int, ConvInput]) -> int | None:
    """A file tensor whose bytes the plan overlaps with another storage live at the same time, as the generated
    code runs the operators (None: the plan is safe). In-place pairs (a depthwise's input and output, a fused
    operator on its host's buffer) share storage by design."""
    first, last, nbytes, member, allowed = _lifetimes(m, key, runs, conv_inputs)
    ks = sorted(k for k in first if k in offs)
    for x, a in enumerate(ks):
        for b in ks[x + 1:]:
            if (a, b) in allowed or first[a] > last[b] or first[b] > last[a]:
                continue
            if offs[a] < offs[b] + nbytes[b] and offs[b] < offs[a] + nbytes[a]:
                return member[b if first[b] >= first[a] else a]
    return None


def _lifetimes(m: TFLiteModel, key: dict[int, int], runs: list[str], conv_inputs: dict[int, ConvInput]
               ) -> tuple[dict[int, int], dict[int, int], dict[int, int], dict[int, int], set[tuple[int, int]]]:
    """Per storage key: first and last operator touching it (model inputs from -1, outputs to the end), bytes, one
    member file tensor; and the in-place depthwise (input, output) pairs."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    nbytes: dict[int, int] = {}
    member: dict[int, int] = {}
    allowed: set[tuple[int, int]] = set()

    def touch(ts: list[int], i: int) -> None:
        for t in ts:
            if t not in key:
                continue
            k = key[t]
            first[k] = min(first.get(k, i), i)
            last[k] = max(last.get(k, i), i)
            nbytes[k] = max(nbytes.get(k, 0), int(m.tensors[t].nbytes))
            member.setdefault(k, t)

    touch(list(m.inputs), -1)
    for i, op in enumerate(m.ops):
        if runs[i] in (SKIP, FOLD):
            continue
        ins = [t for t in op.inputs if t >= 0 and t in key]
        if i in conv_inputs and ins:
            ins[0] = conv_inputs[i].tensor
        touch([*ins, *op.outputs], i)
        if runs[i] == DW_INPLACE:
            a, b = key[ins[0]], key[op.outputs[0]]
            allowed.update({(a, b), (b, a)})
    touch(list(m.outputs), len(m.ops))
    return first, last, nbytes, member, allowed
