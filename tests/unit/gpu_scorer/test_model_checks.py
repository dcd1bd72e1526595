"""The model checks refuse, with a reason a participant can act on, every model we must not or cannot run."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from gpu_scorer.model_checks import ModelRejected, check_model
from proto.competition import ModelSignature
from tests.onnx_models import linear_model, to_bytes, with_external_data

SIGNATURE = ModelSignature(classes=10)
SAMPLE_SHAPE = (64,)
LIMIT = 1_000_000


def weights(features: int = 64, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((features, classes)).astype(np.float32), np.zeros(classes, np.float32)


def check(data: bytes, signature: ModelSignature = SIGNATURE, limit: int = LIMIT):  # noqa: ANN201
    return check_model(data, signature, SAMPLE_SHAPE, limit)


def rejected(data: bytes, signature: ModelSignature = SIGNATURE, limit: int = LIMIT) -> str:
    with pytest.raises(ModelRejected) as caught:
        check(data, signature, limit)
    return str(caught.value)


def test_a_model_with_the_declared_signature_and_a_dynamic_batch_passes() -> None:
    data = to_bytes(linear_model(*weights()))
    checked = check(data)
    assert checked.data == data
    assert checked.input_dtype == "float32"
    assert checked.batch_fixed_to_one is False


def test_a_batch_fixed_to_one_passes_and_is_reported() -> None:
    assert check(to_bytes(linear_model(*weights(), batch=1))).batch_fixed_to_one is True


def test_a_batch_fixed_to_eight_is_refused() -> None:
    assert "batch dimension is fixed to 8" in rejected(to_bytes(linear_model(*weights(), batch=8)))


def test_the_size_cap_applies_before_parsing() -> None:
    reason = rejected(b"\x00" * 101, limit=100)
    assert reason == "the model is 101 bytes, over the task's limit of 100"


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04 not a model", b"\xff" * 64], ids=["empty", "zip", "noise"])
def test_bytes_that_are_not_onnx_are_refused(data: bytes) -> None:
    reason = rejected(data)
    assert reason.startswith("not an ONNX model") or "inputs are []" in reason or "not valid ONNX" in reason


def test_external_data_is_refused() -> None:
    reason = rejected(with_external_data(linear_model(*weights())))
    assert "external data" in reason


def test_a_custom_operator_domain_is_refused_and_named() -> None:
    reason = rejected(to_bytes(linear_model(*weights(), domain="com.evil.ops")))
    assert reason == "custom operator domains are not allowed: com.evil.ops"


def test_the_ml_domain_is_standard() -> None:
    model = linear_model(*weights())
    model.opset_import.append(helper.make_opsetid("ai.onnx.ml", 3))
    assert check(to_bytes(model)).input_dtype == "float32"


def test_a_wrong_input_name_is_refused_with_both_names() -> None:
    reason = rejected(to_bytes(linear_model(*weights(), input_name="pixels")))
    assert "['pixels']" in reason and "'input'" in reason


def test_a_wrong_output_name_is_refused() -> None:
    reason = rejected(to_bytes(linear_model(*weights(), output_name="logits_out")))
    assert "outputs are ['logits_out']" in reason


def test_the_wrong_number_of_classes_is_refused() -> None:
    reason = rejected(to_bytes(linear_model(*weights(classes=3))))
    assert "expected ['batch', 10]" in reason


def test_the_wrong_feature_count_is_refused() -> None:
    reason = rejected(to_bytes(linear_model(*weights(features=32))))
    assert "expected ['batch', 64]" in reason


def test_a_non_float_input_is_refused() -> None:
    model = linear_model(*weights())
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.INT64
    assert "must be float32, float16 or float64" in rejected(to_bytes(model))


def test_an_invalid_graph_is_refused_by_the_checker() -> None:
    model = linear_model(*weights())
    model.graph.node[0].input[1] = "no_such_tensor"
    assert rejected(to_bytes(model)).startswith("the model is not valid ONNX")


def test_initializers_listed_as_inputs_are_not_counted_as_inputs() -> None:
    model = linear_model(*weights())
    for initializer in model.graph.initializer:  # older exporters list weights as graph inputs too
        model.graph.input.append(helper.make_tensor_value_info(
            initializer.name, initializer.data_type, list(initializer.dims)))
    model.ir_version = 3
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", 9))
    assert check(to_bytes(model)).input_dtype == "float32"


def test_the_signature_decides_names_and_classes() -> None:
    signature = ModelSignature(input_name="x", output_name="y", classes=3)
    assert check(to_bytes(linear_model(*weights(classes=3), input_name="x", output_name="y")), signature)
