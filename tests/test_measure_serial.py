"""The serial measurement protocol: framing and resync, and the host side against the device simulator running
as a separate process on a pseudo-terminal, clean and with line noise, flipped and dropped bytes, lost answers and
resets. The faults are injected by reply number, the timeouts are generous and the assertions are on outcomes
(every repeat stored once, with the device's own number), so no test depends on the machine's speed."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from atomnet.db import AtomDB
from atomnet.measure import SweepEntry, Variant, build_direct, run_campaign
from atomnet.measure._protocol import MAX_PAYLOAD, Frame, FrameReader, MsgType, encode
from atomnet.measure._serial import ProtocolError, SerialClient, SerialRunner
from atomnet.measure._simulator import fake_cycles
from atomnet.measure._singleop import get_builder
from atomnet.ops import Op

pytest.importorskip("tflite_micro")
REPO = Path(__file__).resolve().parents[1]


def test_frames_roundtrip_and_resync() -> None:
    frames = [Frame(int(MsgType.RUN), i, bytes(random.Random(i).getrandbits(8) for _ in range(i * 37)))
              for i in range(1, 8)]
    wire = b"".join(encode(f) for f in frames)
    r = FrameReader()
    got = [f for i in range(0, len(wire), 5) for f in r.feed(wire[i:i + 5])]  # split at arbitrary points
    assert got == frames
    rng = random.Random(0)
    noisy = bytearray()
    for f in frames:
        noisy += bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 30))) + b"\xa5"  # garbage, stray magic
        noisy += encode(f)
    bad = bytearray(encode(frames[0]))
    bad[9] ^= 0xFF  # a corrupt frame (CRC fails) in the middle
    r = FrameReader()
    assert list(r.feed(bytes(noisy[:40]) + bytes(bad) + bytes(noisy[40:]))) [-6:] == frames[1:]
    assert r.bad_crc >= 1 and r.discarded > 0
    # a false header (its length would swallow what follows) and then a real frame: the reader waits for more
    # bytes; once the line is quiet, drain_stale gives up on the false one and finds the real frame behind it
    r = FrameReader()
    false = b"\xa5\x5a\x01\x86\x00\x00" + (MAX_PAYLOAD - 1).to_bytes(2, "little")
    assert list(r.feed(b"\x00\x13" + false + encode(frames[2]))) == []
    assert list(r.drain_stale()) == [frames[2]] and not r.buf
    with pytest.raises(ValueError, match="MAX_PAYLOAD"):
        encode(Frame(1, 1, bytes(MAX_PAYLOAD + 1)))


@pytest.fixture()
def device(request: pytest.FixtureRequest) -> Iterator[int]:
    """The simulator on the slave side of a pty; yields the master fd."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    args = getattr(request, "param", [])
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    p = subprocess.Popen([sys.executable, "-m", "atomnet.measure._simulator", os.ttyname(slave), *args], env=env)
    try:
        yield master
    finally:
        p.kill()
        p.wait()
        os.close(master)
        os.close(slave)


OPS = [Op.pointwise(16, 8, 8, 32), Op.conv(3, 16, 16, 8, 3, 2, padding=1), Op.dense(128, 20)]
# Timeouts a loaded machine never reaches: a late answer costs only a harmless resend (the device answers a
# repeated seq from its cache), so no outcome below depends on speed; corrupt answers are resent at once.
GENEROUS: dict[str, Any] = {"timeout_s": 10.0, "run_timeout_s": 30.0, "load_timeout_s": 30.0}


def _entries() -> list[SweepEntry]:
    v = {"pointwise": "CONV_2D", "conv": "CONV_2D", "dense": "FULLY_CONNECTED"}
    return [SweepEntry(op, Variant(v[op.kind]), 1, 1) for op in OPS]


def _fake_ms(e: SweepEntry) -> float:
    """The latency the simulator reports with --fake-cycles for the model a campaign uploads for ``e``."""
    return fake_cycles(get_builder("direct")(e.op, e.variant, 0)) / int(480e6) * 1e3


def test_serial_clean(device: int, tmp_path: Path) -> None:
    r = SerialRunner(fd=device, retries=6, **GENEROUS)
    assert r.client.info is not None and r.client.info.name == "simulator" and r.clock_mhz == 480.0
    s = r.open(build_direct(OPS[2]), OPS[2])
    s.warmup(2)
    assert s.repeat() > 0 and s.flash_bytes == OPS[2].flash_bytes and s.sram_bytes and s.sram_bytes > 0
    db = AtomDB(tmp_path / "s.sqlite")
    res = run_campaign(_entries(), r, db, "simboard", repeats=3, warmup=1, progress=False)
    assert res.rows_added == 9 and not res.failed
    assert db.sources("simboard")[0]["clock_mhz"] == 480.0
    for op in OPS:
        assert len(db.raw_latencies(op, "simboard")) == 3
    assert r.client.reader.discarded == 0 and r.client.reader.bad_crc == 0  # a clean line: nothing garbled


FAULTS = ["--garbage", "2,7,20,33", "--corrupt", "3,12,26", "--drop-byte", "5,16,29,41", "--reset-every", "5",
          "--fake-cycles", "--seed", "3"]


@pytest.mark.parametrize("device", [FAULTS], indirect=True)
def test_serial_with_noise_drops_and_resets(device: int, tmp_path: Path) -> None:
    """Deterministic faults (by reply number): noise and false headers, flipped and deleted bytes, a reset on every
    5th RUN. Every repeat lands exactly once with the exact cycles the device reported."""
    r = SerialRunner(fd=device, retries=10, **GENEROUS)
    db = AtomDB(tmp_path / "f.sqlite")
    res = run_campaign(_entries(), r, db, "simboard", repeats=3, warmup=1, progress=False)
    assert res.rows_added == 9 and not res.failed
    for e in _entries():  # every repeat exactly once, each the device's own number (none from a garbled frame)
        assert db.raw_latencies(e.op, "simboard") == [pytest.approx(_fake_ms(e), rel=1e-12)] * 3
    c = r.client
    # each flipped or deleted byte forces at least one resend; 12 RUN requests → at least 2 resets + the BOOT at start
    assert c.retried >= 7 and c.resets >= 3
    assert c.reader.bad_crc >= 3 and c.reader.discarded > 0


@pytest.mark.parametrize("device", [["--lose", "4", "--fake-cycles"]], indirect=True)
def test_serial_lost_answer_is_retried(device: int) -> None:
    """An answer lost entirely is noticed only by the timeout: resent with the same seq, executed once."""
    r = SerialRunner(fd=device, timeout_s=2.0, retries=10, run_timeout_s=2.0, load_timeout_s=30.0)
    e = _entries()[0]
    s = r.open(get_builder("direct")(e.op, e.variant, 0), e.op)
    assert [s.repeat() for _ in range(3)] == [pytest.approx(_fake_ms(e), rel=1e-12)] * 3
    assert r.client.retried >= 1


def test_serial_gives_up_on_a_silent_port() -> None:
    master, slave = os.openpty()
    tty.setraw(master)
    try:
        c = SerialClient(master, timeout_s=0.05, retries=2)  # nothing can answer: the count is exact
        with pytest.raises(ProtocolError, match=r"no valid answer to HELLO .* after 3 tries"):
            c.hello()
        assert c.retried == 2
    finally:
        os.close(master)
        os.close(slave)


def test_cli_measure_over_a_port(tmp_path: Path) -> None:
    """`atomnet db measure --runner serial --port PATH` against the simulator's own pty (as with a real board)."""
    from atomnet.cli import main
    from atomnet.measure import write_sweep

    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    p = subprocess.Popen([sys.executable, "-m", "atomnet.measure._simulator", "--pty", "--name", "sim-m7"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert p.stdout is not None
        port = p.stdout.readline().strip()
        ops = tmp_path / "ops.jsonl"
        write_sweep(_entries(), ops)
        board = tmp_path / "myboard.toml"
        board.write_text('name = "myboard"\ncore = "cortex-m7"\nclock_mhz = 480\nsram = "512KB"\nflash = "2MB"\n')
        db = str(tmp_path / "my.sqlite")
        args = ["--db", db, "db", "measure", str(ops), "--runner", "serial", "--port", port, "--board", str(board),
                "--repeats", "2", "--timeout", "10", "--no-progress"]
        assert main(args) == 0
        with AtomDB(db) as d:
            assert d.boards() == ["myboard"] and len(d.export_rows("myboard")) == 6
            assert d.sources("myboard")[0]["runtime"] == "tflm"
    finally:
        p.kill()
        p.wait()
