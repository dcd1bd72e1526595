"""ONNX models for the tests, built with onnx's helpers: a baseline linear classifier trained on the digits
training half, and the bad models a participant might send."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from deploy.demo import digits_split


def baseline_weights() -> tuple[np.ndarray, np.ndarray]:
    """A logistic regression on the training half (the hidden test half is never seen)."""
    from sklearn.linear_model import LogisticRegression

    (x, y), _ = digits_split()
    fitted = LogisticRegression(max_iter=2000).fit(x, y)
    return fitted.coef_.T.astype(np.float32), fitted.intercept_.astype(np.float32)


def linear_model(weights: np.ndarray, bias: np.ndarray, *, input_name: str = "input", output_name: str = "output",
                 batch: str | int = "batch", domain: str = "", repeat_square: int = 0) -> onnx.ModelProto:
    features, classes = weights.shape
    nodes, initializers = [], [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")]
    current = input_name
    if repeat_square:  # a deliberately slow model: widen to 1024, apply one square matrix again and again
        width = 1024
        rng = np.random.default_rng(0)
        initializers += [
            numpy_helper.from_array(rng.standard_normal((features, width)).astype(np.float32) / 8, "E"),
            numpy_helper.from_array(rng.standard_normal((width, width)).astype(np.float32) / 32, "S"),
            numpy_helper.from_array(rng.standard_normal((width, features)).astype(np.float32) / 32, "P"),
        ]
        nodes.append(helper.make_node("MatMul", [current, "E"], ["wide0"]))
        current = "wide0"
        for n in range(repeat_square):
            nodes.append(helper.make_node("MatMul", [current, "S"], [f"wide{n + 1}"]))
            current = f"wide{n + 1}"
        nodes.append(helper.make_node("MatMul", [current, "P"], ["narrow"]))
        current = "narrow"
    nodes.append(helper.make_node("MatMul", [current, "W"], ["logits"]))
    nodes.append(helper.make_node("Add", ["logits", "b"], [output_name], domain=domain))
    graph = helper.make_graph(
        nodes, "classifier",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, features])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch, classes])],
        initializers,
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets, ir_version=9)


def to_bytes(model: onnx.ModelProto) -> bytes:
    return model.SerializeToString()


def with_external_data(model: onnx.ModelProto) -> bytes:
    """The model as it would be saved with its weights in a separate file (which we never receive)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="weights.bin", size_threshold=0)
        return onnx.load_model(path, load_external_data=False).SerializeToString()
