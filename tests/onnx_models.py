"""ONNX models for the tests, built with onnx's helpers: a baseline linear classifier trained on the digits
training half, and the bad models a participant might send."""

from __future__ import annotations

import os
import tempfile
from typing import Any

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


# --- hostile models: a file on the scoring machine read as "weights" and sent back in the output's shape -------

# Every place an ONNX model can keep a tensor whose bytes live outside the .onnx file.
HIDING_PLACES = (
    "initializer", "constant", "if_initializer", "if_constant", "loop_body", "scan_body", "function_constant",
    "sparse_initializer", "constant_sparse_value", "tensors_attribute", "training_info",
)


def external_tensor(name: str, location: str, length: int) -> onnx.TensorProto:
    """A uint8 tensor of `length` bytes read from the file `location` (relative: to wherever it is loaded)."""
    tensor = onnx.TensorProto(name=name, data_type=TensorProto.UINT8, dims=[length],
                              data_location=TensorProto.EXTERNAL)
    for key, value in (("location", location), ("offset", "0"), ("length", str(length))):
        tensor.external_data.add(key=key, value=value)
    return tensor


def _constant(output: str, data_type: int, dims: list[int], values: list) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [output], value=helper.make_tensor(f"{output}_t", data_type, dims, values))


def _leaking_graph(nodes: list[onnx.NodeProto], initializers: list[onnx.TensorProto], features: int, classes: int,
                   **graph: Any) -> onnx.GraphProto:
    """`nodes` make the uint8 tensor `leak`; the output is an empty tensor of shape (0, *leak): the bytes, as the
    dimensions of an output of the wrong shape (which a scorer that quotes the shape sends back)."""
    tail = [
        helper.make_node("Cast", ["leak"], ["leak64"], to=TensorProto.INT64),
        _constant("zero", TensorProto.INT64, [1], [0]),
        helper.make_node("Concat", ["zero", "leak64"], ["shape"], axis=0),
        helper.make_node("ConstantOfShape", ["shape"], ["output"]),
    ]
    return helper.make_graph(
        [*nodes, *tail], "leak",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", classes])],
        initializers, **graph)


def _branch(name: str, location: str, length: int, *, as_constant: bool) -> onnx.GraphProto:
    hidden = external_tensor(f"{name}_w", location, length)
    nodes = ([helper.make_node("Constant", [], [f"{name}_out"], value=hidden)] if as_constant
             else [helper.make_node("Identity", [hidden.name], [f"{name}_out"])])
    return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(f"{name}_out", TensorProto.UINT8, None)],
                             [] if as_constant else [hidden])


def leaking_model(where: str, location: str, length: int, *, features: int = 64, classes: int = 10
                  ) -> onnx.ModelProto:
    """A model with the task's signature whose output's shape is `length` bytes of the file `location`, the
    external data hidden in `where` (one of HIDING_PLACES)."""
    flat = _constant("flat", TensorProto.INT64, [1], [-1])
    true = _constant("true", TensorProto.BOOL, [], [True])
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    graph: dict[str, Any] = {}
    functions: list[onnx.FunctionProto] = []
    opsets = [helper.make_opsetid("", 17)]
    if where == "initializer":
        initializers.append(external_tensor("leak", location, length))
    elif where == "constant":
        nodes.append(helper.make_node("Constant", [], ["leak"], value=external_tensor("leak_t", location, length)))
    elif where in ("if_initializer", "if_constant"):
        as_constant = where == "if_constant"
        nodes += [true, helper.make_node("If", ["true"], ["leak"],
                                         then_branch=_branch("then", location, length, as_constant=as_constant),
                                         else_branch=_branch("else", location, length, as_constant=as_constant))]
    elif where == "loop_body":
        hidden = external_tensor("body_w", location, length)
        body = helper.make_graph(
            [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
             helper.make_node("Identity", [hidden.name], ["scan_out"])], "body",
            [helper.make_tensor_value_info("i", TensorProto.INT64, []),
             helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])],
            [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
             helper.make_tensor_value_info("scan_out", TensorProto.UINT8, None)], [hidden])
        nodes += [true, _constant("once", TensorProto.INT64, [], [1]), flat,
                  helper.make_node("Loop", ["once", "true"], ["stacked"], body=body),
                  helper.make_node("Reshape", ["stacked", "flat"], ["leak"])]
    elif where == "scan_body":
        hidden = external_tensor("body_w", location, length)
        body = helper.make_graph(
            [helper.make_node("Identity", [hidden.name], ["scan_out"])], "body",
            [helper.make_tensor_value_info("element", TensorProto.FLOAT, [])],
            [helper.make_tensor_value_info("scan_out", TensorProto.UINT8, None)], [hidden])
        nodes += [_constant("one", TensorProto.FLOAT, [1], [0]), flat,
                  helper.make_node("Scan", ["one"], ["stacked"], body=body, num_scan_inputs=1),
                  helper.make_node("Reshape", ["stacked", "flat"], ["leak"])]
    elif where == "function_constant":
        functions.append(helper.make_function(
            "podium.local", "Weights", [], ["w"],
            [helper.make_node("Constant", [], ["w"], value=external_tensor("w_t", location, length))],
            [helper.make_opsetid("", 17)]))
        opsets.append(helper.make_opsetid("podium.local", 1))
        nodes.append(helper.make_node("Weights", [], ["leak"], domain="podium.local"))
    elif where == "sparse_initializer":
        values = external_tensor("leak", location, length)
        indices = helper.make_tensor("leak_i", TensorProto.INT64, [length], list(range(length)))
        graph["sparse_initializer"] = [helper.make_sparse_tensor(values, indices, [length])]
    elif where == "constant_sparse_value":
        values = external_tensor("leak_v", location, length)
        indices = helper.make_tensor("leak_i", TensorProto.INT64, [length], list(range(length)))
        nodes.append(helper.make_node("Constant", [], ["leak"],
                                      sparse_value=helper.make_sparse_tensor(values, indices, [length])))
    elif where == "tensors_attribute":
        nodes.append(_constant("leak", TensorProto.UINT8, [1], [7]))
        nodes[-1].attribute.append(helper.make_attribute("spare", [external_tensor("spare_t", location, length)]))
    elif where == "training_info":
        nodes.append(_constant("leak", TensorProto.UINT8, [1], [7]))
    else:
        raise ValueError(f"nowhere called {where!r}")
    model = helper.make_model(_leaking_graph(nodes, initializers, features, classes, **graph),
                              opset_imports=opsets, ir_version=9, functions=functions)
    if where == "training_info":
        hidden = external_tensor("state", location, length)
        model.training_info.add(initialization=helper.make_graph(
            [helper.make_node("Identity", [hidden.name], ["state_out"])], "init", [],
            [helper.make_tensor_value_info("state_out", TensorProto.UINT8, None)], [hidden]))
    return model


def sparse_weights_model(weights: np.ndarray, bias: np.ndarray) -> onnx.ModelProto:
    """The linear classifier with its bias as a Constant's `sparse_value` (embedded, no file): a runnable model."""
    model = linear_model(weights, bias)
    bias_init = next(t for t in model.graph.initializer if t.name == "b")
    model.graph.initializer.remove(bias_init)
    nonzero = np.flatnonzero(bias)
    values = numpy_helper.from_array(bias[nonzero].astype(np.float32), "b_values")
    indices = numpy_helper.from_array(nonzero.astype(np.int64), "b_indices")
    model.graph.node.insert(0, helper.make_node(
        "Constant", [], ["b"], sparse_value=helper.make_sparse_tensor(values, indices, list(bias.shape))))
    return model


def shape_model(shape: list[int], *, features: int = 64, classes: int = 10) -> onnx.ModelProto:
    """A model with the task's signature that answers every batch with a zero tensor of the fixed `shape`."""
    nodes = [_constant("shape", TensorProto.INT64, [len(shape)], shape),
             helper.make_node("ConstantOfShape", ["shape"], ["output"])]
    graph = helper.make_graph(
        nodes, "shaped", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", classes])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


# --- models that stay within the checks but not within a task's limits (Podium issue 16, item 3) -------------------


def _signature_io(features: int, classes: int) -> tuple[list[onnx.ValueInfoProto], list[onnx.ValueInfoProto]]:
    return ([helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", features])],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", classes])])


def hungry_model(elements: int = 1 << 28, *, features: int = 64, classes: int = 10) -> onnx.ModelProto:
    """A model of a few hundred bytes that makes a float tensor of `elements` values for every batch (2^28: 1 GiB),
    sums it, and answers every class with that sum. The size is computed from the input's shape at run time, so
    ONNX Runtime cannot fold it into a constant when it loads the model."""
    nodes = [
        helper.make_node("Shape", ["input"], ["dims"]),
        helper.make_node("Slice", ["dims", "zero", "one"], ["batch"]),
        helper.make_node("Mul", ["batch", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "elements"], ["size"]),
        helper.make_node("ConstantOfShape", ["size"], ["huge"],
                         value=helper.make_tensor("one_value", TensorProto.FLOAT, [1], [1.0])),
        helper.make_node("ReduceSum", ["huge"], ["total"], keepdims=0),
        helper.make_node("Concat", ["batch", "classes"], ["output_shape"], axis=0),
        helper.make_node("Expand", ["total", "output_shape"], ["output"]),
    ]
    constants = [numpy_helper.from_array(np.array(values, np.int64), name)
                 for name, values in (("zero", [0]), ("one", [1]), ("elements", [elements]), ("classes", [classes]))]
    graph = helper.make_graph(nodes, "hungry", *_signature_io(features, classes), constants)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def endless_loop_model(*, features: int = 64, classes: int = 10) -> onnx.ModelProto:
    """A model whose Loop has no trip count and a condition that stays true: it never answers."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Identity", ["carried_in"], ["carried_out"])], "forever",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("carried_in", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("carried_out", TensorProto.FLOAT, None)])
    nodes = [_constant("true", TensorProto.BOOL, [], [True]),
             helper.make_node("MatMul", ["input", "W"], ["logits"]),
             helper.make_node("Loop", ["", "true", "logits"], ["output"], body=body)]
    graph = helper.make_graph(nodes, "endless", *_signature_io(features, classes),
                              [numpy_helper.from_array(np.zeros((features, classes), np.float32), "W")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def mistyped_model(*, features: int = 64, classes: int = 10) -> onnx.ModelProto:
    """The linear classifier with an int64 bias added to float logits: onnx's checker (without type inference)
    accepts it, ONNX Runtime refuses to load it (a type error in the graph)."""
    nodes = [helper.make_node("MatMul", ["input", "W"], ["logits"]),
             helper.make_node("Add", ["logits", "b"], ["output"])]
    graph = helper.make_graph(nodes, "mistyped", *_signature_io(features, classes),
                              [numpy_helper.from_array(np.zeros((features, classes), np.float32), "W"),
                               numpy_helper.from_array(np.zeros(classes, np.int64), "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
