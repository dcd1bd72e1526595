"""Where a model runs, behind one small interface: `TritonEngine` on a GPU host (the model is loaded into
Triton with explicit model control, under a name unique to the submission, its file sent with the load
request so no shared volume is needed), and `OnnxRuntimeEngine` in-process on the CPU (the embedded default)."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Protocol

import numpy as np
import onnxruntime
import tritonclient.grpc.aio as triton

_TRITON_TYPES = {"float32": "FP32", "float16": "FP16", "float64": "FP64"}


class EngineTimeout(Exception):
    """The model did not answer in time (the participant's model is too slow)."""


class Engine(Protocol):
    async def load(self, name: str, model: bytes, *, input_name: str, output_name: str, input_dtype: str,
                   sample_shape: tuple[int, ...], classes: int) -> None: ...

    async def infer(self, name: str, batch: np.ndarray, timeout_s: float) -> np.ndarray: ...

    async def unload(self, name: str) -> None: ...


# Where ONNX Runtime is told a model's external data lives: a folder that cannot exist (/dev/null is not a
# folder), so nothing is ever found there; nothing to create, clean up or keep others from writing into.
NO_DATA_FOLDER = os.path.join(os.devnull, "podium-no-model-data")


def session_options(threads: int) -> onnxruntime.SessionOptions:
    """Options for a participant's model, loaded from its bytes. The model checks refuse external data anywhere
    in a model (`gpu_scorer.model_checks`); should some slip through, ONNX Runtime looks for its file in
    NO_DATA_FOLDER instead of the scorer's working directory, where a model loaded from bytes would otherwise
    have a relative `location` resolved (absolute ones, and `..`, it refuses itself). This instead of changing
    directory: `os.chdir` is the whole process's, and a session is created in a worker thread of the asyncio
    service while the rest of it keeps running. And the bytes are read as ONNX only, never as ONNX Runtime's
    own .ort format (which the checks do not read)."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.model_external_initializers_file_folder_path", NO_DATA_FOLDER)
    options.add_session_config_entry("session.load_model_format", "ONNX")
    return options


class OnnxRuntimeEngine:
    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.sessions: dict[str, tuple[onnxruntime.InferenceSession, str, str]] = {}

    async def load(self, name: str, model: bytes, *, input_name: str, output_name: str, input_dtype: str,
                   sample_shape: tuple[int, ...], classes: int) -> None:
        if not isinstance(model, bytes):  # a path would give its folder to the model's external data
            raise TypeError("the engine loads a model from its bytes only")
        options = session_options(self.threads)
        session = await asyncio.to_thread(
            onnxruntime.InferenceSession, model, options, providers=["CPUExecutionProvider"])
        self.sessions[name] = (session, input_name, output_name)

    async def infer(self, name: str, batch: np.ndarray, timeout_s: float) -> np.ndarray:
        session, input_name, output_name = self.sessions[name]
        run_options = onnxruntime.RunOptions()
        work = asyncio.to_thread(session.run, [output_name], {input_name: batch}, run_options)
        try:
            return (await asyncio.wait_for(work, timeout_s))[0]
        except TimeoutError:
            run_options.terminate = True  # stops the run in its worker thread, not only our wait for it
            raise EngineTimeout(f"a batch took longer than {timeout_s:.1f} s") from None

    async def unload(self, name: str) -> None:
        self.sessions.pop(name, None)


class TritonEngine:
    def __init__(self, url: str) -> None:
        self.client = triton.InferenceServerClient(url)
        self.models: dict[str, tuple[str, str, str]] = {}

    async def load(self, name: str, model: bytes, *, input_name: str, output_name: str, input_dtype: str,
                   sample_shape: tuple[int, ...], classes: int) -> None:
        config = {
            "name": name, "backend": "onnxruntime", "max_batch_size": 0,
            "input": [{"name": input_name, "data_type": f"TYPE_{_TRITON_TYPES[input_dtype]}",
                       "dims": [-1, *sample_shape]}],
            "output": [{"name": output_name, "data_type": "TYPE_FP32", "dims": [-1, classes]}],
        }
        await self.client.load_model(name, config=json.dumps(config), files={"file:1/model.onnx": model})
        self.register(name, input_name, output_name, input_dtype)

    def register(self, name: str, input_name: str, output_name: str, input_dtype: str) -> None:
        """Use a model Triton already serves (loaded by `load`, or by the server's own repository)."""
        self.models[name] = (input_name, output_name, _TRITON_TYPES[input_dtype])

    async def infer(self, name: str, batch: np.ndarray, timeout_s: float) -> np.ndarray:
        input_name, output_name, datatype = self.models[name]
        request = triton.InferInput(input_name, list(batch.shape), datatype)
        request.set_data_from_numpy(batch)
        try:
            result = await self.client.infer(name, [request], outputs=[triton.InferRequestedOutput(output_name)],
                                             client_timeout=timeout_s)
        except triton.InferenceServerException as exc:
            if "Deadline" in str(exc) or "timeout" in str(exc).lower():
                raise EngineTimeout(f"a batch took longer than {timeout_s:.1f} s") from None
            raise
        return result.as_numpy(output_name)

    async def unload(self, name: str) -> None:
        self.models.pop(name, None)
        await self.client.unload_model(name)
