"""Cortex-M targets of generated code: cross-compile (:func:`build_cortexm`), run in QEMU (:func:`run_qemu`,
instruction counts per layer, deterministic) and read the real Flash/RAM of the ELF (:func:`elf_sizes`).

Example::

    from atomnet.deploy import generate
    from atomnet.deploy.target import build_cortexm, elf_sizes, run_qemu
    d = generate("model.tflite", runtime="tinyengine", out_dir="out")
    b = build_cortexm(d, bytes(d.input_bytes), target="cortex-m7")
    r = run_qemu(b.elf, target="cortex-m7")
    print(r.total_instructions, r.layer_instructions, elf_sizes(b.elf, b.kernel_objects))
"""

from atomnet.deploy._cmreport import CortexMReport, cortexm_report
from atomnet.deploy._cortexm import TARGETS, CortexMBuild, Target, build_cortexm, get_target
from atomnet.deploy._elfsize import ElfSizes, elf_sizes
from atomnet.deploy._qemu import INSTRUCTIONS_PER_TICK, MACHINES, QemuError, QemuRun, parse_report, run_qemu

__all__ = ["INSTRUCTIONS_PER_TICK", "MACHINES", "TARGETS", "CortexMBuild", "CortexMReport", "ElfSizes",
           "QemuError", "QemuRun", "Target", "build_cortexm", "cortexm_report", "elf_sizes", "get_target",
           "parse_report", "run_qemu"]
