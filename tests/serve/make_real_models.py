#!/usr/bin/python3
"""Writes real-world ONNX models for the serve tests, with the framework's own outputs.

    make_real_models.py OUTDIR [NAME...]

For each model NAME (all of them when none is named) it writes OUTDIR/NAME.onnx
and OUTDIR/NAME.json. The JSON is

    {"inputs":  {TENSOR: {"datatype": D, "shape": [...], "data": [...]}},
     "outputs": {TENSOR: {"datatype": D, "shape": [...], "data": [...]}}}

with D the KServe v2 datatype (FP32, INT64, BOOL, BYTES, ...) of the tensor as
the ONNX graph declares it, "data" flat in row-major order, the inputs a small
seeded batch and the outputs what the framework itself computes for it: torch's
forward in eval mode, scikit-learn's predict / predict_proba, numpy for the
hand-built type-coverage graph. Nothing here runs onnx or onnxruntime.

Models: resnet18, mobilenet_v2, transformer, lstm, gru, layernorm_gelu_14,
layernorm_gelu_17, conv1d, textcnn, cnn_dynamic (torch.onnx.export);
random_forest, logistic_regression, zipmap (scikit-learn on iris, converted to
ai.onnx.ml by hand); types (one Identity-like path per tensor type). zipmap's
"probabilities" output is seq(map(int64, float)) and has no JSON entry.

Needs Debian's python (/usr/bin/python3) with python3-torch, python3-torchvision,
python3-onnx, python3-numpy and python3-sklearn (torch 1.13, onnx 1.12,
scikit-learn 1.2). Everything is seeded, so a rerun writes the same files.
"""
import json
import os
import sys
import warnings
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DATATYPES = {
    TensorProto.FLOAT: "FP32", TensorProto.DOUBLE: "FP64", TensorProto.FLOAT16: "FP16",
    TensorProto.BFLOAT16: "BF16", TensorProto.INT8: "INT8", TensorProto.INT16: "INT16",
    TensorProto.INT32: "INT32", TensorProto.INT64: "INT64", TensorProto.UINT8: "UINT8",
    TensorProto.UINT16: "UINT16", TensorProto.UINT32: "UINT32", TensorProto.UINT64: "UINT64",
    TensorProto.BOOL: "BOOL", TensorProto.STRING: "BYTES",
}


def rng_for(name):
    """A numpy generator seeded by the model's name, so one model alone gives the same files."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def dyadic(rng, shape, scale=2.0):
    """Random float32 values k/256 in [-scale, scale): exact in fp32, short in JSON."""
    k = int(scale * 256)
    return (rng.integers(-k, k, size=shape) / 256.0).astype(np.float32)


def json_data(array, datatype, shortest):
    flat = np.asarray(array).ravel()
    if datatype == "BYTES":
        return [v.decode() if isinstance(v, bytes) else str(v) for v in flat]
    if shortest and datatype in ("FP32", "FP16"):
        # Outputs: the shortest decimal that reads back as the same fp32/fp16 value.
        # (Inputs are written exactly; they are multiples of a power of two.)
        return [float(str(v)) for v in flat]
    return flat.tolist()


def write(out, name, model, feed, expected):
    """Saves and checks the model, then the JSON with the graph's declared datatypes."""
    path = os.path.join(out, name + ".onnx")
    onnx.save(model, path)
    onnx.checker.check_model(path)
    graph = onnx.load(path).graph
    declared = {v.name: v.type for v in list(graph.input) + list(graph.output)}

    def entries(arrays, names, shortest):
        if sorted(arrays) != sorted(names):
            raise SystemExit(f"{name}: tensors {sorted(arrays)} are not the graph's {sorted(names)}")
        result = {}
        for key in names:
            datatype = DATATYPES[declared[key].tensor_type.elem_type]
            array = np.asarray(arrays[key])
            result[key] = {"datatype": datatype, "shape": list(array.shape),
                           "data": json_data(array, datatype, shortest)}
        return result

    constants = {i.name for i in graph.initializer}
    inputs = [v.name for v in graph.input if v.name not in constants]
    # Every tensor output has a reference; a sequence or map output (ZipMap's) has none.
    outputs = [v.name for v in graph.output if v.type.HasField("tensor_type")]
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump({"inputs": entries(feed, inputs, False),
                   "outputs": entries(expected, outputs, True)}, f)
        f.write("\n")


# ---------------------------------------------------------------- torch models

def torch_model(out, name, module, feed, outputs, dynamic_axes, opset):
    """Exports module (eval mode) and writes its own forward as the reference."""
    import torch
    module.eval()
    args = tuple(torch.from_numpy(v) for v in feed.values())
    with torch.no_grad():
        result = module(*args)
    result = result if isinstance(result, tuple) else (result,)
    expected = {k: r.numpy() for k, r in zip(outputs, result)}
    path = os.path.join(out, name + ".onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, path, input_names=list(feed), output_names=outputs,
                          dynamic_axes=dynamic_axes, opset_version=opset,
                          do_constant_folding=True)
    write(out, name, onnx.load(path), feed, expected)


def randomize_batchnorm(module, generator):
    """Gives BatchNorm layers non-trivial running statistics, as a trained model has."""
    import torch
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
            m.running_var.copy_(0.5 + torch.rand(n, generator=generator))
            with torch.no_grad():
                m.weight.copy_(0.75 + 0.5 * torch.rand(n, generator=generator))
                m.bias.copy_(0.1 * torch.randn(n, generator=generator))


def make_resnet18(out, name):
    import torch
    import torchvision
    torch.manual_seed(1)
    model = torchvision.models.resnet18(weights=None)
    randomize_batchnorm(model, torch.Generator().manual_seed(2))
    x = dyadic(rng_for(name), (2, 3, 64, 64))
    torch_model(out, name, model, {"input": x}, ["output"],
                {"input": {0: "N"}, "output": {0: "N"}}, 13)


def make_mobilenet_v2(out, name):
    import torch
    import torchvision
    torch.manual_seed(1)
    model = torchvision.models.mobilenet_v2(weights=None, width_mult=0.5, num_classes=10)
    randomize_batchnorm(model, torch.Generator().manual_seed(2))
    x = dyadic(rng_for(name), (2, 3, 64, 64))
    torch_model(out, name, model, {"input": x}, ["output"],
                {"input": {0: "N"}, "output": {0: "N"}}, 13)


def make_transformer(out, name):
    import torch
    torch.manual_seed(1)
    layer = torch.nn.TransformerEncoderLayer(d_model=32, nhead=4, dim_feedforward=64,
                                             dropout=0.0, batch_first=True)
    model = torch.nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    x = dyadic(rng_for(name), (2, 5, 32))
    torch_model(out, name, model, {"input": x}, ["output"],
                {"input": {0: "N", 1: "T"}, "output": {0: "N", 1: "T"}}, 14)


def make_lstm(out, name):
    import torch

    class LSTMHead(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(8, 16, num_layers=2, batch_first=True)
            self.head = torch.nn.Linear(16, 3)

        def forward(self, x):
            y, _ = self.lstm(x)
            return self.head(y[:, -1, :])

    torch.manual_seed(1)
    x = dyadic(rng_for(name), (3, 6, 8))
    torch_model(out, name, LSTMHead(), {"input": x}, ["output"],
                {"input": {0: "N", 1: "T"}, "output": {0: "N"}}, 13)


def make_gru(out, name):
    import torch

    class BiGRU(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(8, 12, batch_first=True, bidirectional=True)

        def forward(self, x):
            return self.gru(x)[0]

    torch.manual_seed(1)
    x = dyadic(rng_for(name), (2, 7, 8))
    torch_model(out, name, BiGRU(), {"input": x}, ["output"],
                {"input": {0: "N", 1: "T"}, "output": {0: "N", 1: "T"}}, 13)


def layernorm_gelu():
    import torch
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.LayerNorm(32),
                                torch.nn.GELU(), torch.nn.Linear(32, 4))
    with torch.no_grad():  # a trained LayerNorm's affine parameters are not 1 and 0
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-0.2, 0.2)
    return model


def make_layernorm_gelu_14(out, name):
    x = dyadic(rng_for("layernorm_gelu"), (3, 16))
    torch_model(out, name, layernorm_gelu(), {"input": x}, ["output"],
                {"input": {0: "N"}, "output": {0: "N"}}, 14)


def make_layernorm_gelu_17(out, name):
    x = dyadic(rng_for("layernorm_gelu"), (3, 16))
    torch_model(out, name, layernorm_gelu(), {"input": x}, ["output"],
                {"input": {0: "N"}, "output": {0: "N"}}, 17)


def make_conv1d(out, name):
    import torch
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv1d(4, 8, 3), torch.nn.ReLU(),
                                torch.nn.AdaptiveAvgPool1d(1), torch.nn.Flatten(),
                                torch.nn.Linear(8, 3))
    x = dyadic(rng_for(name), (3, 4, 32))
    torch_model(out, name, model, {"input": x}, ["output"],
                {"input": {0: "N"}, "output": {0: "N"}}, 13)


def make_textcnn(out, name):
    import torch

    class TextCNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(100, 16)
            self.conv = torch.nn.Conv1d(16, 8, 3)
            self.fc = torch.nn.Linear(8, 2)

        def forward(self, ids):
            h = torch.relu(self.conv(self.embedding(ids).transpose(1, 2)))
            return self.fc(torch.amax(h, dim=2))

    torch.manual_seed(1)
    ids = rng_for(name).integers(0, 100, size=(3, 12)).astype(np.int64)
    torch_model(out, name, TextCNN(), {"ids": ids}, ["logits"],
                {"ids": {0: "N"}, "logits": {0: "N"}}, 13)


def make_cnn_dynamic(out, name):
    import torch
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 7 * 7, 10))
    x = dyadic(rng_for(name), (3, 1, 16, 16))
    torch_model(out, name, model, {"input": x}, ["output"],
                {"input": {0: "N"}, "output": {0: "N"}}, 13)


# ---------------------------------------------------------- scikit-learn models

def iris_batch(name, proba=None):
    """Three iris rows, jittered and rounded to multiples of 1/32, as float32.

    With proba (a predict_proba), the three of 64 such rows that the model is
    least sure of, so that the reference probabilities are not all 0 and 1.
    """
    from sklearn.datasets import load_iris
    data = load_iris().data
    rng = rng_for(name)
    rows = data[rng.choice(len(data), size=64 if proba else 3, replace=False)]
    rows = rows + rng.integers(-2, 3, size=rows.shape) / 16.0
    rows = (np.round(rows * 32) / 32).astype(np.float32)
    if proba:
        rows = rows[np.sort(np.argsort(proba(rows).max(axis=1), kind="stable")[:3])]
    return rows


def ml_model(name, nodes, outputs, opset_ml):
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
                              outputs)
    model = helper.make_model(graph, producer_name="skiff make_real_models.py",
                              opset_imports=[helper.make_opsetid("", 13),
                                             helper.make_opsetid("ai.onnx.ml", opset_ml)])
    model.ir_version = 8
    return model


def label_and_probabilities():
    return [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])]


def make_random_forest(out, name):
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    iris = load_iris()
    forest = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0)
    forest.fit(iris.data, iris.target)
    a = {k: [] for k in ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_values",
                         "nodes_modes", "nodes_truenodeids", "nodes_falsenodeids",
                         "class_treeids", "class_nodeids", "class_ids", "class_weights")}
    n_trees = len(forest.estimators_)
    for t, estimator in enumerate(forest.estimators_):
        tree = estimator.tree_
        for i in range(tree.node_count):
            leaf = tree.children_left[i] == -1
            a["nodes_treeids"].append(t)
            a["nodes_nodeids"].append(i)
            a["nodes_featureids"].append(0 if leaf else int(tree.feature[i]))
            a["nodes_values"].append(0.0 if leaf else float(tree.threshold[i]))
            a["nodes_modes"].append("LEAF" if leaf else "BRANCH_LEQ")
            a["nodes_truenodeids"].append(0 if leaf else int(tree.children_left[i]))
            a["nodes_falsenodeids"].append(0 if leaf else int(tree.children_right[i]))
            if leaf:
                value = tree.value[i][0]
                for c, p in enumerate(value / value.sum()):
                    a["class_treeids"].append(t)
                    a["class_nodeids"].append(i)
                    a["class_ids"].append(c)
                    a["class_weights"].append(float(p) / n_trees)
    node = helper.make_node("TreeEnsembleClassifier", ["input"], ["label", "probabilities"],
                            domain="ai.onnx.ml", classlabels_int64s=[int(c) for c in forest.classes_],
                            post_transform="NONE", **a)
    x = iris_batch(name, forest.predict_proba)
    write(out, name, ml_model(name, [node], label_and_probabilities(), 3), {"input": x},
          {"label": forest.predict(x).astype(np.int64),
           "probabilities": forest.predict_proba(x).astype(np.float32)})


def logistic_regression():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    iris = load_iris()
    model = LogisticRegression(max_iter=500).fit(iris.data, iris.target)
    # multi_class='auto' with lbfgs and 3 classes is multinomial: predict_proba = softmax(x W + b).
    node = helper.make_node("LinearClassifier", ["input"], ["label", "probabilities"],
                            domain="ai.onnx.ml", classlabels_ints=[int(c) for c in model.classes_],
                            coefficients=model.coef_.astype(np.float32).ravel().tolist(),
                            intercepts=model.intercept_.astype(np.float32).tolist(),
                            multi_class=1, post_transform="SOFTMAX")
    return model, node


def make_logistic_regression(out, name):
    model, node = logistic_regression()
    x = iris_batch(name)
    write(out, name, ml_model(name, [node], label_and_probabilities(), 1), {"input": x},
          {"label": model.predict(x).astype(np.int64),
           "probabilities": model.predict_proba(x).astype(np.float32)})


def make_zipmap(out, name):
    model, linear = logistic_regression()
    linear.output[1] = "scores"
    zipmap = helper.make_node("ZipMap", ["scores"], ["probabilities"], domain="ai.onnx.ml",
                              classlabels_int64s=[int(c) for c in model.classes_])
    seq_map = onnx.TypeProto()
    seq_map.sequence_type.elem_type.map_type.key_type = TensorProto.INT64
    seq_map.sequence_type.elem_type.map_type.value_type.tensor_type.elem_type = TensorProto.FLOAT
    outputs = [helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
               helper.make_value_info("probabilities", seq_map)]
    x = iris_batch("logistic_regression")
    write(out, name, ml_model(name, [linear, zipmap], outputs, 1), {"input": x},
          {"label": model.predict(x).astype(np.int64)})


# ------------------------------------------------------------- type coverage

def make_types(out, name):
    """One input x_T and output y_T per type: y = x + 1 (numbers), Not (BOOL), Identity (BYTES)."""
    rng = rng_for(name)
    shape = (2, 3)
    values = {
        "fp64": (TensorProto.DOUBLE, rng.normal(size=shape)),
        "fp16": (TensorProto.FLOAT16, (rng.integers(-32, 32, size=shape) / 4.0).astype(np.float16)),
        "int8": (TensorProto.INT8, rng.integers(-128, 127, size=shape).astype(np.int8)),
        "int16": (TensorProto.INT16, rng.integers(-32768, 32767, size=shape).astype(np.int16)),
        "int32": (TensorProto.INT32, rng.integers(-2**31, 2**31 - 1, size=shape).astype(np.int32)),
        "int64": (TensorProto.INT64, rng.integers(-2**40, 2**40, size=shape).astype(np.int64)),
        "uint8": (TensorProto.UINT8, rng.integers(0, 255, size=shape).astype(np.uint8)),
        "uint16": (TensorProto.UINT16, rng.integers(0, 65535, size=shape).astype(np.uint16)),
        "uint32": (TensorProto.UINT32, rng.integers(2**31, 2**32 - 1, size=shape).astype(np.uint32)),
        "uint64": (TensorProto.UINT64, rng.integers(2**32, 2**40, size=shape).astype(np.uint64)),
        "bool": (TensorProto.BOOL, rng.integers(0, 2, size=shape).astype(bool)),
        "bytes": (TensorProto.STRING, np.array([["", "skiff", "caf\u00e9"], ["a b", "{\"k\": 1}", "x" * 20]],
                                               dtype=object)),
    }
    nodes, inputs, outputs, initializers, feed, expected = [], [], [], [], {}, {}
    for key, (elem, x) in values.items():
        xn, yn = f"x_{key}", f"y_{key}"
        inputs.append(helper.make_tensor_value_info(xn, elem, ["N", 3]))
        outputs.append(helper.make_tensor_value_info(yn, elem, ["N", 3]))
        feed[xn] = x
        if key == "bool":
            nodes.append(helper.make_node("Not", [xn], [yn]))
            expected[yn] = np.logical_not(x)
        elif key == "bytes":
            nodes.append(helper.make_node("Identity", [xn], [yn]))
            expected[yn] = x
        elif key in ("fp64", "int32", "int64"):
            # Types whose Add every runtime has: add a one of the same type.
            one = numpy_helper.from_array(np.array(1, dtype=x.dtype), f"one_{key}")
            initializers.append(one)
            nodes.append(helper.make_node("Add", [xn, one.name], [yn]))
            expected[yn] = x + x.dtype.type(1)
        else:
            # Small and unsigned types: through double (exact for all of these values).
            initializers.append(numpy_helper.from_array(np.array(1.0), f"one_{key}"))
            nodes += [helper.make_node("Cast", [xn], [f"{xn}_double"], to=TensorProto.DOUBLE),
                      helper.make_node("Add", [f"{xn}_double", f"one_{key}"], [f"{yn}_double"]),
                      helper.make_node("Cast", [f"{yn}_double"], [yn], to=elem)]
            with np.errstate(over="ignore"):
                expected[yn] = (x.astype(np.float64) + 1).astype(x.dtype)
    # Values at the top of a signed/unsigned range would wrap; keep them inside.
    for key in ("int8", "int16", "int32", "uint8", "uint16", "uint32"):
        assert (expected[f"y_{key}"].astype(np.int64) == feed[f"x_{key}"].astype(np.int64) + 1).all()
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    model = helper.make_model(graph, producer_name="skiff make_real_models.py",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    write(out, name, model, feed, expected)


MODELS = {
    "resnet18": make_resnet18,
    "mobilenet_v2": make_mobilenet_v2,
    "transformer": make_transformer,
    "lstm": make_lstm,
    "gru": make_gru,
    "layernorm_gelu_14": make_layernorm_gelu_14,
    "layernorm_gelu_17": make_layernorm_gelu_17,
    "conv1d": make_conv1d,
    "textcnn": make_textcnn,
    "random_forest": make_random_forest,
    "logistic_regression": make_logistic_regression,
    "cnn_dynamic": make_cnn_dynamic,
    "types": make_types,
    "zipmap": make_zipmap,
}


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    out, names = argv[1], argv[2:] or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.stderr.write(f"unknown model(s): {' '.join(unknown)}; known: {' '.join(MODELS)}\n")
        return 2
    os.makedirs(out, exist_ok=True)
    for name in names:
        MODELS[name](out, name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
