"""Cross-compiling generated code for the emulated Cortex-M boards (QEMU ``mps2-an500`` / ``mps2-an386``).

The startup code, linker script, semihosting and timing hooks are in ``cortexm/`` (written for this project).
Each source compiles to its own object so the ELF size report can tell kernels (``atomnet_k_*`` objects)
from weights (``atomnet_w_*`` symbols) and the rest.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from atomnet.errors import InputError

CORTEXM_DIR = Path(__file__).with_name("cortexm")
_SUPPORT = ("startup.c", "semihost.c", "main.c")


@dataclass(frozen=True)
class Target:
    name: str
    machine: str  # qemu-system-arm -M
    cflags: tuple[str, ...]


TARGETS: dict[str, Target] = {
    "cortex-m7": Target(
        "cortex-m7", "mps2-an500", ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16")
    ),
    "cortex-m4": Target(
        "cortex-m4", "mps2-an386", ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")
    ),
}


class Deployed(Protocol):
    @property
    def out_dir(self) -> Path: ...
    @property
    def c_files(self) -> tuple[Path, ...]: ...
    @property
    def include_dirs(self) -> tuple[Path, ...]: ...


@dataclass(frozen=True)
class CortexMBuild:
    target: str
    elf: Path
    objects: tuple[Path, ...]
    kernel_objects: tuple[Path, ...]
    stack_bytes: int


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise InputError(f"--target: unknown {name!r}; known: host, {', '.join(TARGETS)}") from None


def toolchain(tool: str = "gcc") -> str:
    exe = shutil.which(f"arm-none-eabi-{tool}")
    if exe is None:
        raise InputError(
            f"arm-none-eabi-{tool} not found: install the Debian packages gcc-arm-none-eabi and "
            "libnewlib-arm-none-eabi (make test does)"
        )
    return exe


def _input_c(data: bytes, n: int) -> str:
    if len(data) != n:
        raise InputError(f"input: {len(data)} bytes, the model expects ATOMNET_INPUT_BYTES = {n}")
    vals = ",".join(str(b - 256 if b > 127 else b) for b in data)
    return f"#include <stdint.h>\nconst int8_t atomnet_test_input[{n}] = {{{vals}}};\n"


def build_cortexm(
    deployed: Deployed,
    input_bytes: bytes | None = None,
    *,
    target: str = "cortex-m7",
    build_dir: Path | None = None,
    opt: str = "-O2",
    stack_bytes: int = 0x10000,
    timeout_s: float = 600.0,
    seed: int = 0,
) -> CortexMBuild:
    """Compile ``deployed`` (plus startup, semihosting and timing hooks) into one ELF that runs the model
    once on ``input_bytes`` (None: uniform random int8 from ``seed``) and reports outputs, per-layer timer
    ticks and the stack high-water mark."""
    tgt = get_target(target)
    gcc = toolchain("gcc")
    bdir = Path(build_dir) if build_dir is not None else Path(deployed.out_dir) / f"build-{tgt.name}"
    bdir.mkdir(parents=True, exist_ok=True)
    n_in = _header_define(Path(deployed.out_dir), "ATOMNET_INPUT_BYTES")
    if input_bytes is None:
        import numpy as np

        input_bytes = np.random.default_rng(seed).integers(0, 256, n_in, dtype=np.uint8).tobytes()
    (bdir / "atomnet_test_input.c").write_text(_input_c(input_bytes, n_in))
    sources = [Path(c) for c in deployed.c_files] + [CORTEXM_DIR / s for s in _SUPPORT]
    sources.append(bdir / "atomnet_test_input.c")
    incs = [f"-I{d}" for d in (*deployed.include_dirs, deployed.out_dir, CORTEXM_DIR)]
    flags = [*tgt.cflags, opt, "-std=c99", "-ffunction-sections", "-fdata-sections",
             '-DATOMNET_HOOKS_HEADER="hooks.h"', *incs]
    objs: list[Path] = []
    for src in sources:
        obj = bdir / (src.stem + ".o")
        if obj in objs:
            raise InputError(f"build: two sources named {src.stem}.c")
        _run([gcc, *flags, "-c", str(src), "-o", str(obj)], timeout_s, f"compiling {src.name}")
        objs.append(obj)
    elf = bdir / "model.elf"
    _run([gcc, *tgt.cflags, "-nostartfiles", "--specs=nano.specs", "-T", str(CORTEXM_DIR / "mps2.ld"),
          f"-Wl,--defsym=__atomnet_stack_size={stack_bytes}", "-Wl,--gc-sections",
          f"-Wl,-Map={bdir / 'model.map'}", *map(str, objs), "-o", str(elf)], timeout_s, "linking")
    kernels = tuple(o for o in objs if o.name.startswith("atomnet_k_"))
    return CortexMBuild(tgt.name, elf, tuple(objs), kernels, stack_bytes)


def _header_define(out_dir: Path, name: str) -> int:
    import re

    text = (out_dir / "model.h").read_text()
    m = re.search(rf"#define\s+{name}\s+\(?(\d+)", text)
    if m is None:
        raise InputError(f"{out_dir / 'model.h'}: no #define {name}")
    return int(m.group(1))


def _run(cmd: list[str], timeout_s: float, what: str) -> None:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise InputError(f"{what}: timed out after {timeout_s:.0f} s") from None
    if p.returncode != 0:
        raise InputError(f"{what} failed ({cmd[0]}):\n{p.stderr.strip()[-2000:]}")
