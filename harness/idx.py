"""Reading and writing the IDX format that MNIST and EMNIST ship in.

Header: two zero bytes, a dtype code (0x08 = uint8), the number of dimensions, then one
big-endian uint32 per dimension. ``read_idx`` checks all of it so a truncated download or a
wrong file fails with a message naming the file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from harness.errors import DataError

UINT8 = 0x08


def encode_idx(array: np.ndarray) -> bytes:
    if array.dtype != np.uint8:
        raise ValueError(f"IDX writer supports uint8 only, got {array.dtype}")
    header = struct.pack(">BBBB", 0, 0, UINT8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def read_idx(path: Path, *, ndim: int, fix: str) -> np.ndarray:
    """Parse a uint8 IDX file of ``ndim`` dimensions; ``fix`` is told to the user on failure."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}; {fix}") from None
    if len(raw) >= 4:
        magic, expected = struct.unpack(">I", raw[:4])[0], (UINT8 << 8) | ndim
        if magic != expected:
            raise DataError(
                f"{path} has magic number {magic} (expected {expected}); not an IDX file of this kind; {fix}"
            )
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path} is truncated ({len(raw)} bytes, no complete header); {fix}")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    body = raw[4 + 4 * ndim :]
    expected_bytes = int(np.prod(shape))
    if len(body) != expected_bytes:
        raise DataError(f"{path} is truncated or padded ({len(body)} data bytes, header says {expected_bytes}); {fix}")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)
