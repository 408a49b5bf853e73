"""User board files, user search-space files, and the search on a fresh install (embedded predictors)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from atomnet.boards import get_board, load_board_file
from atomnet.cli import main
from atomnet.search import get_space, load_space_file


def test_user_board_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "f767.toml"
    p.write_text('name = "my-f767"\ncore = "cortex-m7"\nclock_mhz = 216\nsram = "512KB"\nflash = "2MB"\n'
                 'runtime = "xcube-ai"\nreference = "stm32h743"\ntime_scale = 2.0\n'
                 '[external]\nsdram = "8MB"\nsdram_mb_per_s = 216\n')
    b = load_board_file(p)
    assert (b.sram_bytes, b.flash_bytes, b.measured_board, b.is_scaled) == (524288, 2097152, "stm32h743", True)
    assert b.external is not None and b.external.sdram_bytes == 8 * 1024**2
    assert get_board(str(p)) == b
    assert main(["cost", "atomnet-256kb", "--board", str(p), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["board"] == "my-f767" and d["scaled"] is True
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ncore = "m4"\nclock_mhz = 80\nsram = "lots"\nflash = "1MB"\ncolour = "red"\n')
    with pytest.raises(ValueError, match=r"bad.toml: unknown board field\(s\) \['colour'\]"):
        load_board_file(bad)
    bad.write_text('name = "x"\ncore = "m4"\nclock_mhz = 80\nsram = "lots"\nflash = "1MB"\n')
    with pytest.raises(ValueError, match=r"bad.toml: .*sram: cannot parse size 'lots'"):
        load_board_file(bad)


def test_user_space_file(tmp_path: Path) -> None:
    p = tmp_path / "tiny.json"
    p.write_text(json.dumps({"name": "tiny", "resolutions": [96, 128], "stages": [
        {"stride": 2, "act": "relu", "block": "conv", "widths": [8, 16]},
        {"stride": 2, "act": "hswish", "block": "mobile_one", "widths": [16, 32], "depths": [1, 2]},
        {"stride": 2, "act": "hswish", "blocks": ["sep", "convnext"], "widths": [32, 64], "expands": [1, 3],
         "se": True}]}))
    sp = load_space_file(p)
    assert sp.shape == (2, 4, 8) and sp.size() == 2 * 2 * 4 * 8
    assert get_space(str(p)).name == "tiny"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "b", "stages": [{"stride": 2, "act": "relu", "block": "conv"}]}))
    with pytest.raises(ValueError, match=r"bad.json: stages\[0\]: missing field 'widths'"):
        load_space_file(bad)


@pytest.mark.slow  # > 20 s on 2 shared cores (pytest --durations)
def test_search_on_fresh_install_uses_embedded_predictors(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}  # a fresh install: no default database
    env.pop("ATOMNET_DB", None)
    r = subprocess.run([sys.executable, "-m", "atomnet", "search", "--board", "stm32h743", "--sram", "256KB",
                        "--flash", "1MB", "--latency", "275ms", "--space", "hybrid", "--strategy", "exhaustive",
                        "--json", "--no-progress"], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["found"] and d["evaluated"] == 57_153_600
    c = d["cost"]
    assert c["ops_exact"] == 0 and c["latency_ms"] <= 275 and c["peak_sram_bytes"] <= 256 * 1024
    assert c["flash_bytes"] <= 1024 * 1024 and c["macs"] > 78_750_000
    assert c["macs"] == 104_798_064  # the winner with the embedded predictors (X-CUBE-AI 7.x memory model)
    assert not (tmp_path / "xdg").exists()
