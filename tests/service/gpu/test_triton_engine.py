"""TritonEngine against a real `tritonserver` (nvidia-pytriton's, CPU, python backend) serving a model
equivalent to the baseline: the tritonclient calls give the same class scores as ONNX Runtime running the
baseline's ONNX file, and a refused model load surfaces as an error, not a hang."""

from __future__ import annotations

import os
import signal
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc.aio as triton

from deploy.demo import digits_split
from deploy.stack import free_port, http_ok, spawn, stop_all, wait_until
from gpu_scorer.engines import OnnxRuntimeEngine, TritonEngine
from tests.onnx_models import baseline_weights, linear_model, to_bytes

ROOT = Path(__file__).resolve().parents[3]
TRITON_PYTHON = ROOT / ".venv-triton" / "bin" / "python"
MODEL = "digits-linear"


@pytest.fixture(scope="module")
def weights() -> tuple[np.ndarray, np.ndarray]:
    return baseline_weights()


@pytest.fixture(scope="module")
def triton_url(weights: tuple[np.ndarray, np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not TRITON_PYTHON.exists():
        pytest.fail("no .venv-triton: `make test` creates it (nvidia-pytriton in its own virtualenv)")
    folder = tmp_path_factory.mktemp("triton")
    np.savez(folder / "weights.npz", w=weights[0], b=weights[1])
    grpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    libdir = os.popen(f"{TRITON_PYTHON} -c 'import sysconfig; print(sysconfig.get_config_var(\"LIBDIR\"))'").read()
    env = {**os.environ, "LD_LIBRARY_PATH": libdir.strip() or sysconfig.get_config_var("LIBDIR"),
           "PYTRITON_HOME": str(folder / "home")}
    server = spawn("triton", [str(TRITON_PYTHON), str(ROOT / "tests" / "triton" / "serve_linear.py"),
                              str(folder / "weights.npz"), str(grpc_port), str(http_port), str(metrics_port)],
                   folder / "triton.log", signal.SIGTERM, env=env)
    try:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{http_port}/v2/models/{MODEL}/ready"), "tritonserver", 120,
                   server.proc, server.log)
        yield f"127.0.0.1:{grpc_port}"
    finally:
        stop_all([server], timeout_s=20)


async def test_triton_inference_matches_onnx_runtime_on_the_baseline(
    triton_url: str, weights: tuple[np.ndarray, np.ndarray]
) -> None:
    _, (x, y) = digits_split()
    engine = TritonEngine(triton_url)
    engine.register(MODEL, "input", "output", "float32")
    local = OnnxRuntimeEngine()
    await local.load("baseline", to_bytes(linear_model(*weights)), input_name="input", output_name="output",
                     input_dtype="float32", sample_shape=(64,), classes=10)
    for start in range(0, len(x), 128):
        batch = x[start:start + 128]
        served = await engine.infer(MODEL, batch, timeout_s=30)
        assert served.shape == (len(batch), 10)
        np.testing.assert_allclose(served, await local.infer("baseline", batch, timeout_s=30), rtol=1e-4, atol=1e-4)
    everything = np.concatenate([await engine.infer(MODEL, x[i:i + 256], timeout_s=30) for i in range(0, len(x), 256)])
    assert (everything.argmax(axis=1) == y).mean() > 0.9


async def test_a_refused_model_load_is_an_error(triton_url: str, weights: tuple[np.ndarray, np.ndarray]) -> None:
    engine = TritonEngine(triton_url)
    with pytest.raises(triton.InferenceServerException):
        await engine.load("sub-1-onnx-1", to_bytes(linear_model(*weights)), input_name="input",
                          output_name="output", input_dtype="float32", sample_shape=(64,), classes=10)
