"""Generate C (model.h/model.c) from an int8 ``.tflite``: weights as const arrays, one static arena, straight-line
kernel calls. Requantization parameters are computed here exactly as TFLite Micro computes them."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atomnet.deploy._ops import OPS as ELTWISE_OPS
from atomnet.deploy._ops import emit as emit_eltwise
from atomnet.deploy._plan import DW_INPLACE, plan_deploy
from atomnet.deploy._quant import act_range as _act_range
from atomnet.deploy._quant import c_array as _arr
from atomnet.deploy._quant import quantize_multiplier
from atomnet.errors import InputError

C_DIR = Path(__file__).parent / "c"
SUPPORTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "RESHAPE", "SOFTMAX", "ADD", "MEAN",
             *ELTWISE_OPS)
_ACT = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}


@dataclass(frozen=True)
class DeployedModel:
    """What :func:`generate` wrote. ``arena_bytes`` is the size of ``atomnet_arena``; ``planner_peak_bytes`` the
    planner's peak for the runtime (``arena_bytes - planner_peak_bytes`` is the code's excess, reported, not hidden)."""

    out_dir: Path
    runtime: str
    arena_bytes: int
    planner_peak_bytes: int
    layers: tuple[tuple[str, str], ...]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    c_files: tuple[Path, ...]
    include_dirs: tuple[Path, ...]
    source: str
    #: where the code departs from the planner's plan, one line per tensor placed apart (in a gap of the plan, or
    #: after the peak: then ``arena_bytes > planner_peak_bytes``) or scratch moved; empty: the plan exactly
    plan_notes: tuple[str, ...] = ()


def mean_multiplier(real: float, n: int) -> tuple[int, int]:
    """The multiplier and shift of an int8 MEAN over ``n`` elements as TFLite's integer Mean prepares them: the
    scale ratio quantized first, then folded with 1/n by an integer division after a left shift of at most
    floor(log2 n) bits (so 1/n is exact for powers of two only, as in the reference kernel)."""
    mult, shift = quantize_multiplier(real)
    up = min(n.bit_length() - 1, 32, 31 + shift)
    return int((mult << up) // n), shift - up


def _schema() -> Any:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated
    return schema_py_generated


class _Model:
    def __init__(self, path: Path) -> None:
        fb = _schema()
        buf = path.read_bytes()
        if len(buf) < 8 or buf[4:8] != b"TFL3":
            raise InputError(f"{path}: not a TFLite model (no 'TFL3' identifier)")
        self.m = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(buf, 0))
        self.fb = fb
        self.g = self.m.subgraphs[0]
        codes = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
        self.opnames = []
        for oc in self.m.operatorCodes:
            code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
            self.opnames.append(codes.get(code, f"CUSTOM:{oc.customCode!r}"))
        self.path = path

    def tensor(self, i: int) -> Any:
        return self.g.tensors[i]

    def data(self, i: int, dtype: Any) -> np.ndarray | None:
        t = self.g.tensors[i]
        b = self.m.buffers[t.buffer]
        if b is None or b.data is None or len(b.data) == 0:
            return None
        return np.frombuffer(bytes(np.asarray(b.data, dtype=np.uint8)), dtype=dtype).reshape(tuple(t.shape))

    def is_const(self, i: int) -> bool:
        b = self.m.buffers[self.g.tensors[i].buffer]
        return b is not None and b.data is not None and len(b.data) > 0

    def q(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        qp = self.g.tensors[i].quantization
        return np.asarray(qp.scale, dtype=np.float32), np.asarray(qp.zeroPoint, dtype=np.int64)


def _pad(padding: int, n: int, k: int, s: int, out: int) -> int:
    if padding != 0:  # VALID
        return 0
    total = max((out - 1) * s + k - n, 0)
    return total // 2


def generate_c(path: Path, runtime: str, out_dir: Path, planner_peak: int) -> DeployedModel:  # noqa: C901
    mod = _Model(path)
    g = mod.g
    decl: list[str] = []
    calls: list[str] = []
    layers: list[tuple[str, str]] = []
    for op in g.operators:
        name = mod.opnames[op.opcodeIndex]
        if name not in SUPPORTED:
            raise InputError(f"{path}: operator {name} is not supported by atomnet deploy "
                             f"(supported: {', '.join(SUPPORTED)})")
    plan = plan_deploy(path, runtime, mod)  # the runtime planner's offsets (atomnet.deploy._plan)
    for li, op in enumerate(g.operators):
        if not plan.runs_own_call(li):  # a dropped view, a PAD folded into its conv
            continue
        name = mod.opnames[op.opcodeIndex]
        o = op.builtinOptions
        x, y = op.inputs[0], op.outputs[0]
        xs, xz = mod.q(x)
        ys, yz = mod.q(y)
        xt, yt = g.tensors[x], g.tensors[y]
        p = f"atomnet_w_{li}_"
        X, Y = f"T{x}", f"T{y}"
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            w = mod.data(op.inputs[1], np.int8)
            assert w is not None
            ws, wz = mod.q(op.inputs[1])
            b = mod.data(op.inputs[2], np.int32) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
            decl.append(_arr(p + "w", "int8_t", w))
            decl.append(_arr(p + "b", "int32_t", b if b is not None else np.zeros(1, np.int32)))
            bias = p + "b" if b is not None else "0"
            act = o.fusedActivationFunction
            lo, hi = _act_range(act, float(ys[0]), int(yz[0]))
            eff = [float(xs[0]) * float(s) / float(ys[0]) for s in ws]
            if name == "FULLY_CONNECTED" and len(ws) == 1:  # TFLM: float32 product of the scales, then double
                eff = [float(np.float32(xs[0]) * np.float32(ws[0])) / float(ys[0])]
            qm = [quantize_multiplier(e) for e in eff]
            if name == "FULLY_CONNECTED":
                depth = w.shape[1]
                batches = int(np.prod(xt.shape)) // depth
                if len(qm) == 1:
                    qm = qm * int(w.shape[0])
                decl.append(_arr(p + "m", "int32_t", np.array([m for m, _ in qm])))
                decl.append(_arr(p + "s", "int32_t", np.array([s for _, s in qm])))
                calls.append(f"atomnet_k_fc({X}, {batches}, {depth}, {int(xz[0])}, {p}w, {int(wz[0])}, {bias}, "
                             f"{Y}, {w.shape[0]}, {int(yz[0])}, {p}m, {p}s, {lo}, {hi});")
            else:
                _, ih, iw, ic = xt.shape
                _, oh, ow, oc = yt.shape
                kh, kw = w.shape[1], w.shape[2]
                fold = plan.conv_inputs.get(li)
                sh, sw = o.strideH, o.strideW
                if getattr(o, "dilationHFactor", 1) != 1 or getattr(o, "dilationWFactor", 1) != 1:
                    raise InputError(f"{path}: operator {li} {name}: dilation is not supported")
                if len(qm) == 1:
                    qm = qm * oc
                decl.append(_arr(p + "m", "int32_t", np.array([m for m, _ in qm])))
                decl.append(_arr(p + "s", "int32_t", np.array([s for _, s in qm])))
                ph, pw = _pad(o.padding, ih, kh, sh, oh), _pad(o.padding, iw, kw, sw, ow)
                if fold is not None:  # a PAD folded in: read its unpadded input, pad by its top/left too
                    X, ih, iw, ph, pw = f"T{fold.tensor}", fold.h, fold.w, ph + fold.pad_top, pw + fold.pad_left
                if name == "CONV_2D":
                    calls.append(f"atomnet_k_conv({X}, {ih}, {iw}, {ic}, {int(xz[0])}, {p}w, {bias}, {kh}, {kw}, "
                                 f"{sh}, {sw}, {ph}, {pw}, {Y}, {oh}, {ow}, {oc}, {int(yz[0])}, {p}m, {p}s, "
                                 f"{lo}, {hi});")
                elif plan.runs[li] == DW_INPLACE:  # output over its input, channel by channel via the scratch
                    calls.append(f"atomnet_k_dwconv_inplace({X}, {ih}, {iw}, {ic}, {int(xz[0])}, {p}w, {bias}, "
                                 f"{kh}, {kw}, {sh}, {sw}, {ph}, {pw}, {oh}, {ow}, {int(yz[0])}, {p}m, {p}s, {lo}, "
                                 f"{hi}, ATOMNET_SCRATCH);")
                else:
                    calls.append(f"atomnet_k_dwconv({X}, {ih}, {iw}, {ic}, {int(xz[0])}, {p}w, {bias}, {kh}, {kw}, "
                                 f"{sh}, {sw}, {ph}, {pw}, {o.depthMultiplier}, {Y}, {oh}, {ow}, {int(yz[0])}, "
                                 f"{p}m, {p}s, {lo}, {hi});")
        elif name == "AVERAGE_POOL_2D":
            _, ih, iw, c = xt.shape
            _, oh, ow, _ = yt.shape
            fh, fw, sh, sw = o.filterHeight, o.filterWidth, o.strideH, o.strideW
            lo, hi = _act_range(o.fusedActivationFunction, float(ys[0]), int(yz[0]))
            calls.append(f"atomnet_k_avgpool({X}, {ih}, {iw}, {c}, {fh}, {fw}, {sh}, {sw}, "
                         f"{_pad(o.padding, ih, fh, sh, oh)}, {_pad(o.padding, iw, fw, sw, ow)}, {Y}, {oh}, {ow}, "
                         f"{lo}, {hi});")
        elif name == "SOFTMAX":
            depth = int(xt.shape[-1])
            beta = float(np.float32(o.beta))
            real = min(beta * float(xs[0]) * float(1 << 26), float((1 << 31) - 1))
            im, ils = quantize_multiplier(real)
            diff_min = -math.floor(1.0 * ((1 << 5) - 1) * (1 << 26) / (1 << ils))
            calls.append(f"atomnet_k_softmax({X}, {Y}, {int(np.prod(xt.shape)) // depth}, {depth}, {im}, {ils}, "
                         f"{diff_min});")
        elif name == "ADD":
            b2 = op.inputs[1]
            bs2, bz2 = mod.q(b2)
            if tuple(g.tensors[b2].shape) != tuple(xt.shape) or mod.is_const(b2):
                raise InputError(f"{path}: operator {li} ADD: broadcasting or constant inputs are not supported")
            s1, s2, so = float(xs[0]), float(bs2[0]), float(ys[0])
            twice = 2 * max(s1, s2)
            m1, m2, mo = (quantize_multiplier(s1 / twice), quantize_multiplier(s2 / twice),
                          quantize_multiplier(twice / ((1 << 20) * so)))
            lo, hi = _act_range(o.fusedActivationFunction, so, int(yz[0]))
            calls.append(f"atomnet_k_add({X}, T{b2}, {Y}, {int(np.prod(xt.shape))}, {-int(xz[0])}, {-int(bz2[0])}, "
                         f"{int(yz[0])}, 20, {m1[0]}, {m1[1]}, {m2[0]}, {m2[1]}, {mo[0]}, {mo[1]}, {lo}, {hi});")
        elif name == "MEAN":
            axes = mod.data(op.inputs[1], np.int32)
            if axes is None or sorted(int(a) for a in axes.ravel()) != [1, 2] or len(xt.shape) != 4:
                raise InputError(f"{path}: operator {li} MEAN: only the mean over H and W of an NHWC tensor "
                                 "is supported")
            n_hw = int(xt.shape[1] * xt.shape[2])
            mm, ms = mean_multiplier(float(xs[0]) / float(ys[0]), n_hw)
            calls.append(f"atomnet_k_mean_hw({X}, {n_hw}, {int(xt.shape[3])}, {Y}, {int(xz[0])}, {mm}, {ms}, "
                         f"{int(yz[0])});")
        elif name in ELTWISE_OPS:  # MUL, HARD_SWISH, LOGISTIC, PAD/PADV2 (atomnet.deploy._ops)
            more, call = emit_eltwise(mod, name, li, op, path)
            decl += more
            calls.append(call)
        elif name == "RESHAPE":
            calls.append(f"atomnet_k_copy({X}, {Y}, {int(np.prod(xt.shape))});")
        layers.append((f"op{li}", name))
    out_dir.mkdir(parents=True, exist_ok=True)
    for f in C_DIR.iterdir():
        if f.suffix in (".c", ".h"):
            shutil.copy(f, out_dir / f.name)
    gi, go = g.inputs[0], g.outputs[0]
    ishape = tuple(int(d) for d in g.tensors[gi].shape)
    oshape = tuple(int(d) for d in g.tensors[go].shape)
    h = ["#ifndef ATOMNET_MODEL_H\n#define ATOMNET_MODEL_H\n#include <stdint.h>\n",
         f"#define ATOMNET_INPUT_BYTES {int(np.prod(ishape))}\n",
         f"#define ATOMNET_OUTPUT_BYTES {int(np.prod(oshape))}\n",
         f"#define ATOMNET_NUM_LAYERS {len(layers)}\n",
         f"#define ATOMNET_ARENA_BYTES {max(1, plan.arena_bytes)}\n",
         "int atomnet_invoke(void);\nint8_t *atomnet_input(void);\nint8_t *atomnet_output(void);\n#endif\n"]
    (out_dir / "model.h").write_text("".join(h))
    c = [f"/* generated by atomnet deploy from {path.name} (runtime {runtime}) */\n",
         '#include "model.h"\n#include "atomnet_k.h"\n',
         "#ifdef ATOMNET_HOOKS_HEADER\n#include ATOMNET_HOOKS_HEADER\n#endif\n",
         "#ifndef ATOMNET_LAYER_BEGIN\n#define ATOMNET_LAYER_BEGIN(i)\n#endif\n",
         "#ifndef ATOMNET_LAYER_END\n#define ATOMNET_LAYER_END(i)\n#endif\n",
         "static int8_t atomnet_arena[ATOMNET_ARENA_BYTES] __attribute__((aligned(16)));\n",
         *decl]
    for t, ofs in sorted(plan.offsets.items()):
        c.append(f"#define T{t} (atomnet_arena + {ofs})\n")
    c.append(f"#define ATOMNET_SCRATCH (atomnet_arena + {plan.scratch_offset})  /* {plan.scratch_bytes} B */\n")
    c.append(f"int8_t *atomnet_input(void) {{ return T{gi}; }}\n")
    c.append(f"int8_t *atomnet_output(void) {{ return T{go}; }}\n")
    c.append("int atomnet_invoke(void) {\n")
    for i, call in enumerate(calls):
        c.append(f"    ATOMNET_LAYER_BEGIN({i}) {call} ATOMNET_LAYER_END({i})\n")
    c.append("    return 0;\n}\n")
    (out_dir / "model.c").write_text("".join(c))
    c_files = (*sorted(out_dir.glob("atomnet_k_*.c")), out_dir / "model.c")
    return DeployedModel(out_dir=out_dir, runtime=runtime, arena_bytes=max(1, plan.arena_bytes),
                         planner_peak_bytes=planner_peak, layers=tuple(layers), input_shape=ishape,
                         output_shape=oshape, c_files=c_files, include_dirs=(out_dir,), source=str(path),
                         plan_notes=plan.notes)
