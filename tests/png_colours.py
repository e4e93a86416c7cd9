#!/usr/bin/env python3
"""Test helper: prints a PNG's size and how many pixels have each given colour exactly (8-bit RGB/RGBA, not interlaced).
usage: png_colours.py file.png [-from_row N] R,G,B [R,G,B ...]   ->   "<width> <height> <count> [<count> ...]" """
import struct
import sys
import zlib

import numpy as np


def read_png(path):
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise SystemExit('%s: not a PNG' % path)
    pos, idat, hdr = 8, b'', None
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            hdr = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise SystemExit('%s: only 8-bit RGB/RGBA, not interlaced (depth %d, colour type %d)' % (path, depth, ctype))
    bpp = 3 if ctype == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * bpp)
    out = np.zeros((h, w * bpp), np.int32)
    prev = np.zeros(w * bpp, np.int32)
    for y in range(h):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if f == 0:
            cur = line
        elif f == 1:   # Sub: a running sum of each channel along the row
            cur = np.cumsum(line.reshape(w, bpp), axis=0).reshape(-1) & 255
        elif f == 2:   # Up
            cur = (line + prev) & 255
        else:          # Average, Paeth: each byte needs the one decoded before it, on plain ints
            cur, up = [0] * bpp + line.tolist(), [0] * bpp + prev.tolist()   # bpp zeros: the bytes left of the row
            if f == 3:
                for x in range(bpp, bpp + w * bpp):
                    cur[x] = (cur[x] + ((cur[x - bpp] + up[x]) >> 1)) & 255
            else:
                for x in range(bpp, bpp + w * bpp):
                    a, b, c = cur[x - bpp], up[x], up[x - bpp]
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    cur[x] = (cur[x] + (a if pa <= pb and pa <= pc else (b if pb <= pc else c))) & 255
            cur = np.array(cur[bpp:], np.int32)
        out[y] = cur
        prev = cur
    return out.reshape(h, w, bpp)[:, :, :3]


def main(argv):
    path, first, cols = argv[1], 0, []
    i = 2
    while i < len(argv):
        if argv[i] == '-from_row':
            first = int(argv[i + 1]); i += 2
        else:
            cols.append([int(v) for v in argv[i].split(',')]); i += 1
    img = read_png(path)
    counts = [int(np.all(img[first:] == np.array(c), axis=2).sum()) for c in cols]
    print(img.shape[1], img.shape[0], *counts)


if __name__ == '__main__':
    main(sys.argv)
