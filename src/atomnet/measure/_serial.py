"""Host side of the serial measurement protocol (``docs/serial-protocol.md``) and the ``serial`` runner.

:class:`SerialClient` sends one request at a time and waits for the response with the same ``seq``; on a
timeout or a corrupt answer it resends the same request (same ``seq``: the firmware answers a repeated
``seq`` from its one-response cache without executing it twice), up to ``retries`` times. A corrupt answer is
resent at once: a frame whose CRC fails, or bytes that make no valid frame followed by ``gap_s`` of silence (a
dropped byte leaves an incomplete frame that never completes), so only an answer lost entirely waits for the
timeout; a resend is harmless, which is why the timeouts can be generous. A ``BOOT`` frame
(the board reset) raises :class:`BoardReset`; the runner's session then says hello again, reloads the
model and repeats the interrupted request, so a reset costs time, never a wrong or missing row.
"""

from __future__ import annotations

import os
import select
import struct
import termios
import time
import tty
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from atomnet.errors import InputError
from atomnet.measure._protocol import (
    ACK,
    BOOT,
    ERROR,
    HELLO_ACK,
    LOAD_BEGIN,
    LOAD_CHUNK,
    MAX_PAYLOAD,
    RESULT,
    RUN,
    SELECT,
    Frame,
    FrameReader,
    MsgType,
    Status,
    encode,
)
from atomnet.measure._runners import register_runner
from atomnet.measure._singleop import Variant
from atomnet.ops import Op


class ProtocolError(RuntimeError, InputError):
    """The board did not answer correctly within the retries (message says what was asked)."""


class DeviceError(RuntimeError, InputError):
    """The board answered with an error status."""

    def __init__(self, status: int, message: str = "") -> None:
        name = Status(status).name if status in Status._value2member_map_ else str(status)
        super().__init__(f"board error {name}" + (f": {message}" if message else ""))
        self.status = status


class BoardReset(RuntimeError):
    """The board sent BOOT: it reset and lost its loaded model."""

    def __init__(self, boot_id: int) -> None:
        super().__init__(f"board reset (boot id {boot_id:#010x})")
        self.boot_id = boot_id


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    proto_version: int
    max_payload: int
    boot_id: int
    clock_hz: int
    arena_capacity: int


_BAUD = {9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400, 57600: termios.B57600,
         115200: termios.B115200, 230400: termios.B230400}
for _b in (460800, 921600, 1000000, 2000000):
    if hasattr(termios, f"B{_b}"):
        _BAUD[_b] = getattr(termios, f"B{_b}")


def open_port(path: str, baud: int = 115200) -> int:
    """Open a serial device (or pty) raw, 8N1, at ``baud``; returns the file descriptor."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    if baud not in _BAUD:
        raise InputError(f"baud: {baud} unsupported here; one of {sorted(_BAUD)}")
    attr = termios.tcgetattr(fd)
    attr[4] = attr[5] = _BAUD[baud]
    termios.tcsetattr(fd, termios.TCSANOW, attr)
    return fd


class SerialClient:
    """Request/response over a file descriptor (a serial port or a pty master)."""

    def __init__(self, fd: int, *, timeout_s: float = 1.0, retries: int = 5, load_timeout_s: float = 5.0,
                 gap_s: float = 0.25) -> None:
        self.fd, self.timeout_s, self.retries = fd, timeout_s, retries
        self.load_timeout_s = load_timeout_s  # LOAD_END builds the interpreter and plans the arena
        self.gap_s = gap_s  # silence after damaged bytes that declares the answer broken (resend now)
        self.reader = FrameReader()
        self.seq = 0
        self.retried = 0
        self.resets = 0
        self.info: DeviceInfo | None = None

    def _send(self, f: Frame) -> None:
        data = encode(f)
        while data:
            n = os.write(self.fd, data)
            data = data[n:]

    def _match(self, frames: Iterator[Frame], seq: int) -> Frame | None:
        for fr in frames:
            if fr.type == MsgType.BOOT:
                (boot_id,) = BOOT.unpack_from(fr.payload)
                self.resets += 1
                raise BoardReset(boot_id)
            if fr.seq == seq:
                return fr
            # a late answer to an earlier (retried) request: ignore
        return None

    def _wait(self, seq: int, deadline: float) -> Frame | None:
        """The answer to ``seq``, or None to resend: at the deadline, at once after a frame with a bad CRC, or
        after ``gap_s`` of silence following bytes that made no valid frame."""
        rd = self.reader
        fr = self._match(rd.feed(b""), seq)  # frames still buffered (a BOOT ended the last read early)
        if fr is not None:
            return fr
        discarded, bad_crc = rd.discarded, rd.bad_crc
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            damaged = rd.discarded > discarded or rd.bad_crc > bad_crc or bool(rd.buf)
            r, _, _ = select.select([self.fd], [], [], min(left, self.gap_s) if damaged else left)
            if not r:
                if not damaged:
                    return None
                return self._match(rd.drain_stale(), seq)  # the line is quiet: what is buffered is all there is
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                return None
            fr = self._match(rd.feed(data), seq)
            if fr is not None:
                return fr
            if rd.bad_crc > bad_crc:
                return None  # a corrupt frame, most likely the answer: resend now

    def request(self, typ: MsgType, payload: bytes = b"", timeout_s: float | None = None) -> Frame:
        self.seq = (self.seq + 1) & 0xFFFF
        f = Frame(int(typ), self.seq, payload)
        for attempt in range(self.retries + 1):
            if attempt:
                self.retried += 1
            self._send(f)
            resp = self._wait(self.seq, time.monotonic() + (timeout_s or self.timeout_s))
            if resp is None:
                continue
            if resp.type == MsgType.ERROR:
                (st,) = ERROR.unpack_from(resp.payload)
                raise DeviceError(st, resp.payload[ERROR.size:].decode(errors="replace"))
            return resp
        raise ProtocolError(f"no valid answer to {typ.name} (seq {self.seq}) after {self.retries + 1} tries "
                            f"of {timeout_s or self.timeout_s:.2f} s; check the port, baud rate and firmware")

    # ---- messages ---------------------------------------------------------------------------
    def hello(self) -> DeviceInfo:
        r = self.request(MsgType.HELLO)
        ver, nlen, maxp, boot, clk, cap = HELLO_ACK.unpack_from(r.payload)
        name = r.payload[HELLO_ACK.size:HELLO_ACK.size + nlen].decode(errors="replace")
        self.info = DeviceInfo(name, ver, maxp, boot, clk, cap)
        if ver != 1:
            raise ProtocolError(f"board speaks protocol version {ver}; this atomnet speaks 1")
        return self.info

    def _ack(self, r: Frame) -> int:
        st, _, value = ACK.unpack_from(r.payload)
        if st != Status.OK:
            raise DeviceError(st)
        return int(value)

    def load(self, model: bytes) -> int:
        """Upload a ``.tflite``; returns the arena bytes the firmware allocated for it."""
        info = self.info or self.hello()
        self._ack(self.request(MsgType.LOAD_BEGIN, LOAD_BEGIN.pack(len(model), zlib.crc32(model) & 0xFFFFFFFF)))
        step = min(info.max_payload, MAX_PAYLOAD) - LOAD_CHUNK.size
        for off in range(0, len(model), step):
            self._ack(self.request(MsgType.LOAD_CHUNK, LOAD_CHUNK.pack(off) + model[off:off + step]))
        return self._ack(self.request(MsgType.LOAD_END, timeout_s=max(self.timeout_s, self.load_timeout_s)))

    def select(self, index: int) -> int:
        """Use op ``index`` of the firmware's preflashed table instead of uploading a model."""
        return self._ack(self.request(MsgType.SELECT, SELECT.pack(index)))

    def run(self, warmup: int, repeats: int, timeout_s: float | None = None) -> tuple[list[int], int, int]:
        """Run the loaded model: (cycles per repeat, arena bytes, flash bytes)."""
        r = self.request(MsgType.RUN, RUN.pack(warmup, repeats), timeout_s)
        st, n, arena, flash = RESULT.unpack_from(r.payload)
        if st != Status.OK:
            raise DeviceError(st)
        cycles = list(struct.unpack_from(f"<{n}I", r.payload, RESULT.size))
        return cycles, arena, flash


class _SerialSession:
    def __init__(self, runner: SerialRunner, model: bytes) -> None:
        self.r, self.model = runner, model
        self.sram_bytes: int | None = None
        self.flash_bytes: int | None = None
        self._reload()

    def _load(self) -> None:
        c = self.r.client
        c.hello()
        self.sram_bytes = c.load(self.model)

    def _call(self, warmup: int, repeats: int) -> list[int]:
        for _ in range(self.r.max_resets + 1):
            try:
                cycles, arena, flash = self.r.client.run(warmup, repeats, self.r.run_timeout_s)
                self.sram_bytes, self.flash_bytes = arena, flash
                return cycles
            except BoardReset:
                self._reload()
            except DeviceError as e:
                if e.status != Status.NO_MODEL:
                    raise
                self._reload()  # the board lost the model: a reset whose BOOT frame was lost on the line
        raise ProtocolError(f"the board reset more than {self.r.max_resets} times on one request")

    def _reload(self) -> None:
        for _ in range(self.r.max_resets + 1):
            try:
                self._load()
                return
            except BoardReset:
                continue
        raise ProtocolError("the board keeps resetting while the model is loaded")

    def warmup(self, n: int) -> None:
        if n > 0:
            self._call(n, 0)

    def repeat(self) -> float:
        (cycles,) = self._call(0, 1)
        info = self.r.client.info
        assert info is not None
        return cycles / info.clock_hz * 1e3

    def close(self) -> None:
        pass


class SerialRunner:
    """A board running the measurement firmware (``docs/serial-protocol.md``) on ``port``."""

    name = "serial"

    def __init__(self, port: str | None = None, baud: int = 115200, timeout_s: float = 1.0, retries: int = 5,
                 runtime: str = "tflm", runtime_version: str = "unknown", fd: int | None = None,
                 run_timeout_s: float = 10.0, load_timeout_s: float = 5.0, max_resets: int = 3,
                 gap_s: float = 0.25) -> None:
        if fd is None:
            if not port:
                raise InputError("runner serial: give the port (--port /dev/ttyACM0)")
            fd = open_port(port, baud)
        self.client = SerialClient(fd, timeout_s=timeout_s, retries=retries, load_timeout_s=load_timeout_s,
                                   gap_s=gap_s)
        self.runtime, self.runtime_version = runtime, runtime_version
        self.run_timeout_s, self.max_resets = run_timeout_s, max_resets
        info = self._hello()
        self.clock_mhz: float | None = info.clock_hz / 1e6

    def _hello(self) -> DeviceInfo:
        for _ in range(3):
            try:
                return self.client.hello()
            except BoardReset:
                continue
        raise ProtocolError("the board keeps resetting during HELLO")

    def open(self, model: bytes, op: Op | None = None, variant: Variant | None = None) -> _SerialSession:
        return _SerialSession(self, model)


def _factory(**kw: Any) -> SerialRunner:
    return SerialRunner(**kw)


register_runner("serial")(_factory)
