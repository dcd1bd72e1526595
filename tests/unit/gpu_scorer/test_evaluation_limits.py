"""Podium issue 16, items 3 and 5, on the ONNX Runtime engine: each model runs in a process of its own under the
task's memory and time limits. A model allocating without end or looping forever fails with a reason and takes
only its own process down; a model ONNX Runtime refuses to load is the participant's refusal; a process killed
under a model is the model's failure; and the engine keeps running the next model."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import onnx
import pytest

from gpu_scorer import reasons
from gpu_scorer.engines import EngineTimeout, ModelCrashed, ModelOutOfMemory, OnnxRuntimeEngine
from gpu_scorer.handlers import FAILURE_CODES, ModelFailed, run_test_set
from gpu_scorer.model_checks import ModelRejected, check_model
from proto.competition import ModelSignature, Task, parse_competition
from tests.onnx_models import endless_loop_model, hungry_model, linear_model, mistyped_model, shape_model, to_bytes

SIGNATURE: dict[str, Any] = dict(
    input_name="input", output_name="output", input_dtype="float32", sample_shape=(64,), classes=10
)
BATCH = np.random.default_rng(2).standard_normal((16, 64)).astype(np.float32)


def weights() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((64, 10)).astype(np.float32), rng.standard_normal(10).astype(np.float32)


@pytest.fixture
async def engine() -> AsyncIterator[OnnxRuntimeEngine]:
    engine = OnnxRuntimeEngine()
    await engine.start()
    yield engine
    for name in list(engine.sessions):
        await engine.unload(name)


async def assert_runs_a_good_model(engine: OnnxRuntimeEngine, name: str = "good") -> None:
    w, b = weights()
    await engine.load(name, to_bytes(linear_model(w, b)), **SIGNATURE)
    np.testing.assert_allclose(await engine.infer(name, BATCH, 30), BATCH @ w + b, rtol=1e-5, atol=1e-5)
    await engine.unload(name)


def test_the_hostile_models_pass_the_checks() -> None:
    """They are refused for what they do when run, not for what they look like."""
    for model in (hungry_model(), endless_loop_model(), mistyped_model()):
        onnx.checker.check_model(model)
        check_model(to_bytes(model), ModelSignature(), (64,), 1_000_000)
    assert len(to_bytes(hungry_model())) < 1024


async def test_a_model_allocating_2_to_the_28_floats_fails_on_memory_and_the_engine_goes_on(
    engine: OnnxRuntimeEngine
) -> None:
    await engine.load("hungry", to_bytes(hungry_model(1 << 28)), **SIGNATURE, memory_limit_mb=512)
    with pytest.raises(ModelOutOfMemory) as caught:
        await engine.infer("hungry", BATCH, 30)
    assert str(caught.value) == "the model needed more than the task's limit of 512 MiB of memory on a batch of 16"
    await engine.unload("hungry")
    await assert_runs_a_good_model(engine)


async def test_the_same_model_within_the_limit_runs() -> None:
    engine = OnnxRuntimeEngine()
    await engine.load("small", to_bytes(hungry_model(1 << 20)), **SIGNATURE, memory_limit_mb=512)
    scores = await engine.infer("small", BATCH, 30)
    assert scores.shape == (16, 10) and (scores == float(1 << 20)).all()
    await engine.unload("small")


async def test_an_endless_loop_is_killed_at_the_time_limit_and_only_its_own_process(
    engine: OnnxRuntimeEngine
) -> None:
    w, b = weights()
    await engine.load("neighbour", to_bytes(linear_model(w, b)), **SIGNATURE)
    await engine.load("endless", to_bytes(endless_loop_model()), **SIGNATURE, timeout_s=30)
    endless = engine.sessions["endless"].process
    with pytest.raises(EngineTimeout) as caught:
        await engine.infer("endless", BATCH, 0.5)
    assert str(caught.value) == "running a batch took longer than the 0.5 s left of the task's time limit"
    assert endless.exitcode == -signal.SIGKILL  # killed, and already reaped
    # The model loaded beside it was not touched, and the engine loads the next one.
    assert engine.sessions["neighbour"].process.is_alive()
    np.testing.assert_allclose(await engine.infer("neighbour", BATCH, 30), BATCH @ w + b, rtol=1e-5, atol=1e-5)
    await engine.unload("endless")
    await assert_runs_a_good_model(engine)


async def test_a_model_onnx_runtime_refuses_to_load_is_the_participants_refusal(engine: OnnxRuntimeEngine) -> None:
    with pytest.raises(ModelRejected) as caught:
        await engine.load("mistyped", to_bytes(mistyped_model()), **SIGNATURE)
    reason = str(caught.value)
    assert reason.startswith("ONNX Runtime cannot load the model: [ONNXRuntimeError] : 1 : FAIL : Type Error"), reason
    assert "tensor(int64)" in reason
    assert "mistyped" not in engine.sessions
    await assert_runs_a_good_model(engine)


@pytest.mark.parametrize(("sent", "kind", "words"), [
    (signal.SIGSEGV, ModelCrashed, "the model's evaluation stopped abruptly while running a batch (SIGSEGV)"),
    (signal.SIGABRT, ModelCrashed, "(SIGABRT)"),
    (signal.SIGKILL, ModelOutOfMemory, "was killed while running a batch"),
    (signal.SIGXCPU, EngineTimeout, "used more CPU time than the task's time limit allows"),
])
async def test_a_process_ended_by_a_signal_is_the_models_failure(
    engine: OnnxRuntimeEngine, sent: signal.Signals, kind: type[Exception], words: str
) -> None:
    """As if ONNX Runtime had crashed on the model (SIGSEGV, SIGABRT), the kernel had stopped it for memory
    (SIGKILL) or for CPU time (SIGXCPU): each is a reason for the participant, none a retry."""
    w, b = weights()
    await engine.load("victim", to_bytes(linear_model(w, b)), **SIGNATURE)
    process = engine.sessions["victim"].process
    assert process.pid is not None  # started by load
    os.kill(process.pid, sent)
    process.join(10)
    with pytest.raises(kind) as caught:
        await engine.infer("victim", BATCH, 30)
    assert words in str(caught.value)
    assert type(caught.value) in FAILURE_CODES
    await engine.unload("victim")
    await assert_runs_a_good_model(engine)


async def test_the_engines_reasons_pass_through_the_test_set_run_unwrapped(engine: OnnxRuntimeEngine) -> None:
    task = Task(id="digits", title="Digits", kind="gpu", metric="accuracy", shape=(64,),
                model=ModelSignature(classes=10, batch_size=8, timeout_s=30, memory_limit_mb=256))
    await engine.load("hungry", to_bytes(hungry_model()), **SIGNATURE, memory_limit_mb=256)
    with pytest.raises(ModelOutOfMemory, match="more than the task's limit of 256 MiB"):
        await run_test_set(engine, "hungry", BATCH, task, np.float32, lambda done, total: None)
    await engine.unload("hungry")


async def test_an_output_larger_than_the_scores_is_not_read() -> None:
    engine = OnnxRuntimeEngine()
    await engine.load("wide", to_bytes(shape_model([16, 100_000])), **SIGNATURE)
    task = Task(id="digits", title="Digits", kind="gpu", metric="accuracy", shape=(64,),
                model=ModelSignature(classes=10, batch_size=16, timeout_s=30))
    with pytest.raises(ModelFailed) as caught:
        await run_test_set(engine, "wide", BATCH, task, np.float32, lambda done, total: None)
    assert str(caught.value) == ("the model failed on a batch: its output (shape (16, a large number)) is larger than "
                                 "scores of 10 classes for the batch")
    await engine.unload("wide")


def test_the_limits_are_task_parameters_with_defaults() -> None:
    base = """
[[tasks]]
id = "m"
title = "m"
kind = "gpu"
metric = "accuracy"
shape = [64]
ground_truth = "m.npz"
"""
    default = parse_competition(base).tasks[0].model
    assert (default.timeout_s, default.memory_limit_mb) == (120.0, 512)
    tuned = parse_competition(base + "model = { timeout_s = 5, memory_limit_mb = 2048 }\n").tasks[0].model
    assert (tuned.timeout_s, tuned.memory_limit_mb) == (5.0, 2048)


def test_onnx_runtimes_nested_errors_lose_their_source_locations() -> None:
    message = ("[ONNXRuntimeError] : 1 : FAIL : /onnxruntime_src/onnxruntime/core/graph/graph.cc:1407 "
               "onnxruntime::Graph::Graph(const onnxruntime::Model&, bool) status.IsOK() was false. "
               "[ONNXRuntimeError] : 1 : FAIL : tensorprotoutils.cc:619 ValidateExternalDataPathFromDir External "
               "data path does not exist: \"x.bin\"\n")
    assert reasons.onnxruntime_text(message) == (
        '[ONNXRuntimeError] : 1 : FAIL : External data path does not exist: "x.bin"')


def test_whatever_the_onnx_checker_raises_is_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    def confused(model: onnx.ModelProto) -> None:
        raise RuntimeError("the checker's own trouble with these bytes")

    monkeypatch.setattr(onnx.checker, "check_model", confused)
    w, b = weights()
    with pytest.raises(ModelRejected, match="not valid ONNX: the checker's own trouble"):
        check_model(to_bytes(linear_model(w, b)), ModelSignature(), (64,), 1_000_000)
