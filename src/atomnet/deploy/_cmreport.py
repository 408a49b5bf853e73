"""One model on an emulated Cortex-M against TFLite Micro and the cost model: bit-exactness, instruction counts,
the ELF's real Flash/RAM and the ``tinyengine`` estimates (``atomnet cost FILE.tflite --runtime tinyengine``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from atomnet.deploy._cortexm import build_cortexm
from atomnet.deploy._elfsize import ElfSizes, elf_sizes
from atomnet.deploy._qemu import run_qemu


@dataclass(frozen=True)
class CortexMReport:
    model: str
    target: str
    bit_exact: bool
    mismatched_bytes: int
    total_instructions: int
    layer_instructions: tuple[int, ...]
    sizes: ElfSizes
    stack_used_bytes: int
    stack_size_bytes: int
    arena_bytes: int
    est_flash_bytes: int
    est_peak_sram_bytes: int

    @property
    def ram_bytes(self) -> int:
        """Static RAM of the model (``.data`` + arena; the measurement-only tick table excluded) + stack."""
        return self.sizes.data_bytes + self.arena_bytes + self.stack_used_bytes

    def row(self) -> dict[str, Any]:
        s = self.sizes
        return {"model": self.model, "target": self.target, "bit_exact": self.bit_exact,
                "instructions": self.total_instructions, "flash_bytes": s.flash_bytes,
                "kernel_bytes": s.kernel_bytes, "weight_bytes": s.weight_bytes, "other_flash_bytes":
                s.other_flash_bytes, "est_flash_bytes": self.est_flash_bytes, "data_bytes": s.data_bytes,
                "arena_bytes": self.arena_bytes, "stack_bytes": self.stack_used_bytes, "ram_bytes": self.ram_bytes,
                "est_peak_sram_bytes": self.est_peak_sram_bytes}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layer_instructions"] = list(self.layer_instructions)
        return d


def cortexm_report(tflite: str | Path, *, target: str = "cortex-m7", out_dir: str | Path, seed: int = 0,
                   timeout_s: float = 600.0) -> CortexMReport:
    """Generate C for ``tflite`` (``tinyengine`` plan), run it in QEMU on a seeded random int8 input and compare
    with the TFLite Micro interpreter on the same input."""
    from atomnet.deploy import generate
    from atomnet.export import TFLMModel, cost_tflite

    tflite, out = Path(tflite), Path(out_dir)
    d = generate(tflite, runtime="tinyengine", out_dir=out / "gen")
    tm = TFLMModel(tflite)
    info = np.iinfo(tm.input["dtype"])
    x = np.random.default_rng(seed).integers(info.min, info.max + 1, size=tm.input_shape).astype(tm.input["dtype"])
    ref = np.ascontiguousarray(tm.invoke_raw(x)).tobytes()
    b = build_cortexm(d, x.tobytes(), target=target, build_dir=out / f"build-{target}", timeout_s=timeout_s)
    r = run_qemu(b.elf, target=target, timeout_s=timeout_s)
    sizes = elf_sizes(b.elf, b.kernel_objects)
    est = cost_tflite(tflite, "stm32h743", runtime="tinyengine")
    mism = sum(a != c for a, c in zip(r.output, ref, strict=False)) + abs(len(r.output) - len(ref))
    return CortexMReport(tflite.stem, target, r.output == ref, mism, r.total_instructions, r.layer_instructions,
                         sizes, r.stack_used_bytes, r.stack_size_bytes, int(d.arena_bytes),
                         int(est.flash_bytes), int(est.peak_sram_bytes))
