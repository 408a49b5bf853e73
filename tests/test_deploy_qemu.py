"""Cortex-M builds of generated code run in QEMU (issue 17, scope 4-5): startup, semihosting report,
instruction counts (deterministic, 40 per timer tick), stack high-water mark, real ELF sizes, faults and hangs
as clear errors. A small hand-written program following the generator's contract (model.h/model.c, hooks,
``atomnet_w_*`` weights, ``atomnet_k_*`` kernel objects) checks the machinery on its own; the generated zoo
and public models are checked bit-exact against TFLite Micro further down."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from atomnet.deploy.target import INSTRUCTIONS_PER_TICK, QemuError, build_cortexm, elf_sizes, run_qemu

pytestmark = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="needs gcc-arm-none-eabi and qemu-system-arm (make test installs them)",
)

N = 64
MODEL_H = f"""#include <stdint.h>
#define ATOMNET_INPUT_BYTES {N}
#define ATOMNET_OUTPUT_BYTES {N}
#define ATOMNET_NUM_LAYERS 2
#define ATOMNET_ARENA_BYTES {2 * N}
int atomnet_invoke(void);
int8_t *atomnet_input(void);
int8_t *atomnet_output(void);
"""
MODEL_C = """#include "model.h"
#ifdef ATOMNET_HOOKS_HEADER
#include ATOMNET_HOOKS_HEADER
#else
#define ATOMNET_LAYER_BEGIN(i)
#define ATOMNET_LAYER_END(i)
#endif
static int8_t atomnet_arena[ATOMNET_ARENA_BYTES];
const int8_t atomnet_w_0[ATOMNET_INPUT_BYTES] = {3, -7, 11, 100, -100};
void atomnet_k_addsat(const int8_t *a, const int8_t *b, int8_t *o, int n, int reps);
int8_t *atomnet_input(void) { return atomnet_arena; }
int8_t *atomnet_output(void) { return atomnet_arena + ATOMNET_INPUT_BYTES; }
int atomnet_invoke(void) {
    ATOMNET_LAYER_BEGIN(0);
    atomnet_k_addsat(atomnet_arena, atomnet_w_0, atomnet_output(), ATOMNET_INPUT_BYTES, 1);
    ATOMNET_LAYER_END(0);
    ATOMNET_LAYER_BEGIN(1);
    atomnet_k_addsat(atomnet_output(), atomnet_w_0, atomnet_output(), ATOMNET_INPUT_BYTES, REPS);
    ATOMNET_LAYER_END(1);
    BAD
    return 0;
}
"""
KERNEL_C = """#include <stdint.h>
void atomnet_k_addsat(const int8_t *a, const int8_t *b, int8_t *o, int n, int reps) {
    volatile int8_t buf[256]; /* stack use the high-water mark must see */
    for (int r = 0; r < reps; ++r)
        for (int i = 0; i < n; ++i) {
            int v = a[i] + b[i];
            buf[i & 255] = (int8_t)v;
            o[i] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
        }
    (void)buf[0];
}
"""


@dataclass(frozen=True)
class _Handwritten:
    out_dir: Path
    c_files: tuple[Path, ...]
    include_dirs: tuple[Path, ...]


def _program(tmp: Path, reps: int = 50, bad: str = "") -> _Handwritten:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "model.h").write_text(MODEL_H)
    (tmp / "model.c").write_text(MODEL_C.replace("REPS", str(reps)).replace("BAD", bad))
    (tmp / "atomnet_k_addsat.c").write_text(KERNEL_C)
    return _Handwritten(tmp, (tmp / "model.c", tmp / "atomnet_k_addsat.c"), ())


def _reference(inp: bytes, reps: int) -> bytes:
    w = [3, -7, 11, 100, -100] + [0] * (N - 5)
    x = [b - 256 if b > 127 else b for b in inp]
    o = [max(-128, min(127, a + b)) for a, b in zip(x, w, strict=True)]
    for _ in range(reps):
        o = [max(-128, min(127, a + b)) for a, b in zip(o, w, strict=True)]
    return bytes(v & 255 for v in o)


@pytest.mark.parametrize("target", ["cortex-m7", "cortex-m4"])
def test_handwritten_program_runs_with_counts_stack_and_sizes(tmp_path: Path, target: str) -> None:
    inp = bytes(range(0, 256, 4))
    b = build_cortexm(_program(tmp_path / "src"), inp, target=target, build_dir=tmp_path / "b")
    r1 = run_qemu(b.elf, target=target)
    r2 = run_qemu(b.elf, target=target)
    assert r1.output == _reference(inp, 50)
    assert r1 == r2  # outputs, per-layer and total instruction counts identical run to run
    assert len(r1.layer_instructions) == 2
    assert all(v % INSTRUCTIONS_PER_TICK == 0 for v in (r1.total_instructions, *r1.layer_instructions))
    # layer 1 runs the kernel 50 times, layer 0 once: the counts scale accordingly (40-instruction resolution)
    assert 40 < r1.layer_instructions[1] / r1.layer_instructions[0] < 60
    assert sum(r1.layer_instructions) <= r1.total_instructions < sum(r1.layer_instructions) + 400
    assert 256 < r1.stack_used_bytes < r1.stack_size_bytes == 0x10000
    s = elf_sizes(b.elf, b.kernel_objects)
    assert s.weight_bytes == N and s.arena_bytes == 2 * N
    assert 0 < s.kernel_bytes < 200 and s.other_flash_bytes > 0
    assert s.flash_bytes == s.kernel_bytes + s.weight_bytes + s.other_flash_bytes
    assert s.bss_bytes >= 2 * N + 4 * 4096  # arena + per-layer tick table


def test_more_work_costs_proportionally_more_instructions(tmp_path: Path) -> None:
    inp = bytes(N)
    counts = []
    for reps in (100, 200):
        b = build_cortexm(_program(tmp_path / f"s{reps}", reps), inp, build_dir=tmp_path / f"b{reps}")
        counts.append(run_qemu(b.elf).layer_instructions[1])
    per_rep = (counts[1] - counts[0]) / 100
    assert abs(counts[0] / 100 - per_rep) <= 2 * INSTRUCTIONS_PER_TICK  # linear, no hidden fixed cost


def test_fault_is_a_clear_error(tmp_path: Path) -> None:
    prog = _program(tmp_path / "s", bad="*(volatile int *)0xF0000000u = 1;")
    b = build_cortexm(prog, bytes(N), build_dir=tmp_path / "b")
    with pytest.raises(QemuError, match="faulted"):
        run_qemu(b.elf)


def test_hang_is_a_clear_error(tmp_path: Path) -> None:
    prog = _program(tmp_path / "s", bad="for (;;) { __asm volatile(\"\"); }")
    b = build_cortexm(prog, bytes(N), build_dir=tmp_path / "b")
    with pytest.raises(QemuError, match="did not finish"):
        run_qemu(b.elf, timeout_s=3)


def test_wrong_input_size_names_the_expected_size(tmp_path: Path) -> None:
    from atomnet.errors import InputError

    with pytest.raises(InputError, match="ATOMNET_INPUT_BYTES = 64"):
        build_cortexm(_program(tmp_path / "s"), bytes(3), build_dir=tmp_path / "b")


# ---- generated code (atomnet.deploy.generate) in QEMU against TFLite Micro -------------------------------------

VWW = Path(__file__).resolve().parents[2] / "shared" / "models" / "tflite" / "mlc_vww_96_int8.tflite"


def _report(model: Path, tmp: Path, target: str = "cortex-m7") -> object:
    pytest.importorskip("tflite_micro")
    from atomnet.deploy.target import cortexm_report

    rep = cortexm_report(model, target=target, out_dir=tmp)
    assert rep.bit_exact, f"{model.name} on {target}: {rep.mismatched_bytes} output bytes differ from TFLite Micro"
    assert rep.total_instructions > 0 and len(rep.layer_instructions) > 0
    assert sum(rep.layer_instructions) <= rep.total_instructions
    assert 0 < rep.stack_used_bytes < rep.stack_size_bytes
    s = rep.sizes
    assert s.arena_bytes == rep.arena_bytes and s.weight_bytes > 0 and s.kernel_bytes > 0
    assert s.flash_bytes == s.kernel_bytes + s.weight_bytes + s.other_flash_bytes
    return rep


@pytest.mark.slow
@pytest.mark.skipif(not VWW.is_file(), reason="needs ../shared/models/tflite/mlc_vww_96_int8.tflite")
def test_public_vww_model_is_bit_exact_on_cortex_m7(tmp_path: Path) -> None:
    _report(VWW, tmp_path)


@pytest.fixture(scope="module")
def vww0_int8(zoo_int8_exports: dict[str, Path]) -> Path:
    """The int8 export of the smallest zoo model (random weights, the session's zoo exports)."""
    return zoo_int8_exports["mcunet-vww0"]


def test_zoo_model_bit_exact_on_cortex_m7_and_m4_with_deterministic_counts(vww0_int8: Path, tmp_path: Path) -> None:
    from atomnet.deploy.target import CortexMReport

    m7 = _report(vww0_int8, tmp_path / "m7", "cortex-m7")
    m4 = _report(vww0_int8, tmp_path / "m4", "cortex-m4")
    again = _report(vww0_int8, tmp_path / "m7b", "cortex-m7")
    assert isinstance(m7, CortexMReport) and isinstance(m4, CortexMReport) and isinstance(again, CortexMReport)
    assert again.layer_instructions == m7.layer_instructions and again.total_instructions == m7.total_instructions
    assert len(m4.layer_instructions) == len(m7.layer_instructions)
    # the estimate's planner peak is the generated arena; the binary's RAM adds .data and the stack
    assert m7.ram_bytes >= m7.arena_bytes


@pytest.mark.slow
@pytest.mark.skipif(not VWW.is_file(), reason="needs ../shared/models/tflite/mlc_vww_96_int8.tflite")
def test_deploy_cli_runs_the_public_vww_model_in_qemu(tmp_path: Path) -> None:
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "atomnet", "deploy", str(VWW), "--out", str(tmp_path / "o"),
                        "--target", "cortex-m7"], capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "output vs TFLite Micro: bit-exact" in p.stdout
    total = int(p.stdout.split(" in QEMU: ")[1].split(" instructions")[0].replace(",", ""))
    assert total > 10_000_000 and total % 40 == 0  # 40 instructions per tick of the 25 MHz timer
    assert "arena 60,728" in p.stdout  # the generated arena = the tinyengine planner's peak (tensors + scratch)


@pytest.mark.slow  # 9 models, up to 1.3 G instructions each in QEMU
def test_every_supported_zoo_export_is_bit_exact_on_cortex_m7(zoo_int8_exports: dict[str, Path],
                                                             tmp_path: Path) -> None:
    """The zoo exports without SE/h-swish (the stress spec needs MUL and HARD_SWISH) in QEMU Cortex-M7: outputs
    equal TFLite Micro's byte for byte; the ELF's Flash within 10 % of the tinyengine estimate (docs/deploy.md)."""
    from atomnet.deploy.target import CortexMReport

    done = []
    from test_sram import TINYENGINE_PEAKS

    for name in TINYENGINE_PEAKS:  # the fixture holds the whole zoo and the stress spec; these are the 9
        path = zoo_int8_exports[name]
        rep = _report(path, tmp_path / name)
        assert isinstance(rep, CortexMReport)
        assert abs(rep.sizes.flash_bytes / rep.est_flash_bytes - 1) < 0.10, (name, rep.row())
        assert rep.arena_bytes >= rep.est_peak_sram_bytes * 0.9, (name, rep.row())
        done.append(name)
    assert len(done) == 9, done


def test_stress_export_is_bit_exact_on_cortex_m7(zoo_int8_exports: Mapping[str, Path], tmp_path: Path) -> None:
    """test_export's stress spec (SE with h-swish: MEAN, MUL by the broadcast gate, HARD_SWISH; a channel
    multiplier; 7×7 kernels) in QEMU Cortex-M7: byte for byte TFLite Micro's output."""
    from atomnet.deploy.target import CortexMReport

    rep = _report(zoo_int8_exports["stress"], tmp_path)
    assert isinstance(rep, CortexMReport)
    assert rep.total_instructions % 40 == 0 and len(rep.layer_instructions) > 20
    assert rep.ram_bytes >= rep.arena_bytes > 0


#: the zoo models test_every_supported_zoo_export_is_bit_exact_on_cortex_m7 does not run (SE, h-swish, PAD)
OTHER_ZOO = ["atomnet-10fps", "atomnet-256kb", "atomnet-256kb-max", "atomnet-320kb", "atomnet-512kb",
             "atomnet-512kb-large", "atomnet-512kb-max", "atomnet-5fps", "mbv2-w0.35-r144"]


def test_other_zoo_names_complete_the_zoo() -> None:
    from atomnet.zoo import list_zoo
    from test_sram import TINYENGINE_PEAKS

    assert sorted([*OTHER_ZOO, *TINYENGINE_PEAKS]) == list_zoo()


@pytest.mark.slow  # one export (~20-60 s on 2 shared cores) and up to a few G instructions in QEMU each
@pytest.mark.parametrize("name", OTHER_ZOO)
def test_se_hswish_zoo_export_is_bit_exact_on_cortex_m7(name: str, zoo_int8_exports: Mapping[str, Path],
                                                       tmp_path: Path) -> None:
    from atomnet.deploy.target import CortexMReport

    rep = _report(zoo_int8_exports[name], tmp_path)
    assert isinstance(rep, CortexMReport)
    assert rep.total_instructions > 10_000_000 and rep.total_instructions % 40 == 0
    assert abs(rep.sizes.flash_bytes / rep.est_flash_bytes - 1) < 0.15, (name, rep.row())  # +13.9 % at most
    assert rep.arena_bytes == rep.est_peak_sram_bytes, (name, rep.row())  # the arena is the planner's peak


@pytest.mark.slow  # 10 exports at 48×48 (~10-15 s each), each run in QEMU
def test_ten_random_hybrid_architectures_are_bit_exact_on_cortex_m7(hybrid_int8_exports: Mapping[str, Path],
                                                                    tmp_path: Path) -> None:
    from atomnet.deploy.target import cortexm_report

    bad, counts = {}, {}
    for name in hybrid_int8_exports:
        rep = cortexm_report(hybrid_int8_exports[name], target="cortex-m7", out_dir=tmp_path / name)
        counts[name] = rep.total_instructions
        if not rep.bit_exact:
            bad[name] = rep.mismatched_bytes
    assert len(counts) == 10 and bad == {}
    assert all(n > 0 and n % 40 == 0 for n in counts.values())
