"""Real Flash and RAM of a linked Cortex-M ELF (``arm-none-eabi-size -A`` and ``nm``).

Flash = ``.text`` + ``.rodata`` + ``.ARM.exidx`` + ``.data`` (its initialisers are stored in Flash), split into
kernels (the symbols defined by ``atomnet_k_*`` objects, as linked), weights (``atomnet_w_*`` symbols) and the
rest (startup, model.c's layer sequence and quantization tables, libc). RAM = ``.data`` + ``.bss`` (the arena
and the per-layer timing table) + the measured stack high-water mark.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from atomnet.deploy._cortexm import toolchain

_FLASH_SECTIONS = (".vectors", ".text", ".rodata", ".ARM.exidx", ".data")


@dataclass(frozen=True)
class ElfSizes:
    flash_bytes: int
    kernel_bytes: int
    weight_bytes: int
    other_flash_bytes: int
    data_bytes: int
    bss_bytes: int
    arena_bytes: int | None

    @property
    def static_ram_bytes(self) -> int:
        return self.data_bytes + self.bss_bytes


def section_sizes(elf: Path) -> dict[str, int]:
    out = subprocess.run([toolchain("size"), "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sizes: dict[str, int] = {}
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) == 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def _symbols(path: Path) -> list[tuple[str, str, int]]:
    """(name, type letter, size) of the sized symbols in an ELF or object."""
    out = subprocess.run([toolchain("nm"), "-S", "--defined-only", str(path)],
                         capture_output=True, text=True, check=True).stdout
    syms = []
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) == 4:
            syms.append((parts[3], parts[2], int(parts[1], 16)))
    return syms


def elf_sizes(elf: Path, kernel_objects: tuple[Path, ...]) -> ElfSizes:
    sec = section_sizes(elf)
    flash = sum(sec.get(s, 0) for s in _FLASH_SECTIONS)
    kernel_names = {n for o in kernel_objects for n, t, _ in _symbols(o) if t.lower() in "tr"}
    kernels = weights = 0
    arena = None
    for name, typ, size in _symbols(elf):
        if name.startswith("atomnet_w_"):
            weights += size
        elif typ.lower() in "tr" and name in kernel_names:
            kernels += size
        elif name == "atomnet_arena":
            arena = size
    return ElfSizes(flash, kernels, weights, flash - kernels - weights, sec.get(".data", 0),
                    sec.get(".bss", 0), arena)
