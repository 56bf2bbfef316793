#!/usr/bin/python3
"""Writes the small ONNX models the serve tests use, with reference outputs.

    make_models.py OUTDIR

For each model NAME it writes OUTDIR/NAME.onnx and OUTDIR/NAME.json, the JSON
holding one input batch and the outputs numpy computes for it. Needs Debian's
python3-onnx and python3-numpy (under /usr/bin/python3).
"""
import json
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

rng = np.random.default_rng(7)


def tensor(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def const(name, array):
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def write(out, name, nodes, inputs, outputs, initializers, feed, expected, opsets=None):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    opsets = [helper.make_opsetid("", 13)] + [helper.make_opsetid(d, v) for d, v in (opsets or {}).items()]
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    save(model, os.path.join(out, name + ".onnx"))
    as_json = lambda arrays: {k: {"shape": list(v.shape), "data": v.ravel().tolist()} for k, v in arrays.items()}
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump({"inputs": as_json(feed), "outputs": as_json(expected)}, f)


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main(out):
    os.makedirs(out, exist_ok=True)
    # add_vK: y = x + K * [1, 2, 3]; versions differ in their outputs.
    x = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)
    for k in (1, 2, 3):
        bias = np.float32(k) * np.array([1, 2, 3], dtype=np.float32)
        write(out, f"add_v{k}", [helper.make_node("Add", ["x", "bias"], ["y"])],
              [tensor("x", ["N", 3])], [tensor("y", ["N", 3])], [const("bias", bias)],
              {"x": x}, {"y": x + bias})
    # pair: two inputs, two outputs (sum and difference).
    a = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.float32)
    b = np.array([[0.5, 0.25], [1, 1], [-1, 2]], dtype=np.float32)
    write(out, "pair", [helper.make_node("Add", ["a", "b"], ["sum"]),
                        helper.make_node("Sub", ["a", "b"], ["difference"])],
          [tensor("a", ["N", 2]), tensor("b", ["N", 2])],
          [tensor("sum", ["N", 2]), tensor("difference", ["N", 2])], [],
          {"a": a, "b": b}, {"sum": a + b, "difference": a - b})
    # iris: the layout the local deploy target serves (input [N,4] -> probabilities [N,3]).
    w = rng.normal(size=(4, 3)).astype(np.float32)
    c = rng.normal(size=(3,)).astype(np.float32)
    x = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]], dtype=np.float32)
    write(out, "iris", [helper.make_node("MatMul", ["input", "w"], ["logits"]),
                        helper.make_node("Add", ["logits", "c"], ["scores"]),
                        helper.make_node("Softmax", ["scores"], ["probabilities"], axis=1)],
          [tensor("input", ["N", 4])], [tensor("probabilities", ["N", 3])],
          [const("w", w), const("c", c)], {"input": x}, {"probabilities": softmax(x @ w + c)})
    # mlp: 16 -> 64 -> relu -> 64 -> relu -> 4.
    w1, b1 = rng.normal(size=(16, 64)).astype(np.float32) * 0.3, rng.normal(size=(64,)).astype(np.float32)
    w2, b2 = rng.normal(size=(64, 64)).astype(np.float32) * 0.2, rng.normal(size=(64,)).astype(np.float32)
    w3, b3 = rng.normal(size=(64, 4)).astype(np.float32) * 0.2, rng.normal(size=(4,)).astype(np.float32)
    x = rng.normal(size=(2, 16)).astype(np.float32)
    h1 = np.maximum(x @ w1 + b1, 0)
    h2 = np.maximum(h1 @ w2 + b2, 0)
    write(out, "mlp", [helper.make_node("MatMul", ["x", "w1"], ["m1"]),
                       helper.make_node("Add", ["m1", "b1"], ["h1"]),
                       helper.make_node("Relu", ["h1"], ["r1"]),
                       helper.make_node("MatMul", ["r1", "w2"], ["m2"]),
                       helper.make_node("Add", ["m2", "b2"], ["h2"]),
                       helper.make_node("Relu", ["h2"], ["r2"]),
                       helper.make_node("MatMul", ["r2", "w3"], ["m3"]),
                       helper.make_node("Add", ["m3", "b3"], ["y"])],
          [tensor("x", ["N", 16])], [tensor("y", ["N", 4])],
          [const("w1", w1), const("b1", b1), const("w2", w2), const("b2", b2), const("w3", w3),
           const("b3", b3)], {"x": x}, {"y": h2 @ w3 + b3})
    # cnn: [N,1,16,16] -> conv 8x3x3 (pad 1) -> relu -> maxpool 2 -> flatten -> gemm 10.
    k = rng.normal(size=(8, 1, 3, 3)).astype(np.float32) * 0.5
    kb = rng.normal(size=(8,)).astype(np.float32) * 0.1
    wf = rng.normal(size=(8 * 8 * 8, 10)).astype(np.float32) * 0.05
    bf = rng.normal(size=(10,)).astype(np.float32)
    x = rng.normal(size=(2, 1, 16, 16)).astype(np.float32)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((2, 8, 16, 16), dtype=np.float32)
    for i in range(16):
        for j in range(16):
            patch = padded[:, :, i:i + 3, j:j + 3].reshape(2, 1, 9)
            conv[:, :, i, j] = (patch * k.reshape(1, 8, 9)).sum(axis=2) + kb
    pooled = np.maximum(conv, 0).reshape(2, 8, 8, 2, 8, 2).max(axis=(3, 5))
    write(out, "cnn", [helper.make_node("Conv", ["x", "k", "kb"], ["c"], kernel_shape=[3, 3],
                                        pads=[1, 1, 1, 1]),
                       helper.make_node("Relu", ["c"], ["r"]),
                       helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
                       helper.make_node("Flatten", ["p"], ["f"]),
                       helper.make_node("MatMul", ["f", "wf"], ["mf"]),
                       helper.make_node("Add", ["mf", "bf"], ["logits"])],
          [tensor("x", ["N", 1, 16, 16])], [tensor("logits", ["N", 10])],
          [const("k", k), const("kb", kb), const("wf", wf), const("bf", bf)], {"x": x},
          {"logits": pooled.reshape(2, -1) @ wf + bf})
    # relu: any [N, M]; a dynamic dimension besides the batch one (dynamic batching
    # merges requests only when M matches).
    x = np.array([[-1, 2, -3], [4, -5, 6]], dtype=np.float32)
    write(out, "relu", [helper.make_node("Relu", ["x"], ["y"])],
          [tensor("x", ["N", "M"])], [tensor("y", ["N", "M"])], [], {"x": x},
          {"y": np.maximum(x, 0)})
    # unsupported: a valid ONNX graph whose operator no engine has (a custom
    # domain's, as a model exported with a custom op has until it is registered).
    x = np.array([[1, 2], [3, 4]], dtype=np.float32)
    write(out, "unsupported", [helper.make_node("Relu", ["x"], ["r"], name="relu_0"),
                               helper.make_node("FancyNorm", ["r"], ["y"], name="fancy_norm_1",
                                                domain="com.example")],
          [tensor("x", [2, 2])], [tensor("y", [2, 2])], [], {"x": x}, {"y": x},
          opsets={"com.example": 3})


if __name__ == "__main__":
    main(sys.argv[1])
