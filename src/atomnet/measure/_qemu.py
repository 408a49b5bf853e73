"""``qemu`` runner: single-operator (or whole) int8 models as generated C code (:mod:`atomnet.deploy`, the
``tinyengine`` memory plan), cross-compiled for Cortex-M and run in QEMU with ``-icount shift=0``.

A repeat is the instruction count of one ``atomnet_invoke()`` (resolution 40 instructions, identical run to
run; :mod:`atomnet.deploy.target`), stored as a latency at the nominal clock of the ``qemu-m7`` / ``qemu-m4``
boards, 1000 MHz: **1 instruction = 1 cycle = 1 ns, so ``latency_ms`` × 10⁶ is the instruction count**.
QEMU models no pipeline, caches or wait states: the numbers are deterministic instruction counts for the
pipeline and for additivity, not a real MCU's timing. SRAM is the generated arena (the planner's peak);
Flash is not stored (the ELF's ``atomnet_w_*`` arrays also hold requantization tables, so they are not the
operator's weight bytes; :func:`atomnet.deploy.target.elf_sizes` reports them).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from atomnet.errors import InputError
from atomnet.measure._runners import Session, register_runner
from atomnet.measure._singleop import Variant
from atomnet.ops import Op

#: nominal clock of the QEMU boards: 1 instruction = 1 cycle at 1000 MHz = 1 ns (icount shift=0)
QEMU_CLOCK_MHZ = 1000.0


class _QemuSession:
    def __init__(self, model: bytes, target: str, seed: int, timeout_s: float) -> None:
        from atomnet.deploy import generate
        from atomnet.deploy.target import build_cortexm, elf_sizes

        self._dir = Path(tempfile.mkdtemp(prefix="atomnet-qemu-"))
        try:
            src = self._dir / "model.tflite"
            src.write_bytes(model)
            deployed = generate(src, runtime="tinyengine", out_dir=self._dir / "gen")
            self._build = build_cortexm(deployed, None, target=target, build_dir=self._dir / "build", seed=seed)
            sizes = elf_sizes(self._build.elf, self._build.kernel_objects)
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        self.sram_bytes: int | None = int(deployed.arena_bytes)
        self.flash_bytes: int | None = None
        self.elf_sizes = sizes
        self.target, self.timeout_s = target, timeout_s

    def warmup(self, n: int) -> None:
        """Nothing to warm: the emulated run is deterministic."""

    def repeat(self) -> float:
        from atomnet.deploy.target import run_qemu

        run = run_qemu(self._build.elf, target=self.target, timeout_s=self.timeout_s)
        return run.total_instructions / (QEMU_CLOCK_MHZ * 1e3)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


class QemuRunner:
    """Generated C code in QEMU (``target``: ``cortex-m7`` = mps2-an500, ``cortex-m4`` = mps2-an386)."""

    name = "qemu"
    runtime = "tinyengine"
    clock_mhz: float | None = QEMU_CLOCK_MHZ

    def __init__(self, target: str = "cortex-m7", seed: int = 0, timeout_s: float = 300.0) -> None:
        from atomnet.deploy.target import TARGETS

        if target not in TARGETS:
            raise InputError(f"qemu runner: target {target!r} unknown; known: {', '.join(TARGETS)}")
        import atomnet

        self.runtime_version = f"atomnet-deploy {getattr(atomnet, '__version__', 'dev')} qemu {target}"
        self.target, self.seed, self.timeout_s = target, seed, timeout_s

    def open(self, model: bytes, op: Op | None = None, variant: Variant | None = None) -> Session:
        return _QemuSession(model, self.target, self.seed, self.timeout_s)


register_runner("qemu")(QemuRunner)
