# The one writer of the test fixtures' header: b"D3DF", then version, dtype, ndim and the shape as uint32 little-endian, then the array (C order); tests/fixture.h reads it.
import numpy as np

MAGIC = b"D3DF"
VERSION = 1
DTYPES = {"float32": 1, "uint8": 2}


def write(path, a, dtype="float32"):
    """Writes array a (converted to dtype, C order, little-endian) with its shape in the header."""
    a = np.ascontiguousarray(np.asarray(a, dtype=np.dtype(dtype).newbyteorder("<")))
    head = np.array([VERSION, DTYPES[dtype], a.ndim] + list(a.shape), dtype="<u4")
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(head.tobytes())
        f.write(a.tobytes())


def write_concat(path, arrays, dtype="float32"):
    """Several arrays one after the other, flattened: a 1-D fixture of their total length."""
    write(path, np.concatenate([np.asarray(x, dtype=dtype).ravel() for x in arrays]), dtype)
