"""A real Triton Inference Server (PyPI `nvidia-pytriton`: python backend, CPU) serving a linear digits
classifier, for the TritonEngine tests. Runs in its own virtualenv (pytriton pins numpy < 2):

    .venv-triton/bin/python tests/triton/serve_linear.py WEIGHTS.npz GRPC_PORT HTTP_PORT METRICS_PORT
"""

import sys

import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

MODEL_NAME = "digits-linear"


def main() -> None:
    weights_path, grpc_port, http_port, metrics_port = sys.argv[1], *map(int, sys.argv[2:5])
    with np.load(weights_path) as saved:
        weights, bias = saved["w"].astype(np.float32), saved["b"].astype(np.float32)

    @batch
    def infer(input: np.ndarray) -> dict[str, np.ndarray]:  # noqa: A002 — the model's input is named "input"
        return {"output": (input @ weights + bias).astype(np.float32)}

    config = TritonConfig(http_address="127.0.0.1", http_port=http_port, grpc_address="127.0.0.1",
                          grpc_port=grpc_port, metrics_address="127.0.0.1", metrics_port=metrics_port,
                          allow_metrics=False)
    with Triton(config=config) as triton:
        triton.bind(model_name=MODEL_NAME, infer_func=infer,
                    inputs=[Tensor(name="input", dtype=np.float32, shape=(weights.shape[0],))],
                    outputs=[Tensor(name="output", dtype=np.float32, shape=(weights.shape[1],))],
                    config=ModelConfig(max_batch_size=256))
        triton.serve()


if __name__ == "__main__":
    main()
