"""Writes .bin verification sets with Python's own pickle, the fixtures of bin_set_test.cpp.

Usage: bin_fixture.py OUT PROTOCOL KIND PAIRS
KIND: bytes      images are bytes, flags a list of bools (insightface's lfw2pack layout)
      bytearray  images are bytearrays
      numpy      images are numpy uint8 arrays (cv2.imencode's shape (n, 1) for even indices,
                 1-D for odd ones), flags one numpy bool array
      npbool     images are bytes, flags a list of numpy bool scalars
      triple     (images, yaw list, flags): not a verification .bin
Image i has 1 + (37 i mod 300) bytes, byte k = (7 i + 13 k) mod 256; the last image is the same
object as image 0 (so the pickle refers back to it); pair p is "same" iff p mod 3 == 0.
"""
import pickle
import sys


def image(i):
    return bytes((7 * i + 13 * k) % 256 for k in range(1 + (37 * i) % 300))


def main():
    out, protocol, kind, pairs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    bins = [image(i) for i in range(2 * pairs)]
    flags = [p % 3 == 0 for p in range(pairs)]
    if kind == "bytearray":
        bins = [bytearray(b) for b in bins]
    elif kind in ("numpy", "npbool"):
        import numpy as np
        if kind == "numpy":
            bins = [np.frombuffer(b, dtype=np.uint8).reshape((-1, 1) if i % 2 == 0 else (-1,))
                    for i, b in enumerate(bins)]
            flags = np.array(flags)
        else:
            flags = [np.bool_(f) for f in flags]
    bins[-1] = bins[0]
    payload = (bins, [0] * len(bins), flags) if kind == "triple" else (bins, flags)
    with open(out, "wb") as f:
        pickle.dump(payload, f, protocol=protocol)


if __name__ == "__main__":
    main()
