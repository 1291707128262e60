"""Checks `l2face export --format onnx` files against `l2face embed` (tests/e2e/export_onnx.sh).

Usage: check_onnx_export.py WORK NAME...: WORK/NAME.onnx, WORK/NAME.npy (embed's features) and
WORK/pixels.npy (the decoded uint8 N x S x S x 3 RGB pixels embed used). For each model: ONNX's
checker (full check) passes; the graph has input "input" [N, 3, S, S] and output [N, d] with a
dynamic batch; insightface model_zoo's rule (a node named Sub* and one named Mul* among the first
8) finds the normalisation baked in, so raw pixels are fed; onnxruntime on batches of 2, 3 and all
images gives the embed features within 1e-4 of their scale. Prints the measured gap per model.
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort

REL_TOLERANCE = 1e-4


def insightface_input_norm(model):
    """(input_mean, input_std) as insightface's ArcFaceONNX picks them from the node names."""
    names = [n.name for n in model.graph.node[:8]]
    has_sub = any(n.startswith("Sub") or n.startswith("_minus") for n in names)
    has_mul = any(n.startswith("Mul") or n.startswith("_mul") for n in names)
    return (0.0, 1.0) if has_sub and has_mul else (127.5, 127.5)


def dims(value):
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def check_graph(name, model, side, dim):
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["input"], model.graph.input
    assert dims(model.graph.input[0]) == ["N", 3, side, side], dims(model.graph.input[0])
    assert dims(model.graph.output[0]) == ["N", dim], dims(model.graph.output[0])
    first = [(n.name, n.op_type) for n in model.graph.node[:2]]
    assert first == [("Sub_0", "Sub"), ("Mul_1", "Mul")], first
    assert insightface_input_norm(model) == (0.0, 1.0), name
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["image_size"] == str(side) and meta["embedding_dim"] == str(dim), meta


def gap(name, path, pixels, ref):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    # insightface feeds blobFromImages(img, 1/std, mean): with (0, 1) the raw RGB pixels, NCHW.
    mean, std = insightface_input_norm(onnx.load(path, load_external_data=False))
    x = ((pixels.astype(np.float32) - mean) / std).transpose(0, 3, 1, 2).copy()
    batches = [(0, 2), (2, 5), (0, len(x))]  # 2 and 3 prove the dynamic batch
    scale = float(np.abs(ref).max())
    worst = 0.0
    for lo, hi in batches:
        (out,) = session.run(None, {"input": x[lo:hi]})
        assert out.shape == (hi - lo, ref.shape[1]) and out.dtype == np.float32, out.shape
        worst = max(worst, float(np.abs(out - ref[lo:hi]).max()) / scale)
    return worst, scale


def main(work, names):
    pixels = np.load(f"{work}/pixels.npy")
    side = pixels.shape[1]
    assert pixels.dtype == np.uint8 and pixels.shape[1:] == (side, side, 3), pixels.shape
    assert len(pixels) >= 5, len(pixels)
    failed = []
    for name in names:
        ref = np.load(f"{work}/{name}.npy")
        model = onnx.load(f"{work}/{name}.onnx")
        check_graph(name, model, side, ref.shape[1])
        rel, scale = gap(name, f"{work}/{name}.onnx", pixels, ref)
        print(f"{name}: {len(model.graph.node)} nodes; max |onnxruntime - l2face embed| / "
              f"max |l2face embed| = {rel:.3g} (scale {scale:.3g})")
        if not rel <= REL_TOLERANCE:
            failed.append(name)
    if failed:
        sys.exit(f"FAIL: onnxruntime differs from l2face embed by more than {REL_TOLERANCE}: {failed}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
