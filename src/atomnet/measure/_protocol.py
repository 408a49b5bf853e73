"""The AtomNet measurement wire protocol, version 1 (specification: ``docs/serial-protocol.md``).

Frames (all integers little-endian)::

    offset  size  field
    0       2     magic   0xA5 0x5A
    2       1     version 1
    3       1     type    (MsgType)
    4       2     seq     request number chosen by the host; a response echoes it
    6       2     length  payload bytes, 0..MAX_PAYLOAD
    8       n     payload
    8+n     4     crc32   IEEE CRC-32 (zlib) of bytes 2..8+n (version … payload)

:class:`FrameReader` resynchronizes after garbage, dropped bytes or a bad CRC by discarding one byte and
searching for the next magic, so one corrupt frame costs one retry and never desynchronizes the stream;
:meth:`FrameReader.drain_stale` gives up on an incomplete frame once the line has gone quiet (a dropped byte, or a
false header in line noise whose length would swallow the real frame behind it).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

MAGIC = b"\xa5\x5a"
VERSION = 1
HEADER = struct.Struct("<2sBBHH")  # magic, version, type, seq, length
MAX_PAYLOAD = 1024
OVERHEAD = HEADER.size + 4


class MsgType(IntEnum):
    HELLO = 0x01
    LOAD_BEGIN = 0x02
    LOAD_CHUNK = 0x03
    LOAD_END = 0x04
    SELECT = 0x05
    RUN = 0x06
    BOOT = 0x80  # device → host, unsolicited, after every reset
    HELLO_ACK = 0x81
    ACK = 0x82
    RESULT = 0x86
    ERROR = 0xFF


class Status(IntEnum):
    OK = 0
    NO_MODEL = 1
    BAD_MODEL_CRC = 2
    TOO_LARGE = 3
    UNSUPPORTED = 4
    BAD_REQUEST = 5
    BAD_OFFSET = 6
    INTERNAL = 7


# payload layouts (struct formats, little-endian); the C structs in docs/serial-protocol.md match
HELLO_ACK = struct.Struct("<BBHIII")  # proto_version, name_len, max_payload, boot_id, clock_hz, arena_capacity
LOAD_BEGIN = struct.Struct("<II")  # model_size, model_crc32
LOAD_CHUNK = struct.Struct("<I")  # offset (data follows)
SELECT = struct.Struct("<I")  # preflashed op index
RUN = struct.Struct("<HH")  # warmup, repeats
ACK = struct.Struct("<HHI")  # status, reserved, value (bytes received / arena bytes)
RESULT = struct.Struct("<HHII")  # status, n, arena_bytes, flash_bytes (then n × u32 cycles)
BOOT = struct.Struct("<I")  # boot_id
ERROR = struct.Struct("<H")  # status (then a UTF-8 message)


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes = b""


def encode(frame: Frame) -> bytes:
    if len(frame.payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(frame.payload)} bytes exceeds MAX_PAYLOAD={MAX_PAYLOAD}")
    head = HEADER.pack(MAGIC, VERSION, frame.type, frame.seq & 0xFFFF, len(frame.payload))
    crc = zlib.crc32(head[2:] + frame.payload) & 0xFFFFFFFF
    return head + frame.payload + struct.pack("<I", crc)


class FrameReader:
    """Incremental decoder: ``feed(bytes)`` yields every complete valid frame; counts what it discarded."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.discarded = 0
        self.bad_crc = 0

    def feed(self, data: bytes) -> Iterator[Frame]:
        self.buf += data
        while True:
            i = self.buf.find(MAGIC)
            if i < 0:
                keep = 1 if self.buf.endswith(MAGIC[:1]) else 0
                self.discarded += len(self.buf) - keep
                del self.buf[:len(self.buf) - keep]
                return
            if i:
                self.discarded += i
                del self.buf[:i]
            if len(self.buf) < HEADER.size:
                return
            _, ver, typ, seq, n = HEADER.unpack_from(self.buf)
            if ver != VERSION or n > MAX_PAYLOAD:
                self._skip()
                continue
            if len(self.buf) < HEADER.size + n + 4:
                return
            body = bytes(self.buf[2:HEADER.size + n])
            (crc,) = struct.unpack_from("<I", self.buf, HEADER.size + n)
            if zlib.crc32(body) & 0xFFFFFFFF != crc:
                self.bad_crc += 1
                self._skip()
                continue
            del self.buf[:HEADER.size + n + 4]
            yield Frame(typ, seq, body[HEADER.size - 2:])

    def drain_stale(self) -> Iterator[Frame]:
        """The line went quiet with bytes still buffered: an incomplete frame at the head will not complete (a
        byte of it was lost, or it was a false header in noise). Discard one byte at a time and resynchronize,
        yielding every complete valid frame found behind it, until the buffer is empty."""
        while self.buf:
            self._skip()
            yield from self.feed(b"")

    def _skip(self) -> None:
        del self.buf[:1]
        self.discarded += 1
