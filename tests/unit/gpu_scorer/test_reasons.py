"""A failure reason never carries what a model computed or named unbounded (Podium issue 16): a wrong shape is
quoted only when small, an engine's error loses its lists of numbers, names are cut short and printable."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from gpu_scorer import reasons
from gpu_scorer.engines import OnnxRuntimeEngine
from gpu_scorer.handlers import ModelFailed, run_test_set
from gpu_scorer.model_checks import ModelRejected, check_model
from proto.competition import ModelSignature, Task
from tests.onnx_models import linear_model, shape_model, to_bytes

TASK = Task(id="digits", title="Digits", kind="gpu", metric="accuracy", shape=(64,),
            model=ModelSignature(classes=10, batch_size=4, timeout_s=30))
X = np.zeros((8, 64), np.float32)
LEAKED = (83, 69, 67, 82, 69, 84)  # "SECRET"


class Answers:
    """An engine whose model answers every batch with `result` (an array, or an exception to raise)."""

    def __init__(self, result: np.ndarray | Exception) -> None:
        self.result = result

    async def infer(self, name: str, batch: np.ndarray, timeout_s: float) -> np.ndarray:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


async def failure(engine: object) -> str:
    with pytest.raises(ModelFailed) as caught:
        await run_test_set(engine, "m", X, TASK, np.float32, lambda done, total: None)  # type: ignore[arg-type]
    return str(caught.value)


def no_leak(reason: str) -> None:
    assert not any(str(byte) in reason for byte in LEAKED), reason
    assert "SECRET" not in reason


async def test_a_shape_of_many_dimensions_is_not_quoted() -> None:
    reason = await failure(Answers(np.zeros((0, *LEAKED), np.float32)))
    assert reason == "the model returned a shape of 7 dimensions for a batch of 4; expected shape (4, 10)"


async def test_a_small_wrong_shape_is_quoted() -> None:
    assert await failure(Answers(np.zeros((4, 9), np.float32))) == (
        "the model returned shape (4, 9) for a batch of 4; expected shape (4, 10)")
    assert await failure(Answers(np.zeros((4,), np.float32))) == (
        "the model returned shape (4,) for a batch of 4; expected shape (4, 10)")


async def test_a_large_dimension_is_not_quoted() -> None:
    reason = await failure(Answers(np.zeros((0, 1_229_866_323), np.float32)))  # b"SECR" as one number
    assert reason == "the model returned shape (0, a large number) for a batch of 4; expected shape (4, 10)"


async def test_a_leaking_shape_through_the_real_engine_is_not_quoted() -> None:
    engine = OnnxRuntimeEngine()
    await engine.load("m", to_bytes(shape_model([0, *LEAKED])), input_name="input", output_name="output",
                      input_dtype="float32", sample_shape=(64,), classes=10)
    reason = await failure(engine)
    assert reason.startswith("the model returned a shape of 7 dimensions"), reason
    no_leak(reason)


async def test_an_engine_error_loses_its_number_lists_its_other_lines_and_its_length() -> None:
    message = ("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Non-zero status code returned while running Reshape "
               "node. Name:'r' Status Message: The input tensor cannot be reshaped to the requested shape. Input "
               "shape:{4,64}, requested shape:{83,69,67,82,69,84} and 1229866323 \x00\x1b[31m" + "x" * 500
               + "\nSECRET on the next line")
    reason = await failure(Answers(RuntimeError(message)))
    assert reason.startswith("the model failed on a batch: [ONNXRuntimeError] : 2 : INVALID_ARGUMENT")
    assert "shape:{4,64}" in reason and "requested shape:{...}" in reason
    assert len(reason) <= len("the model failed on a batch: ") + reasons.TEXT_CHARS + 3
    assert reason.isascii() and reason.isprintable()
    no_leak(reason)


def test_names_are_cut_short_printable_and_counted() -> None:
    assert reasons.name("input") == "'input'"
    assert reasons.name("a\x00b\u202ec") == "'a?b?c'"
    assert reasons.name("S" * 100) == repr("S" * reasons.NAME_CHARS + "...")
    assert reasons.names(["a", "b", "c", "d", "e"]) == "['a', 'b', 'c', and 2 more]"
    assert reasons.shape([0, "batch" * 10, 3], "[]", 8) == "[0, 'batchbatchbatchb...', 3]"


def refused(model: object) -> str:
    with pytest.raises(ModelRejected) as caught:
        check_model(to_bytes(model), ModelSignature(classes=10), (64,), 50_000_000)  # type: ignore[arg-type]
    return str(caught.value)


def weights() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((64, 10), np.float32), np.zeros(10, np.float32)


def test_the_checks_quote_model_names_cut_short() -> None:
    reason = refused(linear_model(*weights(), input_name="SECRET" * 1000 + "\x07"))
    assert reason == f"the model's inputs are [{reasons.name('SECRET' * 1000)}]; expected one named 'input'"
    model = linear_model(*weights())
    for n in range(1000):
        model.graph.input.append(helper.make_tensor_value_info(f"in{n}", 1, [1]))
    assert refused(model).startswith("the model's inputs are ['input', 'in0', 'in1', and 998 more]; expected")


def test_the_checks_quote_a_declared_shape_cut_short() -> None:
    model = linear_model(*weights())
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "SECRET" * 100
    assert refused(model) == "output 'output' has shape ['batch', 'SECRETSECRETSECR...']; expected ['batch', 10]"
    model = linear_model(*weights())
    for _ in range(100):
        model.graph.output[0].type.tensor_type.shape.dim.add().dim_value = 83
    assert refused(model) == "output 'output' has a shape of 102 dimensions; expected ['batch', 10]"


def test_the_checks_quote_many_custom_domains_counted() -> None:
    model = linear_model(*weights())
    for n in range(10):
        model.opset_import.append(helper.make_opsetid(f"com.x{n}" + "\x00" * 100, 1))
    reason = refused(model)
    assert reason.startswith("custom operator domains are not allowed: com.x0???") and reason.endswith("and 7 more")
    assert len(reason) < 250


def test_the_checkers_message_is_cut_short() -> None:
    model = linear_model(*weights())
    model.graph.node[0].op_type = "Leak" + "S" * 5000
    reason = refused(model)
    prefix = "the model is not valid ONNX: "
    assert reason.startswith(prefix) and len(reason) == len(prefix) + reasons.TEXT_CHARS + len("..."), reason
