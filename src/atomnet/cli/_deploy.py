"""``atomnet deploy SOURCE --runtime tinyengine|tflm-plan --out DIR [--check]``: generated C (model.h/model.c,
the int8 kernels, CMakeLists.txt, a Makefile fragment, a README) with one static arena; ``--check`` builds it on the
host and compares with TFLite Micro on a random int8 input. SOURCE: an int8 .tflite, or a spec file, zoo name or
training run folder, exported to DIR/model.tflite first (``atomnet.deploy.resolve_source``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from atomnet.cli._progress import Stages, add_progress_flag


def add_parser(sub: Any) -> None:
    p = sub.add_parser("deploy", help="generate C inference code (static memory plan) from an int8 .tflite, a spec, "
                                      "a zoo model or a training run",
                       description="Write model.h/model.c (weights as const arrays, one arena of the planned size, "
                                   "straight-line kernel calls), the C99 int8 kernels, a CMakeLists.txt, a Makefile "
                                   "fragment and a README into DIR. --check: build with the host gcc and compare "
                                   "with TFLite Micro on a random int8 input. SOURCE other than a .tflite is first "
                                   "exported to DIR/model.tflite with the int8 exporter (needs the ML stack, "
                                   "15-60 s): a spec file or zoo model with random weights (--seed) calibrated on "
                                   "--calib seeded random inputs, a training run with its trained weights "
                                   "calibrated on --calib of its training images. "
                                   "Example: atomnet deploy mcunet-vww0 --out deploy_out --check")
    p.add_argument("source", metavar="SOURCE",
                   help="int8 .tflite file, spec file (.json/.yaml), zoo name (or 'demo') or training run folder")
    p.add_argument("--seed", type=int, default=0,
                   help="spec or zoo SOURCE: seed of the random weights and calibration inputs (default 0)")
    p.add_argument("--calib", type=int, metavar="N",
                   help="calibration inputs of the export (default 8 random ones for a spec, 200 training "
                        "images for a run)")
    p.add_argument("--runtime", choices=("tinyengine", "tflm-plan"), default="tinyengine")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--check", action="store_true", help="build on the host and compare with TFLite Micro")
    p.add_argument("--target", choices=("host", "cortex-m7", "cortex-m4"), default="host",
                   help="cortex-m7/cortex-m4: also cross-compile (gcc-arm-none-eabi), run in QEMU (mps2-an500 / "
                        "mps2-an386, -icount shift=0) and compare with TFLite Micro; prints instructions per layer "
                        "and the ELF's Flash and RAM against the tinyengine estimates")
    add_progress_flag(p)
    p.set_defaults(func=_run)


def _run(args: Any) -> int:
    import numpy as np

    from atomnet.deploy import build_host, generate, resolve_source, run_host

    steps = 1 if str(args.source).lower().endswith(".tflite") else 6 if Path(args.source).is_dir() else 4
    stages = Stages("deploy", steps, enabled=not args.no_progress)
    src = resolve_source(args.source, Path(args.out), seed=args.seed, calib=args.calib, on_stage=stages)
    if src.kind != "tflite":
        print(f"exported {src.tflite} in {src.export_seconds:.1f} s; {src.describe()}")
    stages("generating C", last=True)
    d = generate(src.tflite, runtime=args.runtime, out_dir=Path(args.out))
    srcs = " ".join(f.name for f in d.c_files)
    (d.out_dir / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(atomnet_model C)\n"
        f"add_library(atomnet_model STATIC {srcs})\ntarget_include_directories(atomnet_model PUBLIC .)\n")
    (d.out_dir / "atomnet.mk").write_text(f"ATOMNET_DIR ?= .\nATOMNET_SRCS = $(addprefix $(ATOMNET_DIR)/,{srcs})\n"
                                          "ATOMNET_CFLAGS = -I$(ATOMNET_DIR) -std=c99\n")
    (d.out_dir / "README.md").write_text(
        f"# atomnet generated model ({Path(d.source).name}, runtime {d.runtime})\n\n"
        + (f"Model: {src.kind} `{src.source}` ({src.name}), exported to model.tflite: {src.weights}; calibrated "
           f"on {src.calibration}.\n\n" if src.kind != "tflite" else "")
        + "Add the sources to your build (CMakeLists.txt: `add_subdirectory`, or `include atomnet.mk`), then:\n\n"
        "```c\n#include \"model.h\"\nmemcpy(atomnet_input(), image, ATOMNET_INPUT_BYTES);\natomnet_invoke();\n"
        "int8_t *scores = atomnet_output();\n```\n\n"
        f"Arena: {d.arena_bytes} B (static, .bss); planner peak {d.planner_peak_bytes} B. "
        "Define ATOMNET_HOOKS_HEADER to a header defining ATOMNET_LAYER_BEGIN(i)/ATOMNET_LAYER_END(i) for "
        "per-layer hooks.\n")
    print(f"wrote {d.out_dir}: {len(d.layers)} layers, arena {d.arena_bytes:,} B "
          f"(planner peak {d.planner_peak_bytes:,} B)")
    if args.target != "host":
        stages.done()
        return _run_cortexm(args, src.tflite)
    stages.done()
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


def _run_cortexm(args: Any, tflite: Path) -> int:
    from atomnet.deploy.target import cortexm_report

    r = cortexm_report(tflite, target=args.target, out_dir=Path(args.out) / args.target)
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
