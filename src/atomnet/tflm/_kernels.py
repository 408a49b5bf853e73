"""The size table behind :func:`~atomnet.export.plan_tflm_arena` (a ``.tflite`` file) and the tail of a spec
(:func:`atomnet.tflm.tflm_tail_for_graph`): TFLite Micro's structures and every kernel's persistent and scratch
allocations, for the pinned ``tflite-micro`` wheel (:data:`TFLM_VERSION`).

How the numbers were obtained (never fitted per model):

- **64-bit** (the Python interpreter, a 64-bit host build with compression support): the layouts of the
  TFLM sources (``micro_allocator.h``, ``recording_micro_allocator.h``, ``common.h`` with
  ``TF_LITE_STATIC_MEMORY``, each kernel's ``OpData``) and, for every builtin and custom operator of the
  public corpus (``../shared/models/tflite``), the wheel itself: each operator of each corpus file was cut out
  as a one-operator model and loaded; ``RecordingMicroAllocator`` reports its op data (requested bytes and
  allocation count) and the tail. Where the stored sources and the wheel disagree, the wheel's number is
  used and the row says so.
- **32-bit** (Cortex-M, *derived*, never measured): the same structures with 4-byte pointers and ``size_t``
  (``int64_t`` and ``double`` stay 8-byte aligned, as in the ARM EABI).

A kernel's row gives: the parsed builtin options struct (``sizeof``/``alignof``, the same on both ABIs:
they hold no pointers), the op data ``Init`` allocates, the buffers ``Prepare`` allocates, the scratch
buffers ``Prepare`` requests (head). ``tests/test_tflm_arena.py`` fails when the installed ``tflite_micro``
is not :data:`TFLM_VERSION`: re-derive the table (the corpus test shows which sizes moved).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

#: the tflite-micro wheel the table was taken from (``pip show tflite-micro``)
TFLM_VERSION = "0.dev20261023182759"
#: ``MicroArenaBufferAlignment()``: planned buffers and ``AllocatePersistentBuffer`` results
ALIGN = 16

#: bytes per element as TFLM sizes tensors (``TfLiteTypeSizeOf``); types missing here fail to load
TFLM_ITEMSIZE: dict[str, int] = {"FLOAT16": 2, "FLOAT32": 4, "FLOAT64": 8, "INT16": 2, "INT32": 4, "UINT32": 4,
                                 "UINT8": 1, "INT8": 1, "INT64": 8, "UINT64": 8, "BOOL": 1, "RESOURCE": 4,
                                 "COMPLEX64": 8, "COMPLEX128": 16, "INT4": 1}


@dataclass(frozen=True)
class Abi:
    """``(sizeof, alignof)`` of the TFLM structures the tail holds, for one pointer size."""

    name: str
    bits: int  # index into a kernel's (64-bit, 32-bit) pairs: 0 = 64-bit, 1 = 32-bit
    ptr: int
    #: created by ``RecordingMicroAllocator::Create``: RecordingSingleArenaBufferAllocator,
    #: GreedyMemoryPlanner, RecordingMicroAllocator (64-bit: 104 + 72 + 248 from the headers, + 32 the
    #: wheel allocates beyond the stored headers' members; 32-bit: 52 + 44 + 124 + 16, derived)
    allocator_objects: tuple[tuple[int, int], ...]
    builtin_data_allocator: tuple[int, int]
    subgraph_allocations: tuple[int, int]
    eval_tensor: tuple[int, int]
    node_and_registration: tuple[int, int]
    tflite_tensor: tuple[int, int]
    affine_quantization: tuple[int, int]
    scratch_handle: tuple[int, int]


ABI64 = Abi("64-bit host (the Python interpreter)", 0, 8, ((104, 8), (72, 8), (248 + 32, 8)), (16, 8), (16, 8),
            (24, 8), (64, 8), (64, 8), (24, 8), (8, 8))
ABI32 = Abi("32-bit Cortex-M (derived)", 1, 4, ((52, 4), (44, 4), (124 + 16, 4)), (8, 4), (8, 4), (12, 4),
            (32, 4), (40, 4), (12, 4), (4, 4))


class TensorLike(Protocol):
    """What the size formulas read of a tensor (:class:`atomnet.export.TFLTensor` is one)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> str: ...

    @property
    def scales(self) -> int: ...


class OpLike(Protocol):
    """What the size formulas read of an operator (:class:`atomnet.export.TFLOp` is one): tensor indices
    (-1 = optional input absent), the scalar builtin options, a custom operator's raw options."""

    @property
    def name(self) -> str: ...

    @property
    def inputs(self) -> tuple[int, ...]: ...

    @property
    def outputs(self) -> tuple[int, ...]: ...

    @property
    def custom_options(self) -> bytes: ...

    def option(self, name: str, default: int | float | bool = 0) -> int | float | bool: ...


class ModelLike(Protocol):
    """A model's tensors, indexed by the operators' tensor indices."""

    @property
    def tensors(self) -> Sequence[TensorLike]: ...


@dataclass(frozen=True)
class OpContext:
    """One operator of a model, with the tensor look-ups the size formulas need."""

    model: ModelLike
    op: OpLike

    def input(self, k: int) -> TensorLike | None:
        """Input ``k`` (``None`` when absent or optional)."""
        ins = self.op.inputs
        return self.model.tensors[ins[k]] if k < len(ins) and ins[k] >= 0 else None

    def output(self, k: int = 0) -> TensorLike:
        return self.model.tensors[self.op.outputs[k]]

    @property
    def dtype(self) -> str:
        """The type of input 0 (what the kernels dispatch on)."""
        t = self.input(0)
        return t.dtype if t is not None else ""

    @cached_property
    def custom(self) -> dict[str, object]:
        """The custom operator's flexbuffer options as a dict (empty when none or unreadable)."""
        if not self.op.custom_options:
            return {}
        try:
            from flatbuffers import flexbuffers

            root = flexbuffers.Loads(self.op.custom_options)
        except Exception:  # a malformed option map: sizes that depend on it fall back to 0
            return {}
        return root if isinstance(root, dict) else {}

    def custom_int(self, key: str) -> int:
        v = self.custom.get(key, 0)
        return int(v) if isinstance(v, int | float) else 0


def _elements(t: TensorLike | None) -> int:
    n = 1
    for d in t.shape if t is not None else (0,):
        n *= d
    return n


Sizes = Callable[[OpContext, Abi], tuple[int, ...]]
Scratch = Callable[[OpContext], tuple[int, ...]]


def _none(c: OpContext, abi: Abi) -> tuple[int, ...]:
    return ()


def _no_scratch(c: OpContext) -> tuple[int, ...]:
    return ()


def _fixed(size64: int, size32: int | None = None) -> Sizes:
    """One op-data struct of ``size64`` bytes (64-bit) / ``size32`` (32-bit; default the same)."""
    pair = (size64, size64 if size32 is None else size32)
    return lambda c, abi: (pair[abi.bits],)


@dataclass(frozen=True)
class Kernel:
    """What one kernel allocates. ``params``: ``(sizeof, alignof)`` of its parsed builtin options per ABI
    (``()`` = none); ``init``/``prepare``: persistent buffers (16-aligned each); ``scratch``: head requests.
    ``known`` is false for operators not in the table (nothing counted for them)."""

    params: tuple[tuple[int, int], tuple[int, int]] | tuple[()] = ()
    init: Sizes = _none
    prepare: Sizes = _none
    scratch: Scratch = _no_scratch
    known: bool = True
    source: str = field(default="", compare=False)


def _params(size: int, align: int = 4) -> tuple[tuple[int, int], tuple[int, int]]:
    return (size, align), (size, align)


# ---- kernel formulas ----------------------------------------------------------------------------------
def _per_channel(axis: int) -> Sizes:
    """Conv/depthwise ``Prepare``: per-channel output multipliers and shifts, ``4·C`` bytes each, always
    (also for float), ``C`` = the filter's dimension ``axis``."""

    def f(c: OpContext, abi: Abi) -> tuple[int, ...]:
        w = c.input(1)
        n = w.shape[axis] if w is not None and len(w.shape) > axis else 0
        return 4 * n, 4 * n

    return f


def _unpack_int4(c: OpContext) -> tuple[int, ...]:
    """Conv / depthwise / fully-connected with int4 filters unpack them into a scratch buffer (1 B each)."""
    w = c.input(1)
    return (_elements(w),) if w is not None and w.dtype == "INT4" else ()


def _fc_prepare(c: OpContext, abi: Abi) -> tuple[int, ...]:
    """Per-channel quantized int8/int16 filters: output multipliers and shifts per output channel (from the
    source; the corpus has only per-tensor fully-connected layers)."""
    w = c.input(1)
    if w is None or c.dtype == "FLOAT32" or w.scales <= 1:
        return ()
    return 4 * w.shape[0], 4 * w.shape[0]


def _softmax_prepare(c: OpContext, abi: Abi) -> tuple[int, ...]:
    """int16 input: the exp and 1/(1+x) look-up tables, 513 int16 each (``kInt16LUTArraySize``)."""
    return (2 * 513, 2 * 513) if c.dtype == "INT16" else ()


def _svdf_scratch(c: OpContext) -> tuple[int, ...]:
    """int32 scratch of ``batch × filters`` (all types) and, for integer SVDF, ``batch × units``."""
    x, w = c.input(0), c.input(1)
    if x is None or w is None or len(x.shape) < 1 or len(w.shape) < 1:
        return ()
    batch, filters = x.shape[0], w.shape[0]
    rank = int(c.op.option("rank", 1)) or 1
    units = filters // rank
    return (4 * batch * filters,) if c.dtype == "FLOAT32" else (4 * batch * filters, 4 * batch * units)


def _lstm_scratch(c: OpContext) -> tuple[int, ...]:
    """Four gate buffers of ``batch × cell`` elements of the cell type (float: 4 B, integer: int16)."""
    out = c.output()
    if len(out.shape) < 2:
        return ()
    time_major = bool(c.op.option("timeMajor", False))
    batch = out.shape[1] if time_major and len(out.shape) == 3 else out.shape[0]
    cell = out.shape[-1]
    item = 4 if c.dtype == "FLOAT32" else 2
    return (item * batch * cell,) * 4


def _mean_scratch(c: OpContext) -> tuple[int, ...]:
    """MEAN / SUM: an int index per input dimension, an int per reduced axis, and for integer inputs an
    int32 accumulator per output element."""
    x, axis = c.input(0), c.input(1)
    out = (4 * len(x.shape) if x is not None else 0, 4 * _elements(axis))
    return (*out, 4 * _elements(c.output())) if c.dtype in ("INT8", "INT16") else out


def _filter_bank_init(c: OpContext, abi: Abi) -> tuple[int, ...]:
    """``TFLMSignalFilterBankParams`` (FilterbankConfig + work-area pointer) and the uint64 work area of
    ``num_channels + 1`` entries."""
    return (64, 36)[abi.bits], 8 * (c.custom_int("num_channels") + 1)


def _spectral_subtraction_init(c: OpContext, abi: Abi) -> tuple[int, ...]:
    """``TFLMSignalSpectralSubtractionParams`` (9 int32 config fields, a pointer, a size_t) and the uint32
    noise estimate per channel."""
    return (56, 44)[abi.bits], 4 * c.custom_int("num_channels")


def _rfft_init(c: OpContext, abi: Abi) -> tuple[int, ...]:
    """``TfLiteAudioFrontendRfftParams`` and the kiss_fftr state for ``fft_length``:
    ``sizeof(kiss_fftr_state)`` (3 pointers) + ``kiss_fft_state`` (``nfft``, ``inverse``, 64 factors, one
    twiddle) + ``ncfft - 1`` twiddles + ``3·ncfft/2`` complex values, ``ncfft = fft_length / 2``."""
    n = c.custom_int("fft_length")
    cpx = 4 if c.custom_int("T") == 7 else 8  # T = INT16 (7): int16 pairs; int32 / float: 4-byte pairs
    ncfft = n // 2
    state = 3 * abi.ptr + (8 + 256 + cpx) + cpx * (ncfft - 1) + cpx * (ncfft * 3 // 2)
    return (48, 32)[abi.bits], state


def _rfft_scratch(c: OpContext) -> tuple[int, ...]:
    """The zero-padded input frame: ``fft_length`` elements of the input type."""
    return (c.custom_int("fft_length") * (2 if c.custom_int("T") == 7 else 4),)


_CONV_PARAMS = _params(28)  # TfLiteConvParams / TfLiteDepthwiseConvParams: 7 int-sized fields
#: OpDataConv: padding (4 int), 5 int32, 2 pointers, 3 int + 2 compression scratch indices
_CONV_OPDATA = _fixed(80, 64)

KERNELS: dict[str, Kernel] = {
    "CONV_2D": Kernel(_CONV_PARAMS, _CONV_OPDATA, _per_channel(0), _unpack_int4, source="conv.h, conv_common.cc"),
    "DEPTHWISE_CONV_2D": Kernel(_CONV_PARAMS, _CONV_OPDATA, _per_channel(3), _unpack_int4,
                                source="depthwise_conv.h (OpDataConv), depthwise_conv_common.cc"),
    # OpDataFullyConnected: 9 int, 2 pointers, a bool, 2 compression indices. Options: the stored
    # TfLiteFullyConnectedParams has 16 B (5 int-sized fields), the wheel allocates 32 B 8-aligned (the only
    # size/alignment that reproduces every corpus file with FULLY_CONNECTED, 1- to 6-operator chains
    # included); 32-bit: assumed the same (not derivable from the stored source)
    "FULLY_CONNECTED": Kernel(((32, 8), (32, 8)), _fixed(72, 56), _fc_prepare, _unpack_int4,
                              source="fully_connected.h; options size from the wheel"),
    "ADD": Kernel(_params(8), _fixed(60), source="add.h OpDataAdd (int-sized fields only)"),
    "SUB": Kernel(_params(8), _fixed(52), source="sub.h OpDataSub (int-sized fields)"),
    "MUL": Kernel(_params(4), _fixed(36), source="mul.h OpDataMul"),
    "DIV": Kernel(_params(4), _fixed(28), source="div.cc OpDataDiv"),
    "AVERAGE_POOL_2D": Kernel(_params(40), _fixed(32), source="pooling.h OpDataPooling"),
    "MAX_POOL_2D": Kernel(_params(40), _fixed(32), source="pooling.h OpDataPooling (as AVERAGE_POOL_2D)"),
    # SoftmaxParams: double beta, 7 int32, 5 LUT pointers
    "SOFTMAX": Kernel(_params(4), _fixed(80, 56), _softmax_prepare, source="softmax.h, types.h SoftmaxParams"),
    "RESHAPE": Kernel(_params(36), source="TfLiteReshapeParams: int shape[8] + count; no op data"),
    "QUANTIZE": Kernel((), _fixed(32), source="quantize.h OpDataQuantizeReference (double scale: 8-aligned)"),
    "DEQUANTIZE": Kernel((), _fixed(32), source="dequantize.h DequantizeOpData"),
    "LOGISTIC": Kernel((), _fixed(16), source="logistic.h OpDataLogistic"),
    "CAST": Kernel(_params(8), source="TfLiteCastParams; no op data"),
    "MAXIMUM": Kernel(source="no options struct, no op data"),
    "MINIMUM": Kernel(source="no options struct, no op data"),
    "CONCATENATION": Kernel(_params(8), _fixed(80, 80),
                            source="wheel: 80 B op data; int-sized fields assumed for 32-bit"),
    "STRIDED_SLICE": Kernel(_params(24), _fixed(84), source="strided_slice.h StridedSliceParams"),
    "SVDF": Kernel(_params(12), _fixed(36), scratch=_svdf_scratch, source="svdf.h OpDataSvdf"),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": Kernel(_params(16), _fixed(688), scratch=_lstm_scratch,
                                           source="lstm_shared.h OpDataLSTM (int and float fields only)"),
    "MEAN": Kernel(((1, 1), (1, 1)), _fixed(44), scratch=_mean_scratch,
                   source="reduce.h OpDataReduce (int fields); TfLiteReducerParams: one bool"),
    "HARD_SWISH": Kernel((), _fixed(20), source="hard_swish.h HardSwishParams (int16/int32 fields)"),
    # element-wise and layout operators measured on hand-built int8 / float32 (int16 for RELU) one- to
    # three-operator chains; their op data hold int-sized fields only (the same on 32-bit)
    "RELU": Kernel((), _fixed(28), source="activations.h ReluOpData"),
    "RELU6": Kernel((), _fixed(8), source="activations.h Relu6OpData"),
    "LEAKY_RELU": Kernel(_params(4), _fixed(24), source="leaky_relu.h LeakyReluOpData; options: float alpha"),
    "PRELU": Kernel((), _fixed(28), source="prelu.h PreluParams"),
    "TANH": Kernel((), _fixed(16), source="tanh.cc OpData"),
    "ELU": Kernel((), _fixed(256), source="elu.cc OpData: a 256-entry int8 look-up table"),
    "ABS": Kernel((), _fixed(28), source="elementwise.cc OpDataAbsRsqrt"),
    "RSQRT": Kernel((), _fixed(28), source="elementwise.cc OpDataAbsRsqrt"),
    "SQRT": Kernel(source="elementwise.cc: no op data"),
    "EXP": Kernel(source="exp.cc: no op data"),
    "LOG": Kernel(source="elementwise.cc: no op data"),
    "FLOOR": Kernel(source="floor.cc: no op data"),
    "SQUARE": Kernel(source="elementwise.cc: no op data"),
    "NEG": Kernel(source="neg.cc: no op data"),
    "SQUARED_DIFFERENCE": Kernel((), _fixed(112), source="squared_difference.cc OpData (ArithmeticParams)"),
    "L2_NORMALIZATION": Kernel(_params(4), _fixed(4), source="l2norm.cc"),
    "PAD": Kernel((), _fixed(56), source="pad.cc OpData (PadParams)"),
    "TRANSPOSE": Kernel(source="transpose.cc: no op data"),
    "EXPAND_DIMS": Kernel(source="expand_dims.cc: no op data"),
    "RESIZE_NEAREST_NEIGHBOR": Kernel(((2, 1), (2, 1)), source="TfLiteResizeNearestNeighborParams: 2 bools"),
    # TFLM Signal library (audio front end), custom operators with flexbuffer options
    "CUSTOM:SignalWindow": Kernel((), _fixed(8), source="window.cc"),
    "CUSTOM:SignalFftAutoScale": Kernel(source="fft_auto_scale.cc: no op data"),
    "CUSTOM:SignalRfft": Kernel((), _rfft_init, scratch=_rfft_scratch, source="rfft.cc, kiss_fftr"),
    "CUSTOM:SignalEnergy": Kernel((), _fixed(8), source="energy.cc"),
    "CUSTOM:SignalFilterBank": Kernel((), _filter_bank_init, source="filter_bank.cc"),
    "CUSTOM:SignalFilterBankSquareRoot": Kernel(source="filter_bank_square_root.cc: no op data"),
    "CUSTOM:SignalFilterBankSpectralSubtraction": Kernel((), _spectral_subtraction_init,
                                                         source="filter_bank_spectral_subtraction.cc"),
    "CUSTOM:SignalPCAN": Kernel((), _fixed(4), source="pcan.cc"),
    "CUSTOM:SignalFilterBankLog": Kernel((), _fixed(8), source="filter_bank_log.cc"),
}

_UNKNOWN = Kernel(known=False)


def rule(name: str) -> Kernel:
    """The table's row for operator ``name`` (an empty, unknown row when it has none)."""
    return KERNELS.get(name, _UNKNOWN)
