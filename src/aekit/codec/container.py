"""The ``.aek`` file: a small header and a range-coded payload.

Layout, format version 1 (all multi-byte numbers little-endian unless said otherwise)::

    offset  size  field
    0       3     magic  b"AEK"
    3       1     format version (1)
    4       6     model id: the first 6 bytes of SHA-256(model identity || codec table digest)
    10      1-3   C, H, W of one image, each an unsigned LEB128 varint
    ..      2     quantisation step Δ, IEEE float16
    ..      1+    number of images N (varint); 1 for a single image, more for an archive
    ..      ...   payload: the range coder's 32-bit words, big-endian, trailing zero bytes dropped
    end-4   4     CRC-32 of every byte before it

The payload holds N*k symbols (k = code size) coded in image order with the per-dimension tables
of :class:`~aekit.codetables.CodePrior`, through ``constriction``'s range coder. Dropping
trailing zero bytes is lossless: the reader pads the last word with zeros again, and the coder
reads missing words as zeros (checked at write time; the untrimmed words are kept otherwise).
The CRC catches truncation and corruption before anything is decoded.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np

from ..errors import AekitError

MAGIC = b"AEK"
FORMAT_VERSION = 1
ID_BYTES = 6
SUFFIX = ".aek"


@dataclass(frozen=True)
class Header:
    model_id: bytes
    shape: tuple[int, int, int]  # (C, H, W)
    step: float
    count: int


def _varint(n: int) -> bytes:
    if n < 0:
        raise ValueError("varints are unsigned")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data: bytes, pos: int, end: int, where: str) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= end:
            raise AekitError(f"{where} is truncated (the header ends early); expected a complete .aek file")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos
        if shift > 63:
            raise AekitError(f"{where} is corrupt (a header number does not end)")


def _coder():
    try:
        import constriction
    except ImportError:
        raise AekitError("compression needs the constriction range coder: pip install 'aekit[codec]' "
                         "(or pip install constriction)") from None
    return constriction


def range_encode(symbols: np.ndarray, pmf: np.ndarray) -> np.ndarray:
    """(N, k) int32 symbols with per-dimension tables (k, L) -> uint32 words."""
    constriction = _coder()
    n, k = symbols.shape
    encoder = constriction.stream.queue.RangeEncoder()
    if n:
        family = constriction.stream.model.Categorical(perfect=False)
        encoder.encode(symbols.reshape(-1).astype(np.int32), family, np.tile(pmf, (n, 1)))
    return encoder.get_compressed()


def range_decode(words: np.ndarray, pmf: np.ndarray, n: int) -> np.ndarray:
    constriction = _coder()
    k = pmf.shape[0]
    if n == 0:
        return np.zeros((0, k), dtype=np.int32)
    decoder = constriction.stream.queue.RangeDecoder(words.astype(np.uint32))
    family = constriction.stream.model.Categorical(perfect=False)
    return np.asarray(decoder.decode(family, np.tile(pmf, (n, 1))), dtype=np.int32).reshape(n, k)


def _words_from(payload: bytes) -> np.ndarray:
    padded = payload + b"\x00" * (-len(payload) % 4)
    return np.frombuffer(padded, dtype=">u4").astype(np.uint32)


def pack(header: Header, symbols: np.ndarray, pmf: np.ndarray) -> bytes:
    """Header + range-coded ``symbols`` + CRC: the bytes of one ``.aek`` file."""
    c, h, w = header.shape
    head = (MAGIC + bytes([FORMAT_VERSION]) + header.model_id[:ID_BYTES] + _varint(c) + _varint(h) + _varint(w)
            + np.float16(header.step).astype("<f2").tobytes() + _varint(header.count))
    words = range_encode(symbols, pmf)
    full = words.astype(">u4").tobytes()
    payload = full.rstrip(b"\x00")
    if len(payload) != len(full) and not np.array_equal(range_decode(_words_from(payload), pmf, len(symbols)),
                                                        symbols):
        payload = full  # never happened in testing; kept as a guarantee
    body = head + payload
    return body + struct.pack("<I", zlib.crc32(body))


def read_header(data: bytes, where: str = "the file") -> tuple[Header, bytes]:
    """Check magic, version and CRC; return the header and the payload bytes."""
    if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
        got = data[:len(MAGIC)]
        raise AekitError(f"{where} is not an aekit compressed file: expected it to start with {MAGIC!r}, got "
                         f"{got!r}; compress images with aekit compress")
    if len(data) < len(MAGIC) + 1 + ID_BYTES + 3 + 2 + 1 + 4:
        raise AekitError(f"{where} is truncated ({len(data)} bytes, shorter than any .aek header)")
    version = data[len(MAGIC)]
    if version != FORMAT_VERSION:
        newer = "; upgrade aekit to read it" if version > FORMAT_VERSION else ""
        raise AekitError(f"{where} is .aek format version {version}; this aekit reads version {FORMAT_VERSION}{newer}")
    body, crc = data[:-4], struct.unpack("<I", data[-4:])[0]
    if zlib.crc32(body) != crc:
        raise AekitError(f"{where} is truncated or corrupt (checksum mismatch); expected a complete .aek file")
    pos = len(MAGIC) + 1
    model_id = body[pos:pos + ID_BYTES]
    pos += ID_BYTES
    end = len(body)
    c, pos = _read_varint(body, pos, end, where)
    h, pos = _read_varint(body, pos, end, where)
    w, pos = _read_varint(body, pos, end, where)
    if pos + 2 > end:
        raise AekitError(f"{where} is truncated (the header ends early)")
    step = float(np.frombuffer(body[pos:pos + 2], dtype="<f2")[0])
    pos += 2
    count, pos = _read_varint(body, pos, end, where)
    return Header(model_id, (c, h, w), step, count), body[pos:]


def unpack(data: bytes, pmf: np.ndarray, header: Header, payload: bytes) -> np.ndarray:
    """The (N, k) symbols of a file whose header was read and checked."""
    return range_decode(_words_from(payload), pmf, header.count)
