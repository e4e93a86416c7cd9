#!/usr/bin/env python3
"""Prints, for each NIfTI-1 file given (.nii or .nii.gz), its number of nonzero voxels and their volume in mL (pixdim 1-3 in mm): the reference the tests compare seg3d's volume columns with, read without our C code."""
import gzip
import struct
import sys

# NIfTI-1 datatype codes -> struct format letters
TYPES = {2: 'B', 4: 'h', 8: 'i', 16: 'f', 64: 'd', 256: 'b', 512: 'H', 768: 'I'}


def nonzero_ml(path):
    raw = (gzip.open if path.endswith('.gz') else open)(path, 'rb').read()
    end = '<' if struct.unpack('<i', raw[:4])[0] == 348 else '>'
    dim = struct.unpack(end + '8h', raw[40:56])
    dtype = struct.unpack(end + 'h', raw[70:72])[0]
    pixdim = struct.unpack(end + '8f', raw[76:108])
    offset = int(struct.unpack(end + 'f', raw[108:112])[0])
    n = 1
    for k in range(1, dim[0] + 1):
        n *= dim[k]
    fmt = TYPES[dtype]
    values = struct.unpack(end + str(n) + fmt, raw[offset:offset + n * struct.calcsize(fmt)])
    count = sum(1 for v in values if v != 0)
    return count, count * pixdim[1] * pixdim[2] * pixdim[3] / 1000.0


def main(argv):
    for path in argv[1:]:
        count, ml = nonzero_ml(path)
        print('%s %d %.6f' % (path, count, ml))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
