"""A model must not read files of the scoring machine (Podium issue 16): external data and sparse tensors are
refused wherever in the model they hide — subgraphs, functions, tensor attributes — before ONNX Runtime sees the
model, and the engine, should one slip through, looks for such files only in an empty folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from onnx import TensorProto, helper

from gpu_scorer.engines import OnnxRuntimeEngine
from gpu_scorer.model_checks import ModelRejected, check_model
from proto.competition import ModelSignature
from tests.onnx_models import (
    HIDING_PLACES,
    external_tensor,
    leaking_model,
    linear_model,
    sparse_weights_model,
    to_bytes,
)

SIGNATURE = ModelSignature(classes=10)
SAMPLE_SHAPE = (64,)
SECRET = b"PODIUM-SECRET-0123456789"


def rejected(data: bytes) -> str:
    with pytest.raises(ModelRejected) as caught:
        check_model(data, SIGNATURE, SAMPLE_SHAPE, 10_000_000)
    return str(caught.value)


def weights() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((64, 10)).astype(np.float32), np.array([0, 1, 0, 0, 2, 0, 0, 0, 0, 0], np.float32)


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A secret file in the working directory (where ONNX Runtime resolves a relative `location` of a model
    loaded from bytes); its name, relative."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    monkeypatch.chdir(tmp_path)
    return "secret.txt"


@pytest.mark.parametrize("where", [w for w in HIDING_PLACES if "sparse" not in w])
def test_external_data_is_refused_wherever_it_hides(where: str) -> None:
    reason = rejected(to_bytes(leaking_model(where, "secret.txt", len(SECRET))))
    assert reason.startswith("the model refers to external data files"), reason
    assert reason.endswith("embed every weight in the .onnx file")


@pytest.mark.parametrize("where", ["sparse_initializer", "constant_sparse_value"])
def test_external_data_in_a_sparse_tensor_is_refused(where: str) -> None:
    assert "external data" in rejected(to_bytes(leaking_model(where, "secret.txt", len(SECRET))))


def test_the_hostile_models_are_real_ones(planted: str) -> None:
    """Without the checks, ONNX Runtime reads the file, and the model returns its bytes as its output's shape
    (a few at a time: numpy refuses an empty array whose other dimensions multiply past its limit)."""
    for where in ("if_initializer", "if_constant", "loop_body", "scan_body", "constant_sparse_value"):
        session = onnxruntime.InferenceSession(to_bytes(leaking_model(where, planted, 6)),
                                               providers=["CPUExecutionProvider"])
        output = np.asarray(session.run(["output"], {"input": np.zeros((2, 64), np.float32)})[0])
        assert bytes(output.shape[1:]) == SECRET[:6], where


def test_a_sparse_value_constant_is_refused_even_with_its_data_embedded() -> None:
    data = to_bytes(sparse_weights_model(*weights()))
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    assert np.asarray(session.run(None, {"input": np.zeros((1, 64), np.float32)})[0])[0, 4] == 2  # it would run
    reason = rejected(data)
    assert reason.startswith("the model holds a sparse tensor 'b_values' (a sparse initializer or a Constant's "
                             "sparse_value), which is not accepted"), reason


def test_a_sparse_initializer_is_refused_even_with_its_data_embedded() -> None:
    model = linear_model(*weights())
    values = helper.make_tensor("extra", TensorProto.FLOAT, [1], [1.0])
    indices = helper.make_tensor("extra_i", TensorProto.INT64, [1], [0])
    model.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [4]))
    assert "sparse tensor 'extra'" in rejected(to_bytes(model))


def test_a_constant_sparse_value_deep_in_a_subgraph_is_refused() -> None:
    model = leaking_model("if_constant", "secret.txt", 4)
    for branch in (a.g for node in model.graph.node for a in node.attribute if a.HasField("g")):
        constant = branch.node[0]
        del constant.attribute[:]
        sparse = helper.make_sparse_tensor(helper.make_tensor("v", TensorProto.UINT8, [1], [1]),
                                           helper.make_tensor("i", TensorProto.INT64, [1], [0]), [4])
        constant.attribute.append(helper.make_attribute("sparse_value", sparse))
    assert "sparse tensor 'v'" in rejected(to_bytes(model))


def test_data_location_external_alone_or_external_entries_alone_are_each_refused() -> None:
    for only in ("location", "entries"):
        tensor = external_tensor("w", "secret.txt", 4)
        if only == "location":
            del tensor.external_data[:]
        else:
            tensor.data_location = TensorProto.DEFAULT
        model = leaking_model("if_constant", "secret.txt", 4)
        branch = next(a.g for a in model.graph.node[1].attribute if a.name == "then_branch")
        branch.node[0].attribute[0].t.CopyFrom(tensor)
        assert "external data" in rejected(to_bytes(model)), only


def test_external_data_in_a_graphs_attribute_and_a_function_default_is_refused() -> None:
    inner = helper.make_graph([], "inner", [], [], [external_tensor("deep", "secret.txt", 4)])
    model = linear_model(*weights())
    model.graph.node[0].attribute.append(helper.make_attribute("spare_graphs", [inner]))
    assert "external data files (tensor 'deep')" in rejected(to_bytes(model))
    model = leaking_model("function_constant", "secret.txt", 4)
    function = model.functions[0]
    function.node[0].attribute[0].t.CopyFrom(helper.make_tensor("w_t", TensorProto.UINT8, [1], [1]))
    assert rejected(to_bytes(model)).startswith("custom operator domains")  # the body is clean now
    function.attribute_proto.append(helper.make_attribute("default", external_tensor("in_default", "x", 4)))
    assert "external data files (tensor 'in_default')" in rejected(to_bytes(model))


def test_external_data_nested_deep_in_subgraphs_is_found() -> None:
    branch = helper.make_graph([], "bottom", [], [], [external_tensor("bottom", "secret.txt", 4)])
    empty = helper.make_graph([], "empty", [], [])
    for depth in range(25):  # If inside If inside If ... (protobuf reads messages 100 deep at most)
        outer = helper.make_node("If", ["c"], [f"o{depth}"], then_branch=empty, else_branch=branch)
        branch = helper.make_graph([outer], f"level{depth}", [], [])
    model = linear_model(*weights())
    model.graph.node[0].attribute.append(helper.make_attribute("hidden", branch))
    assert "external data files (tensor 'bottom')" in rejected(to_bytes(model))


def test_a_custom_domain_inside_a_subgraph_is_refused() -> None:
    model = leaking_model("if_constant", "secret.txt", 4)
    for branch in (a.g for a in model.graph.node[1].attribute):
        branch.node[0].CopyFrom(helper.make_node("Leak", [], [branch.output[0].name], domain="com.microsoft"))
    assert rejected(to_bytes(model)) == "custom operator domains are not allowed: com.microsoft"


def test_an_ort_format_model_is_refused() -> None:
    assert "ONNX Runtime's own .ort format" in rejected(b"\x10\x00\x00\x00ORTM" + b"\x00" * 64)


def test_a_model_without_hidden_data_still_passes() -> None:
    assert check_model(to_bytes(linear_model(*weights())), SIGNATURE, SAMPLE_SHAPE, 10_000_000).input_dtype


@pytest.mark.parametrize("where", ["initializer", "if_initializer", "if_constant", "loop_body", "scan_body",
                                   "sparse_initializer", "constant_sparse_value"])
async def test_the_engine_never_reads_the_working_directory(planted: str, where: str) -> None:
    """Defence in depth: a hostile model that got past the checks finds no file (the engine points ONNX Runtime
    at an empty folder), so it fails to load instead of reading the secret."""
    engine = OnnxRuntimeEngine()
    data = to_bytes(leaking_model(where, planted, len(SECRET)))
    with pytest.raises(Exception) as caught:  # onnxruntime's own exception types
        await engine.load("m", data, input_name="input", output_name="output", input_dtype="float32",
                          sample_shape=SAMPLE_SHAPE, classes=10)
    assert "secret.txt" in str(caught.value) and SECRET.decode() not in str(caught.value)
    assert "m" not in engine.sessions


async def test_the_engine_loads_bytes_only_and_still_runs_a_good_model() -> None:
    engine = OnnxRuntimeEngine()
    with pytest.raises(TypeError):
        await engine.load("m", "model.onnx", input_name="input", output_name="output",  # type: ignore[arg-type]
                          input_dtype="float32", sample_shape=SAMPLE_SHAPE, classes=10)
    w, b = weights()
    await engine.load("m", to_bytes(linear_model(w, b)), input_name="input", output_name="output",
                      input_dtype="float32", sample_shape=SAMPLE_SHAPE, classes=10)
    x = np.random.default_rng(1).standard_normal((3, 64)).astype(np.float32)
    np.testing.assert_allclose(await engine.infer("m", x, 10), x @ w + b, rtol=1e-5)
    await engine.unload("m")
