"""``atomnet deploy MODEL.tflite --runtime tinyengine|tflm-plan --out DIR [--check]``: generated C (model.h/model.c,
the int8 kernels, CMakeLists.txt, a Makefile fragment, a README) with one static arena; ``--check`` builds it on the
host and compares with TFLite Micro on a random int8 input."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("deploy", help="generate C inference code (static memory plan) from an int8 .tflite",
                       description="Write model.h/model.c (weights as const arrays, one arena of the planned size, "
                                   "straight-line kernel calls), the C99 int8 kernels, a CMakeLists.txt, a Makefile "
                                   "fragment and a README into DIR. --check: build with the host gcc and compare "
                                   "with TFLite Micro on a random int8 input. "
                                   "Example: atomnet deploy model.tflite --out deploy_out --check")
    p.add_argument("source", metavar="MODEL", help="int8 .tflite file")
    p.add_argument("--runtime", choices=("tinyengine", "tflm-plan"), default="tinyengine")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--check", action="store_true", help="build on the host and compare with TFLite Micro")
    p.add_argument("--target", choices=("host", "cortex-m7", "cortex-m4"), default="host",
                   help="cortex-m7/cortex-m4: also cross-compile (gcc-arm-none-eabi), run in QEMU (mps2-an500 / "
                        "mps2-an386, -icount shift=0) and compare with TFLite Micro; prints instructions per layer "
                        "and the ELF's Flash and RAM against the tinyengine estimates")
    p.set_defaults(func=_run)


def _run(args: Any) -> int:
    import numpy as np

    from atomnet.deploy import build_host, generate, run_host

    d = generate(args.source, runtime=args.runtime, out_dir=Path(args.out))
    srcs = " ".join(f.name for f in d.c_files)
    (d.out_dir / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(atomnet_model C)\n"
        f"add_library(atomnet_model STATIC {srcs})\ntarget_include_directories(atomnet_model PUBLIC .)\n")
    (d.out_dir / "atomnet.mk").write_text(f"ATOMNET_DIR ?= .\nATOMNET_SRCS = $(addprefix $(ATOMNET_DIR)/,{srcs})\n"
                                          "ATOMNET_CFLAGS = -I$(ATOMNET_DIR) -std=c99\n")
    (d.out_dir / "README.md").write_text(
        f"# atomnet generated model ({Path(d.source).name}, runtime {d.runtime})\n\n"
        "Add the sources to your build (CMakeLists.txt: `add_subdirectory`, or `include atomnet.mk`), then:\n\n"
        "```c\n#include \"model.h\"\nmemcpy(atomnet_input(), image, ATOMNET_INPUT_BYTES);\natomnet_invoke();\n"
        "int8_t *scores = atomnet_output();\n```\n\n"
        f"Arena: {d.arena_bytes} B (static, .bss); planner peak {d.planner_peak_bytes} B. "
        "Define ATOMNET_HOOKS_HEADER to a header defining ATOMNET_LAYER_BEGIN(i)/ATOMNET_LAYER_END(i) for "
        "per-layer hooks.\n")
    print(f"wrote {d.out_dir}: {len(d.layers)} layers, arena {d.arena_bytes:,} B "
          f"(planner peak {d.planner_peak_bytes:,} B)")
    if args.target != "host":
        return _run_cortexm(args)
    if not args.check:
        return 0
    from tflite_micro.python.tflite_micro import runtime

    x = np.random.default_rng(0).integers(-128, 128, size=d.input_shape, dtype=np.int8)
    out = run_host(build_host(d), x)
    ip = runtime.Interpreter.from_file(str(d.source))
    ip.set_input(x, 0)
    ip.invoke()
    ref = np.asarray(ip.get_output(0)).ravel()
    diff = int(np.abs(out.astype(np.int32) - ref.astype(np.int32)).max())
    print(f"max |diff| vs TFLite Micro: {diff}" + (" (bit-exact)" if diff == 0 else " (NOT bit-exact)"))
    return 0 if diff == 0 else 1


def _run_cortexm(args: Any) -> int:
    from atomnet.deploy.target import cortexm_report

    r = cortexm_report(args.source, target=args.target, out_dir=Path(args.out) / args.target)
    s = r.sizes
    for i, n in enumerate(r.layer_instructions):
        print(f"  layer {i:3d}  {n:>13,} instructions")
    print(f"{args.target} in QEMU: {r.total_instructions:,} instructions (QEMU counts instructions, not cycles; "
          f"resolution 40)")
    print(f"Flash {s.flash_bytes:,} B = kernels {s.kernel_bytes:,} + weights {s.weight_bytes:,} + rest "
          f"{s.other_flash_bytes:,} (tinyengine estimate {r.est_flash_bytes:,} B)")
    print(f"RAM {r.ram_bytes:,} B = .data {s.data_bytes:,} + arena {r.arena_bytes:,} + stack high-water "
          f"{r.stack_used_bytes:,} (tinyengine peak-SRAM estimate {r.est_peak_sram_bytes:,} B)")
    print("output vs TFLite Micro: " + ("bit-exact" if r.bit_exact else f"{r.mismatched_bytes} bytes differ"))
    return 0 if r.bit_exact else 1
