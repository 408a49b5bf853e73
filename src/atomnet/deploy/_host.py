"""Build generated code with the host C compiler and run it (stdin: input bytes, stdout: output bytes)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from atomnet.deploy._gen import DeployedModel
from atomnet.errors import InputError

_MAIN = """#include <stdio.h>
#include "model.h"
int main(void) {
    if (fread(atomnet_input(), 1, ATOMNET_INPUT_BYTES, stdin) != ATOMNET_INPUT_BYTES) return 2;
    if (atomnet_invoke() != 0) return 3;
    fwrite(atomnet_output(), 1, ATOMNET_OUTPUT_BYTES, stdout);
    return 0;
}
"""


def build_host(model: DeployedModel) -> Path:
    """Compile ``model`` with ``gcc -O2 -std=c99`` and a generated host main; returns the executable."""
    main = model.out_dir / "host_main.c"
    main.write_text(_MAIN)
    exe = model.out_dir / "atomnet_host"
    cmd = ["gcc", "-O2", "-std=c99", "-o", str(exe), str(main), *map(str, model.c_files), "-lm",
           *(f"-I{d}" for d in model.include_dirs)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise InputError(f"{model.out_dir}: host build failed:\n{r.stderr[-2000:]}")
    return exe


def run_host(exe: Path, input_int8: np.ndarray) -> np.ndarray:
    """Run the host executable on one int8 input; returns the int8 output (flat)."""
    r = subprocess.run([str(exe)], input=np.ascontiguousarray(input_int8, dtype=np.int8).tobytes(),
                       capture_output=True)
    if r.returncode != 0:
        raise InputError(f"{exe}: generated model crashed or failed (exit status {r.returncode})")
    return np.frombuffer(r.stdout, dtype=np.int8).copy()
