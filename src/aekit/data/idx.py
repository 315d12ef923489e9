"""Read and write IDX files, the format of MNIST, Fashion-MNIST and KMNIST.

An IDX file is a big-endian header (two zero bytes, a type code, the number of dimensions, then
one ``uint32`` per dimension) followed by the raw array. The format is described on the MNIST page
(LeCun, Cortes and Burges, http://yann.lecun.com/exdb/mnist/). The files are usually gzipped.

Reading is one ``gzip.decompress`` plus one ``np.frombuffer``: no per-image Python, so the 60,000
MNIST training images load in a fraction of a second.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from aekit.errors import AekitError

# IDX type code -> big-endian numpy dtype.
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in _DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike, *, expect_ndim: int | None = None) -> np.ndarray:
    """Read a (possibly gzipped) IDX file into a native-endian, writable array.

    Args:
        path: The ``.gz`` or raw IDX file. Gzip is detected from the content, not the name.
        expect_ndim: Required number of dimensions (3 for images, 1 for labels), or ``None``.

    Raises:
        AekitError: The file is missing, not valid gzip, or not a valid IDX file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise AekitError(f"expected a readable IDX file at {path}, got {e}") from e
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise AekitError(
                f"expected a valid gzip file at {path}, got a corrupt or truncated one ({e}); "
                "delete it so it is downloaded again, or replace it with the official file"
            ) from e
    return parse_idx(data, source=str(path), expect_ndim=expect_ndim)


def parse_idx(
    data: bytes, *, source: str = "<bytes>", expect_ndim: int | None = None
) -> np.ndarray:
    """Parse the bytes of an uncompressed IDX file.

    Args:
        data: The whole file content.
        source: Where the bytes came from, for error messages.
        expect_ndim: Required number of dimensions, or ``None`` for any.

    Raises:
        AekitError: Bad magic number, unknown type code, wrong ndim, or a truncated payload.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES or data[3] == 0:
        got = data[:4].hex() if data else "an empty file"
        raise AekitError(
            f"expected an IDX file (magic 0x0000TTNN, type TT in 08..0e), got {got} in {source}; "
            "the file is not IDX or is corrupt: replace it with the official file"
        )
    dtype, ndim = _DTYPES[data[2]], data[3]
    magic = int.from_bytes(data[:4], "big")
    if expect_ndim is not None and ndim != expect_ndim:
        raise AekitError(
            f"expected a {expect_ndim}-D IDX file (magic {0x800 + expect_ndim}), got a {ndim}-D "
            f"one (magic {magic}) in {source}; are the images and labels files swapped?"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise AekitError(f"expected a {header}-byte IDX header, got {len(data)} bytes in {source}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    count = int(np.prod(dims, dtype=np.int64))
    need, have = count * dtype.itemsize, len(data) - header
    if have != need:
        what = "truncated" if have < need else "has trailing bytes"
        raise AekitError(
            f"expected {need} bytes of data for shape {tuple(dims)} in {source}, got {have} "
            f"(the file {what}); delete it so it is downloaded again"
        )
    # astype copies into a native-endian array that owns its memory (frombuffer alone would be
    # a read-only view of `data`, which torch.from_numpy warns about).
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header)
    return array.astype(dtype.newbyteorder("=")).reshape(dims)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzipped when ``path`` ends in ``.gz``.

    Args:
        path: Destination file.
        array: A 1-D or higher array of ``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or
            ``float64``.
    """
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None or array.ndim == 0:
        raise AekitError(
            f"expected a non-scalar array of uint8/int8/int16/int32/float32/float64, got "
            f"{array.dtype} with shape {array.shape}"
        )
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(_DTYPES[code]).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)
