#!/usr/bin/env python3
"""Independent RecordIO reader/writer (struct only) used by recordio_test as a format oracle.

Follows the MXNet / insightface format description, not l2face's code:
  record  = uint32 magic 0xced7230a, uint32 lrecord = (cflag << 29) | length, payload, zero
            padding to 4 bytes; a payload holding the magic at a 4-aligned position is split
            there into parts with cflag 1 (first), 2 (middle), 3 (last), the magic dropped.
  payload = IRHeader struct '<IfQQ' (flag, label, id, id2), then `flag` float32 labels, then data.
  .idx    = "key\\toffset" lines.

  recordio_oracle.py read REC      -> JSON {"records": [{key, flag, label, labels, id, id2, data}]}
                                      (data as hex, records in key order)
  recordio_oracle.py write DIR     -> writes DIR/train.rec, train.idx, property (insightface
                                      layout, one payload forced to split) and prints the JSON of
                                      what it wrote, in the same shape as `read`.
"""
import json
import os
import struct
import sys

MAGIC = 0xCED7230A
HEADER = "<IfQQ"
HEADER_SIZE = struct.calcsize(HEADER)  # 24


def read_record(f, offset):
    f.seek(offset)
    out = b""
    first = True
    while True:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError("truncated header at %d" % offset)
        magic, lrec = struct.unpack("<II", head)
        if magic != MAGIC:
            raise ValueError("bad magic at %d" % offset)
        cflag, length = lrec >> 29, lrec & ((1 << 29) - 1)
        if first and cflag not in (0, 1) or not first and cflag not in (2, 3):
            raise ValueError("bad cflag %d at %d" % (cflag, offset))
        data = f.read((length + 3) // 4 * 4)
        if len(data) < length:
            raise ValueError("truncated record at %d" % offset)
        out += data[:length]
        if cflag in (0, 3):
            return out
        out += struct.pack("<I", MAGIC)
        first = False


def unpack(payload):
    flag, label, id_, id2 = struct.unpack(HEADER, payload[:HEADER_SIZE])
    labels = list(struct.unpack("<%df" % flag, payload[HEADER_SIZE:HEADER_SIZE + 4 * flag]))
    return {"flag": flag, "label": label, "labels": labels, "id": id_, "id2": id2,
            "data": payload[HEADER_SIZE + 4 * flag:].hex()}


def read(rec_path):
    idx_path = os.path.splitext(rec_path)[0] + ".idx"
    entries = []
    with open(idx_path) as idx:
        for line in idx:
            if line.strip():
                key, off = line.strip().split("\t")
                entries.append((int(key), int(off)))
    entries.sort()
    records = []
    with open(rec_path, "rb") as f:
        for key, off in entries:
            r = unpack(read_record(f, off))
            r["key"] = key
            records.append(r)
    return {"records": records}


def frame(payload):
    """dmlc-core WriteRecord: split at aligned occurrences of the magic."""
    magic = struct.pack("<I", MAGIC)
    parts, start = [], 0
    for i in range(0, len(payload) - len(payload) % 4, 4):
        if payload[i:i + 4] == magic:
            parts.append(payload[start:i])
            start = i + 4
    parts.append(payload[start:])
    out = b""
    for n, part in enumerate(parts):
        if len(parts) == 1:
            cflag = 0
        else:
            cflag = 1 if n == 0 else (3 if n == len(parts) - 1 else 2)
        out += struct.pack("<II", MAGIC, (cflag << 29) | len(part)) + part
    return out + b"\0" * (-len(out) % 4)


def pack(flag_labels, label, id_, data):
    if flag_labels:
        return struct.pack(HEADER, len(flag_labels), 0.0, id_, 0) + \
            struct.pack("<%df" % len(flag_labels), *flag_labels) + data
    return struct.pack(HEADER, 0, float(label), id_, 0) + data


def write(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    magic = struct.pack("<I", MAGIC)
    # Identity 0: two images, identity 1: one image whose bytes hold the magic at an aligned
    # position of the payload (24-byte header + 8 bytes), forcing a split record.
    images = [(0, b"\xff\xd8first image\xff\xd9"), (0, b"second"),
              (1, b"abcdefgh" + magic + b"tail" + magic)]
    num_classes = 2
    n = len(images)
    records = {}
    records[0] = pack([n + 1.0, n + 1.0 + num_classes], 0, 0, b"")
    for k, (label, data) in enumerate(images, start=1):
        records[k] = pack([], label, k, data)
    starts = [1, 3]
    for c in range(num_classes):
        end = starts[c + 1] if c + 1 < num_classes else n + 1
        records[n + 1 + c] = pack([float(starts[c]), float(end)], 0, 0, b"")
    order = list(range(1, n + 1 + num_classes)) + [0]  # insightface writes record 0 last
    with open(os.path.join(out_dir, "train.rec"), "wb") as rec, \
            open(os.path.join(out_dir, "train.idx"), "w") as idx:
        for key in order:
            idx.write("%d\t%d\n" % (key, rec.tell()))
            rec.write(frame(records[key]))
    with open(os.path.join(out_dir, "property"), "w") as prop:
        prop.write("%d,112,112\n" % num_classes)
    result = []
    for key in sorted(records):
        r = unpack(records[key])
        r["key"] = key
        result.append(r)
    return {"records": result}


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("read", "write"):
        sys.exit(__doc__)
    print(json.dumps(read(sys.argv[2]) if sys.argv[1] == "read" else write(sys.argv[2])))
