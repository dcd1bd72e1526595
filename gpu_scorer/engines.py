"""Where a model runs, behind one small interface: `TritonEngine` on a GPU host (the model is loaded into
Triton with explicit model control, under a name unique to the submission, its file sent with the load
request so no shared volume is needed), and `OnnxRuntimeEngine` on the CPU (the embedded default), which runs
each model in a process of its own under the task's time and memory limits (`gpu_scorer.model_process`)."""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing
import multiprocessing.forkserver
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Protocol

import msgspec
import numpy as np
import tritonclient.grpc.aio as triton

from gpu_scorer import model_process, reasons
from gpu_scorer.model_checks import ModelRejected
from gpu_scorer.model_process import HEADER_BYTES, NUMERIC_DTYPES, Batch, Failed, Loaded, Ready, Reply, Scores, Setup
from proto.competition import ModelSignature

_TRITON_TYPES = {"float32": "FP32", "float16": "FP16", "float64": "FP64"}
_TASK_DEFAULTS = ModelSignature()


class EngineTimeout(Exception):
    """The model did not answer in time (the participant's model is too slow)."""


class ModelOutOfMemory(Exception):
    """The model needed more memory than the task allows."""


class ModelCrashed(Exception):
    """The model's evaluation ended abruptly (killed by a signal) or answered nonsense: the model's doing."""


class ModelError(Exception):
    """ONNX Runtime's own error running the model, as it wrote it (the participant reads it cut short)."""


class Engine(Protocol):
    async def start(self) -> None: ...

    async def load(self, name: str, model: bytes, *, input_name: str, output_name: str, input_dtype: str,
                   sample_shape: tuple[int, ...], classes: int, timeout_s: float = _TASK_DEFAULTS.timeout_s,
                   memory_limit_mb: int = _TASK_DEFAULTS.memory_limit_mb) -> None: ...

    async def infer(self, name: str, batch: np.ndarray, timeout_s: float) -> np.ndarray: ...

    async def unload(self, name: str) -> None: ...


# The platform's own limit on a model's process getting ready (it has nothing of the model yet): past it, the
# machine is at fault, and the job is retried.
PROCESS_START_S = 60.0
PROCESS_EXIT_S = 10.0
_replies = msgspec.msgpack.Decoder(Reply)
_encoder = msgspec.msgpack.Encoder()


class _Garbled(Exception):
    """The model's process said something the protocol does not allow (only a compromised process would)."""


class _OutputTooLarge(Exception):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__(shape)
        self.shape = shape


def _output_bytes(scores: Scores) -> int:
    if scores.dtype not in NUMERIC_DTYPES or any(d < 0 for d in scores.shape):
        raise _Garbled(f"scores of dtype {scores.dtype[:20]!r}")
    return math.prod(scores.shape) * np.dtype(scores.dtype).itemsize


def _receive(connection: Connection, most: int) -> bytes:
    """One message of at most `most` bytes. A longer one (a plain OSError from multiprocessing) breaks the
    protocol; EOFError and ConnectionError mean the process has ended, and pass through."""
    try:
        return connection.recv_bytes(most)
    except (EOFError, ConnectionError):
        raise
    except OSError as error:
        raise _Garbled("a message over its size") from error


def _exchange(connection: Connection, messages: Sequence[bytes | memoryview], max_output: int
              ) -> tuple[Reply, bytes]:
    """Send `messages`, then read the reply (and a batch's scores, at most `max_output` bytes). Runs in a worker
    thread: every read is bounded, so the child cannot make the scorer allocate more than it expects."""
    for message in messages:
        connection.send_bytes(message)
    try:
        reply = _replies.decode(_receive(connection, HEADER_BYTES))
    except msgspec.DecodeError as error:
        raise _Garbled("a header") from error
    if not isinstance(reply, Scores):
        return reply, b""
    size = _output_bytes(reply)
    if size > max_output:
        raise _OutputTooLarge(reply.shape)
    data = _receive(connection, max_output)
    if len(data) != size:
        raise _Garbled("scores of another size than announced")
    return reply, data


@dataclass
class _Evaluation:
    """One model's process, the scorer's end of its pipe, and the exchange in flight on it (if any)."""

    process: BaseProcess
    connection: Connection
    classes: int
    memory_limit_mb: int
    in_flight: asyncio.Future[tuple[Reply, bytes]] | None = None


class OnnxRuntimeEngine:
    """ONNX Runtime on the CPU, one child process per evaluation. The processes come from a forkserver that has
    imported ONNX Runtime once (so each starts in milliseconds) but never created a session: ONNX Runtime's thread
    pools do not survive a fork, so no process with a session is ever forked. A child is killed when its time is
    up, so a model stuck in an endless Loop holds nothing after the task's time limit; its address space is capped,
    so a model allocating without end fails on its own (`gpu_scorer.model_process`)."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.sessions: dict[str, _Evaluation] = {}
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload([model_process.__name__])

    async def start(self) -> None:
        """Start the forkserver while the service starts: it imports ONNX Runtime (seconds) once, before the first
        submission needs a process."""
        await asyncio.to_thread(multiprocessing.forkserver.ensure_running)

    async def load(self, name: str, model: bytes, *, input_name: str, output_name: str, input_dtype: str,
                   sample_shape: tuple[int, ...], classes: int, timeout_s: float = _TASK_DEFAULTS.timeout_s,
                   memory_limit_mb: int = _TASK_DEFAULTS.memory_limit_mb) -> None:
        if not isinstance(model, bytes):  # a path would give its folder to the model's external data
            raise TypeError("the engine loads a model from its bytes only")
        setup = Setup(input_name=input_name, output_name=output_name, threads=self.threads,
                      memory_limit_mb=memory_limit_mb, time_limit_s=timeout_s)
        evaluation = await asyncio.to_thread(self._start_process, setup, classes)
        try:
            reply, _ = await self._ask(evaluation, [model], timeout_s, 0, "loading the model")
            if isinstance(reply, Failed):
                if reply.out_of_memory:
                    raise ModelOutOfMemory(f"the model needed more than the task's limit of {memory_limit_mb} MiB "
                                           "of memory to load")
                raise ModelRejected("ONNX Runtime cannot load the model: "
                                    f"{reasons.text(reasons.onnxruntime_text(reply.error))}")
            if not isinstance(reply, Loaded):
                raise await self._garbled(evaluation, "loading the model")
        except BaseException:
            await self._stop(evaluation)
            raise
        self.sessions[name] = evaluation

    def _start_process(self, setup: Setup, classes: int) -> _Evaluation:
        """A child under its limits, ready for the model (in a worker thread). Whatever fails here is the
        platform's: the child has not seen the model yet."""
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=model_process.evaluate, args=(theirs, setup), daemon=True,
                                        name="podium-model")
        try:
            process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            ready = ours.poll(PROCESS_START_S) and isinstance(_replies.decode(ours.recv_bytes(HEADER_BYTES)), Ready)
        except (EOFError, OSError, msgspec.DecodeError):
            ready = False
        if not ready:
            process.kill()
            process.join(PROCESS_EXIT_S)
            ours.close()
            raise RuntimeError(f"the model's process did not start (exit code {process.exitcode})")
        return _Evaluation(process, ours, classes, setup.memory_limit_mb)

    async def _ask(self, evaluation: _Evaluation, messages: Sequence[bytes | memoryview], timeout_s: float,
                   max_output: int, doing: str) -> tuple[Reply, bytes]:
        """One exchange with the model's process within `timeout_s`; past it, the process is killed."""
        evaluation.in_flight = asyncio.ensure_future(
            asyncio.to_thread(_exchange, evaluation.connection, messages, max_output))
        try:
            return await asyncio.wait_for(asyncio.shield(evaluation.in_flight), max(timeout_s, 0))
        except TimeoutError:
            await self._stop(evaluation)
            raise EngineTimeout(f"{doing} took longer than the {timeout_s:.1f} s left of the task's time "
                                "limit") from None
        except (EOFError, OSError) as error:  # the pipe closed under the exchange: the process has ended
            raise await self._ended(evaluation, doing) from error
        except _Garbled:
            raise await self._garbled(evaluation, doing) from None
        except _OutputTooLarge as error:
            await self._stop(evaluation)
            raise ModelError(f"its output ({reasons.has_shape(error.shape)}) is larger than scores of "
                             f"{evaluation.classes} classes for the batch") from None

    async def _ended(self, evaluation: _Evaluation, doing: str) -> Exception:
        """Why a model's process ended by itself: a signal is the model's doing (ONNX Runtime crashed on it, the
        kernel stopped it); a plain exit is a fault of ours, retried."""
        await asyncio.to_thread(evaluation.process.join, PROCESS_EXIT_S)
        exitcode = evaluation.process.exitcode
        await self._stop(evaluation)
        if exitcode == -signal.SIGXCPU:
            return EngineTimeout(f"{doing} used more CPU time than the task's time limit allows")
        if exitcode == -signal.SIGKILL:
            return ModelOutOfMemory(f"the model's evaluation was killed while {doing}, as the machine does when a "
                                    "process takes too much of its memory")
        if exitcode is not None and exitcode < 0:
            return ModelCrashed(f"the model's evaluation stopped abruptly while {doing} "
                                f"({signal.Signals(-exitcode).name})")
        return RuntimeError(f"the model's process ended while {doing} (exit code {exitcode})")

    async def _garbled(self, evaluation: _Evaluation, doing: str) -> Exception:
        await self._stop(evaluation)
        return ModelCrashed(f"the model's evaluation answered out of turn while {doing}")

    async def _stop(self, evaluation: _Evaluation) -> None:
        """Kill the process (if it still runs), let the exchange in flight see the pipe close, close our end."""
        evaluation.process.kill()
        if evaluation.in_flight is not None:
            await asyncio.wait([evaluation.in_flight])
            if not evaluation.in_flight.cancelled():
                evaluation.in_flight.exception()  # retrieved: its EOF is expected now
        await asyncio.to_thread(evaluation.process.join, PROCESS_EXIT_S)
        evaluation.connection.close()

    async def infer(self, name: str, batch: np.ndarray, timeout_s: float) -> np.ndarray:
        evaluation = self.sessions[name]
        batch = np.ascontiguousarray(batch)
        header = _encoder.encode(Batch(dtype=batch.dtype.name, shape=batch.shape))
        max_output = len(batch) * evaluation.classes * np.dtype(np.float64).itemsize
        reply, data = await self._ask(evaluation, [header, batch.data.cast("B")], timeout_s, max_output,
                                      "running a batch")
        if isinstance(reply, Failed):
            if reply.out_of_memory:
                raise ModelOutOfMemory(f"the model needed more than the task's limit of {evaluation.memory_limit_mb} "
                                       f"MiB of memory on a batch of {len(batch)}")
            raise ModelError(reasons.onnxruntime_text(reply.error))
        if not isinstance(reply, Scores):
            raise await self._garbled(evaluation, "running a batch")
        return np.frombuffer(data, dtype=reply.dtype).reshape(reply.shape)

    async def unload(self, name: str) -> None:
        evaluation = self.sessions.pop(name, None)
        if evaluation is not None:
            await self._stop(evaluation)


class TritonEngine:
    """Triton runs each model in its own server, under that server's limits: the task's memory limit is for the
    ONNX Runtime engine, and its time limit applies here to each batch."""

    def __init__(self, url: str) -> None:
        self.client = triton.InferenceServerClient(url)
        self.models: dict[str, tuple[str, str, str]] = {}

    async def start(self) -> None:
        """Nothing to start: the client connects on its first call."""

    async def load(self, name: str, model: bytes, *, input_name: str, output_name: str, input_dtype: str,
                   sample_shape: tuple[int, ...], classes: int, timeout_s: float = _TASK_DEFAULTS.timeout_s,
                   memory_limit_mb: int = _TASK_DEFAULTS.memory_limit_mb) -> None:
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
        output = result.as_numpy(output_name) if result is not None else None
        if output is None:  # the model was checked to have this output: Triton's side went wrong
            raise RuntimeError(f"Triton answered without the model's output {output_name!r}")
        return output

    async def unload(self, name: str) -> None:
        self.models.pop(name, None)
        await self.client.unload_model(name)
