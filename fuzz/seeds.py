"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/seed-*) from real files: the bundled
MNIST digits and a training run's checkpoints and state. Standard library only.

    python3 fuzz/seeds.py logs/   # a run folder holding G_001/D_001.safetensors and state.safetensors

Real checkpoints (26 MB) and states (158 MB) are far too large to commit or to mutate, so their seeds
keep the real header (names, shapes, the run's metadata) cut short, and a small valid file with the
real names (the targets also parse against small shapes, see fuzz/src/lib.rs) stands for the rest.
"""

import gzip
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)] in the file's order."""
    header, offset = {}, 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(t[3] for t in tensors)


def floats(*values):
    return struct.pack("<%df" % len(values), *values)


def header_of(path, keep=256):
    """A real safetensors file's header and the first `keep` bytes of its data."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(0)
        return f.read(8 + n + keep)


def idx_seeds():
    images = gzip.decompress(open(os.path.join(ROOT, "data/mnist-10k/train-images-idx3-ubyte.gz"), "rb").read())
    labels = gzip.decompress(open(os.path.join(ROOT, "data/mnist-10k/train-labels-idx1-ubyte.gz"), "rb").read())
    count = 3
    image_file = struct.pack(">4I", 0x803, count, 28, 28) + images[16 : 16 + count * 784]
    label_file = struct.pack(">2I", 0x801, count) + labels[8 : 8 + count]
    join = lambda a, b: struct.pack("<I", len(a)) + a + b
    write("idx", "raw", join(image_file, label_file))
    write("idx", "gzip", join(gzip.compress(image_file, mtime=0), gzip.compress(label_file, mtime=0)))
    write("idx", "gzip-images-raw-labels", join(gzip.compress(image_file, mtime=0), label_file))


def checkpoint_seeds(run):
    for net in ("G", "D"):
        write("checkpoint", net + "-real-header", header_of(os.path.join(run, net + "_001.safetensors")))
    tracked = lambda layer: (layer + ".num_batches_tracked", "I64", [], struct.pack("<q", 78))
    small_g = [
        ("fc.0.weight", "F32", [2, 3], floats(0.1, -0.2, 0.3, 0.0, 1.5, -1.0)),
        ("fc.0.bias", "F32", [2], floats(0.0, 0.5)),
        ("fc.1.weight", "F32", [2], floats(1.0, 1.0)),
        ("fc.1.bias", "F32", [2], floats(0.0, 0.0)),
        ("deconv.0.weight", "F32", [1, 1, 2, 2], floats(0.01, 0.02, -0.03, 0.04)),
        ("fc.1.running_mean", "F32", [2], floats(0.2, 0.1)),
        ("fc.1.running_var", "F32", [2], floats(0.9, 1.1)),
        tracked("fc.1"),
    ]
    write("checkpoint", "G-small", safetensors(small_g))
    small_d = [
        ("conv.0.weight", "F32", [1, 1, 2, 2], floats(0.5, -0.5, 0.25, 0.0)),
        ("conv.0.bias", "F32", [1], floats(0.0)),
        ("conv.3.running_mean", "F32", [1], floats(0.0)),
        ("conv.3.running_var", "F32", [1], floats(1.0)),
        tracked("conv.3"),
    ]
    write("checkpoint", "D-small", safetensors(small_d))


def state_seeds(run):
    path = os.path.join(run, "state.safetensors")
    write("state", "real-header", header_of(path))
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        metadata = json.loads(f.read(n))["__metadata__"]
    tensors = []
    for store in ("D.params", "D.stats", "G.params", "G.stats"):
        roles = ["exp_avg", "exp_avg_sq", "values"] if store.endswith("params") else ["values"]
        for role in roles:
            tensors.append((store + "." + role, "F32", [3], floats(0.25, -1.0, 2.0)))
    write("state", "small-tensors", safetensors(sorted(tensors), metadata))


def noise_seeds():
    row = [i / 62 for i in range(62)]
    write("noise", "two-rows", safetensors([("z", "F32", [2, 62], floats(*row, *row[::-1]))]))
    write("noise", "one-row", safetensors([("noise", "F32", [1, 62], floats(*row))]))


def flag_seeds():
    for i, text in enumerate(["500", "90s", "10m", "1.5h", "0.000000001s", "1,10,25", "25,1,1", "7,8", " 3 , 4 "]):
        write("flags", str(i), text.encode())


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    idx_seeds()
    checkpoint_seeds(sys.argv[1])
    state_seeds(sys.argv[1])
    noise_seeds()
    flag_seeds()
