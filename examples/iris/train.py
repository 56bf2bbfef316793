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
from onnx import TensorProto, helper
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
    """The fitted logistic regression as the ONNX graph skl2onnx writes for it
    (with zipmap=False): one ai.onnx.ml LinearClassifier node giving the class
    index as `label` (int64) and `probabilities` (float), for a dynamic batch.
    skl2onnx is not packaged in Debian; the node is the same."""
    classifier = helper.make_node(
        "LinearClassifier", ["input"], ["label", "probabilities"], domain="ai.onnx.ml",
        coefficients=model.coef_.astype(np.float32).ravel().tolist(),
        intercepts=model.intercept_.astype(np.float32).tolist(),
        classlabels_ints=list(range(len(CLASSES))), multi_class=1, post_transform="SOFTMAX")
    graph = helper.make_graph(
        [classifier], "iris",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"]),
         helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])])
    onnx_model = helper.make_model(graph, opset_imports=[
        helper.make_opsetid("", 13), helper.make_opsetid("ai.onnx.ml", 1)])
    onnx_model.ir_version = 8
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
    # The run history links this version of the served model to this run.
    print(f"skiff:artifact {version_dir}/model.onnx")


if __name__ == "__main__":
    main()
