"""A measurement-firmware simulator speaking ``docs/serial-protocol.md`` on a (pseudo-)terminal, run as a
separate process: ``python -m atomnet.measure._simulator /dev/pts/N [--noise P] [--drop P] [--reset-every N]``
serves on a terminal the host created (the host keeps the pty master); ``--pty`` makes the simulator create the
pseudo-terminal itself and print the path of its other end, which the host then opens like a serial port
(``atomnet db measure … --runner serial --port PATH``).

It behaves like the firmware a user writes for a board: it accepts an uploaded ``.tflite`` (CRC-checked),
runs it in the real TFLite Micro interpreter and answers cycle counts at ``--clock-mhz`` (wall time × clock),
the arena allocated and the constant bytes.

Faults, for the host's tests. Deterministic ones pick replies by number (1, 2, … every frame sent in answer to a
request, repeats from the response cache included; ``BOOT`` not counted), so a test's outcome does not depend on
the machine's speed: ``--garbage N,…`` line noise (with a stray magic byte, and every other time a false header)
before reply N, ``--corrupt N,…`` one payload or CRC byte flipped, ``--drop-byte N,…`` one byte deleted,
``--lose N,…`` the reply never sent; ``--reset-every N`` a reset (state lost, a BOOT frame, no answer) on every
N-th RUN request; ``--stall-after-repeats N`` no answer to anything after N timed repeats (a board that hangs);
``--fake-cycles`` cycle counts derived from the model's bytes instead of timed, so that results can be checked
exactly. Random ones (``--noise P``, ``--drop P``: garbage before / a byte deleted from a reply with probability
P) follow the seed but also the host's retries, so they are for trying a host by hand.
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import tempfile
import time
import tty
import zlib
from collections.abc import Callable
from typing import Any

from atomnet.measure._protocol import (
    ACK,
    BOOT,
    ERROR,
    HEADER,
    HELLO_ACK,
    LOAD_BEGIN,
    LOAD_CHUNK,
    MAGIC,
    MAX_PAYLOAD,
    RESULT,
    RUN,
    VERSION,
    Frame,
    FrameReader,
    MsgType,
    Status,
    encode,
)


def fake_cycles(model: bytes) -> int:
    """The cycles per repeat ``--fake-cycles`` reports for ``model`` (10,000 … 999,999, from its CRC-32)."""
    return 10_000 + zlib.crc32(model) % 990_000


def _numbers(text: str) -> set[int]:
    try:
        return {int(v) for v in text.split(",") if v.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated reply numbers, e.g. 3,9, got {text!r}") from None


class Device:
    def __init__(self, fd: int, args: argparse.Namespace) -> None:
        self.fd, self.a = fd, args
        self.rng = random.Random(args.seed)
        self.reader = FrameReader()
        self.runs = 0
        self.replies = 0
        self.repeats_done = 0
        self.boot()

    def boot(self) -> None:
        self.boot_id = self.rng.getrandbits(32)
        self.model: bytes | None = None
        self.buf = bytearray()
        self.expect = (0, 0)
        self.tm: Any = None
        self.arena = 0
        self.flash = 0
        self.cache: tuple[int, bytes] | None = None  # (seq, encoded response)

    def write(self, data: bytes, faults: bool = True) -> None:
        if faults:
            self.replies += 1
            faulty = self._faults(self.replies, data)
            if faulty is None:
                return
            data = faulty
            if self.rng.random() < self.a.noise:
                data = bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 24))) + data
            if self.rng.random() < self.a.drop and len(data) > 1:
                i = self.rng.randrange(len(data))
                data = data[:i] + data[i + 1:]
        os.write(self.fd, data)

    def _faults(self, n: int, frame: bytes) -> bytes | None:
        """Reply ``n`` with the deterministic faults asked for it (None: lost)."""
        if n in self.a.lose:
            return None
        if n in self.a.corrupt:  # a byte after the header: the length holds, the CRC fails
            i = HEADER.size + (n * 7) % (len(frame) - HEADER.size)
            frame = frame[:i] + bytes([frame[i] ^ 0x5A]) + frame[i + 1:]
        if n in self.a.drop_byte:  # any byte, magic and header included
            i = (n * 13) % len(frame)
            frame = frame[:i] + frame[i + 1:]
        if n in self.a.garbage:
            g = random.Random(self.a.seed * 1_000_003 + n)
            noise = bytes(g.getrandbits(8) for _ in range(g.randint(1, 24))) + MAGIC[:1]
            if n % 2:  # a false header whose length would swallow the real frame behind it
                noise += HEADER.pack(MAGIC, VERSION, int(MsgType.RESULT), 0, MAX_PAYLOAD - 1)
            frame = noise + frame
        return frame

    def reply(self, seq: int, typ: MsgType, payload: bytes) -> None:
        enc = encode(Frame(int(typ), seq, payload))
        self.cache = (seq, enc)
        self.write(enc)

    def ack(self, seq: int, st: Status = Status.OK, value: int = 0) -> None:
        self.reply(seq, MsgType.ACK, ACK.pack(int(st), 0, value))

    def handle(self, f: Frame) -> None:
        if self.a.stall_after_repeats and self.repeats_done >= self.a.stall_after_repeats:
            return  # hung: reads everything, answers nothing
        if self.cache is not None and self.cache[0] == f.seq:
            self.write(self.cache[1])  # a retry: answer again, do not execute twice
            return
        handler = _HANDLERS.get(f.type)
        if handler is None:
            self.reply(f.seq, MsgType.ERROR, ERROR.pack(int(Status.UNSUPPORTED)) + b"unsupported message")
        else:
            handler(self, f)

    def on_hello(self, f: Frame) -> None:
        name = self.a.name.encode()
        self.reply(f.seq, MsgType.HELLO_ACK, HELLO_ACK.pack(1, len(name), MAX_PAYLOAD, self.boot_id,
                                                            int(self.a.clock_mhz * 1e6), 8 << 20) + name)

    def on_load_begin(self, f: Frame) -> None:
        size, crc = LOAD_BEGIN.unpack_from(f.payload)
        self.buf, self.expect, self.model, self.tm = bytearray(), (size, crc), None, None
        self.ack(f.seq, Status.OK if size <= 8 << 20 else Status.TOO_LARGE)

    def on_load_chunk(self, f: Frame) -> None:
        (off,) = LOAD_CHUNK.unpack_from(f.payload)
        if off != len(self.buf):
            self.ack(f.seq, Status.BAD_OFFSET, len(self.buf))
            return
        self.buf += f.payload[LOAD_CHUNK.size:]
        self.ack(f.seq, value=len(self.buf))

    def on_load_end(self, f: Frame) -> None:
        size, crc = self.expect
        if len(self.buf) != size or zlib.crc32(self.buf) & 0xFFFFFFFF != crc:
            self.ack(f.seq, Status.BAD_MODEL_CRC, len(self.buf))
            return
        self.model = bytes(self.buf)
        self.load_model()
        self.ack(f.seq, value=self.arena)

    def on_run(self, f: Frame) -> None:
        self.runs += 1
        if self.a.reset_every and self.runs % self.a.reset_every == 0:
            self.boot()  # the board resets instead of answering
            time.sleep(0.01)
            self.write(encode(Frame(int(MsgType.BOOT), 0, BOOT.pack(self.boot_id))), faults=False)
            return
        if self.tm is None:
            self.reply(f.seq, MsgType.RESULT, RESULT.pack(int(Status.NO_MODEL), 0, 0, 0))
            return
        warm, reps = RUN.unpack_from(f.payload)
        it = self.tm.interpreter
        for _ in range(warm):
            it.invoke()
        cycles = []
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            it.invoke()
            cycles.append(min(0xFFFFFFFF, int((time.perf_counter_ns() - t0) * self.a.clock_mhz / 1e3)))
        if self.a.fake_cycles:
            cycles = [fake_cycles(self.model or b"")] * reps
        self.repeats_done += reps
        self.reply(f.seq, MsgType.RESULT, RESULT.pack(0, reps, self.arena, self.flash)
                   + struct.pack(f"<{reps}I", *cycles))

    def load_model(self) -> None:
        from atomnet.export import TFLMModel, parse_tflite

        assert self.model is not None
        with tempfile.NamedTemporaryFile(suffix=".tflite", delete=False) as fh:
            fh.write(self.model)
        try:
            self.tm = TFLMModel(fh.name)
            self.arena = self.tm.arena().total_bytes
        finally:
            os.unlink(fh.name)
        self.flash = parse_tflite(self.model).const_bytes

    def serve(self) -> None:
        self.write(encode(Frame(int(MsgType.BOOT), 0, BOOT.pack(self.boot_id))), faults=False)
        while True:
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                return  # the host closed the terminal
            if not data:
                return
            for f in self.reader.feed(data):
                self.handle(f)



#: the request types the simulated firmware answers, by message type (anything else: ERROR UNSUPPORTED)
_HANDLERS: dict[int, Callable[[Device, Frame], None]] = {
    MsgType.HELLO: Device.on_hello, MsgType.LOAD_BEGIN: Device.on_load_begin,
    MsgType.LOAD_CHUNK: Device.on_load_chunk, MsgType.LOAD_END: Device.on_load_end, MsgType.RUN: Device.on_run}

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("port", nargs="?", help="terminal device path (a pty slave, e.g. /dev/pts/3)")
    p.add_argument("--pty", action="store_true", help="create a pseudo-terminal and print the port to open")
    p.add_argument("--name", default="simulator")
    p.add_argument("--clock-mhz", type=float, default=480.0)
    p.add_argument("--noise", type=float, default=0.0, help="probability of garbage before a response")
    p.add_argument("--drop", type=float, default=0.0, help="probability of one byte dropped from a response")
    p.add_argument("--reset-every", type=int, default=0, help="reset on every N-th RUN request (0: never)")
    p.add_argument("--garbage", type=_numbers, default=set(), metavar="N,…", help="noise before replies N,…")
    p.add_argument("--corrupt", type=_numbers, default=set(), metavar="N,…", help="a byte flipped in replies N,…")
    p.add_argument("--drop-byte", type=_numbers, default=set(), metavar="N,…", help="a byte deleted in replies N,…")
    p.add_argument("--lose", type=_numbers, default=set(), metavar="N,…", help="replies N,… never sent")
    p.add_argument("--stall-after-repeats", type=int, default=0, metavar="N",
                   help="answer nothing after N timed repeats (0: never)")
    p.add_argument("--fake-cycles", action="store_true", help="cycles from the model's CRC-32, not timed")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.pty:
        fd, slave = os.openpty()
        tty.setraw(fd)
        tty.setraw(slave)  # stays open here so the port exists until the simulator ends
        print(os.ttyname(slave), flush=True)
    elif a.port:
        fd = os.open(a.port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
    else:
        p.error("give the terminal PORT or --pty")
    Device(fd, a).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
