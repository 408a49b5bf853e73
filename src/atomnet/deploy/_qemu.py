"""Running a Cortex-M ELF in QEMU and reading what it reports over semihosting.

``-icount shift=0,align=off,sleep=off`` makes virtual time advance exactly 1 ns per executed instruction,
independent of the host. The program reads the CMSDK APB timer 0 (0x40000000), which counts at the MPS2
board clock of 25 MHz, so one tick = 40 instructions: per-layer and total counts are exact multiples of
40 instructions (resolution 40) and identical run to run. QEMU's mps2 boards do not implement the DWT
cycle counter (CYCCNT reads a constant: measured), and SysTick runs from the same 25 MHz clock, so the APB
timer is the finest deterministic counter. These are *instruction* counts: QEMU models no pipeline,
caches, wait states or multi-cycle instructions, so they are not a real MCU's cycles.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from atomnet.errors import InputError

INSTRUCTIONS_PER_TICK = 40  # 1 GHz virtual clock (icount shift=0) / 25 MHz timer clock
MACHINES = {"cortex-m7": "mps2-an500", "cortex-m4": "mps2-an386"}


class QemuError(InputError):
    """A QEMU run that crashed, faulted, hung or printed no complete report."""


@dataclass(frozen=True)
class QemuRun:
    machine: str
    rc: int
    output: bytes
    total_instructions: int
    layer_instructions: tuple[int, ...]
    stack_used_bytes: int
    stack_size_bytes: int


def qemu_binary() -> str:
    exe = shutil.which("qemu-system-arm")
    if exe is None:
        raise InputError("qemu-system-arm not found: install the Debian package qemu-system-arm (make test does)")
    return exe


def run_qemu(elf: Path, *, target: str = "cortex-m7", timeout_s: float = 300.0) -> QemuRun:
    """Run ``elf`` once in QEMU (as a child process with a timeout) and parse its report."""
    try:
        machine = MACHINES[target]
    except KeyError:
        raise InputError(f"target: unknown {target!r}; known: {', '.join(MACHINES)}") from None
    cmd = [qemu_binary(), "-M", machine, "-nographic", "-monitor", "none", "-serial", "none",
           "-semihosting-config", "enable=on,target=native", "-icount", "shift=0,align=off,sleep=off",
           "-kernel", str(elf)]
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise QemuError(f"{elf}: QEMU {machine} did not finish within {timeout_s:.0f} s (hang?)") from None
    # QEMU writes the semihosting console (SYS_WRITE0) to its stderr when no chardev is given
    text = p.stdout.decode("ascii", "replace") + p.stderr.decode("ascii", "replace")
    if p.returncode == 3:
        raise QemuError(f"{elf}: the program faulted in QEMU {machine} (fault handler, exit 3)")
    return parse_report(text, machine, p.returncode, str(elf))


def parse_report(text: str, machine: str, rc: int, where: str) -> QemuRun:
    lines = text.splitlines()
    if "END" not in lines:
        raise QemuError(f"{where}: QEMU {machine} exited with {rc} without a complete report"
                        f"{': ' + text.strip()[-500:] if text.strip() else ''}")
    model_rc, total, layers, stack, out = None, None, {}, (0, 0), ""
    for ln in lines:
        parts = ln.split()
        if ln.startswith("ATOMNET rc"):
            model_rc = int(parts[2])
        elif parts and parts[0] == "TICKS":
            total = int(parts[1])
        elif parts and parts[0] == "LAYER":
            layers[int(parts[1])] = int(parts[2])
        elif parts and parts[0] == "STACK":
            stack = (int(parts[1]), int(parts[2]))
        elif ln.startswith("OUT "):
            out = ln[4:].strip()
    if model_rc is None or total is None:
        raise QemuError(f"{where}: incomplete report from QEMU {machine}")
    if model_rc != 0 or rc != 0:
        raise QemuError(f"{where}: atomnet_invoke returned {model_rc} (QEMU exit {rc})")
    k = INSTRUCTIONS_PER_TICK
    return QemuRun(machine, model_rc, bytes.fromhex(out), total * k,
                   tuple(layers[i] * k for i in sorted(layers)), stack[0], stack[1])
