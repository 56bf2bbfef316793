"""Trains an iris classifier on data in blob storage and writes it back as a
new model version: MODELS/iris/<version>/model.onnx, which `skiff serve`
picks up. Uses Debian's python3-sklearn and python3-onnx.

Reports metrics to skiff by printing `skiff:metric name=value` lines.
"""

import argparse
import csv
import os
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

CLASSES = ["setosa", "versicolor", "virginica"]


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    features = np.array(
        [[float(r[k]) for k in ("sepal_length", "sepal_width", "petal_length", "petal_width")]
         for r in rows], dtype=np.float32)
    labels = np.array([CLASSES.index(r["species"]) for r in rows])
    return features, labels


def next_version(model_dir):
    """One more than the highest numeric version folder already there."""
    versions = [int(name) for name in os.listdir(model_dir) if name.isdigit()] \
        if os.path.isdir(model_dir) else []
    return max(versions, default=0) + 1


def to_onnx(model):
    """The fitted logistic regression as an ONNX graph:
    probabilities = softmax(input @ W + b), with a dynamic batch dimension."""
    weights = numpy_helper.from_array(model.coef_.T.astype(np.float32), "weights")
    bias = numpy_helper.from_array(model.intercept_.astype(np.float32), "bias")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "weights"], ["logits_raw"]),
         helper.make_node("Add", ["logits_raw", "bias"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)],
        "iris",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
        initializer=[weights, bias])
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx_model.ir_version = 7
    onnx_model.doc_string = "iris classes: " + ", ".join(CLASSES)
    onnx.checker.check_model(onnx_model)
    return onnx_model


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="CSV with the iris measurements")
    parser.add_argument("--models", required=True, help="model repository (a blob mount)")
    args = parser.parse_args()

    features, labels = load(args.data)
    train_x, test_x, train_y, test_y = train_test_split(
        features, labels, test_size=0.3, random_state=7, stratify=labels)
    model = LogisticRegression(max_iter=500).fit(train_x, train_y)
    accuracy = model.score(test_x, test_y)

    model_dir = os.path.join(args.models, "iris")
    version = next_version(model_dir)
    version_dir = os.path.join(model_dir, str(version))
    os.makedirs(version_dir, exist_ok=True)
    # Written whole, then renamed into place: the server never sees half a model.
    with tempfile.NamedTemporaryFile(dir=version_dir, suffix=".tmp", delete=False) as out:
        out.write(to_onnx(model).SerializeToString())
    os.rename(out.name, os.path.join(version_dir, "model.onnx"))

    print(f"trained on {len(train_x)} rows, tested on {len(test_x)}")
    print(f"skiff:metric accuracy={accuracy:.4f} train_rows={len(train_x)}")
    print(f"skiff:metric version={version}")
    print(f"wrote {version_dir}/model.onnx")


if __name__ == "__main__":
    main()
