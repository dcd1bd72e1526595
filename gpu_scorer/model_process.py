"""What runs in the process that evaluates one participant's model (`gpu_scorer.engines.OnnxRuntimeEngine` starts
one per evaluation): its limits first, then ONNX Runtime loading the model from its bytes and answering one batch at
a time over a pipe, until the scorer closes the pipe or kills the process.

Only small msgpack headers and raw array bytes cross the pipe. The scorer reads nothing from this process that could
run code (no pickle): the process runs a participant's model, so it is trusted with nothing. This module is what the
forkserver preloads, so it imports only what the child needs."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from multiprocessing.connection import Connection

import msgspec
import numpy as np
import onnxruntime

MiB = 1 << 20
# What the child may say about a failure: the scorer cuts it further (gpu_scorer.reasons) before anyone reads it.
ERROR_CHARS = 2000
HEADER_BYTES = 4 * ERROR_CHARS  # the most a header may take on the pipe, either way
# How ONNX Runtime (and Python) word an allocation the address-space limit refused.
MEMORY_WORDS = ("bad_alloc", "bad allocation", "failed to allocate", "out of memory")
# A score may come back in any numeric type (it is converted to float64); strings, objects are refused.
NUMERIC_DTYPES = frozenset({"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
                            "uint32", "uint64", "bool"})
# Where ONNX Runtime is told a model's external data lives: a folder that cannot exist (/dev/null is not a
# folder), so nothing is ever found there; nothing to create, clean up or keep others from writing into.
NO_DATA_FOLDER = os.path.join(os.devnull, "podium-no-model-data")
# CPU seconds past the task's time limit (times its threads) before the kernel stops a child that outlived its
# scorer: the scorer kills it on the wall clock long before; this only catches an orphan.
CPU_GRACE_S = 30


@dataclass(frozen=True)
class Setup:
    """What the child is told at its start (the scorer → child direction: pickled by multiprocessing)."""

    input_name: str
    output_name: str
    threads: int
    memory_limit_mb: int
    time_limit_s: float


class Ready(msgspec.Struct, frozen=True, tag="ready"):
    """The child runs under its limits and waits for the model: what fails from here on is the model's doing."""


class Loaded(msgspec.Struct, frozen=True, tag="loaded"):
    pass


class Scores(msgspec.Struct, frozen=True, tag="scores"):
    """The model's output for a batch; its bytes follow as the next message."""

    dtype: str
    shape: tuple[int, ...]


class Failed(msgspec.Struct, frozen=True, tag="failed"):
    """ONNX Runtime refused the model or a batch: its message, and whether an allocation was refused."""

    error: str
    out_of_memory: bool = False


class Batch(msgspec.Struct, frozen=True):
    """A batch of the test set (the scorer → child direction); its bytes follow as the next message."""

    dtype: str
    shape: tuple[int, ...]


Reply = Ready | Loaded | Scores | Failed
_encoder = msgspec.msgpack.Encoder()
_batch_decoder = msgspec.msgpack.Decoder(Batch)


def session_options(threads: int) -> onnxruntime.SessionOptions:
    """Options for a participant's model, loaded from its bytes. The model checks refuse external data anywhere
    in a model (`gpu_scorer.model_checks`); should some slip through, ONNX Runtime looks for its file in
    NO_DATA_FOLDER instead of the working directory, where a model loaded from bytes would otherwise have a
    relative `location` resolved (absolute ones, and `..`, it refuses itself). And the bytes are read as ONNX only,
    never as ONNX Runtime's own .ort format (which the checks do not read). No memory arena: every tensor is
    allocated on its own, so the memory limit refuses the allocation that goes past it, not an arena's doubling."""
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 4  # fatal only: each failure is reported to the scorer, which logs it
    options.add_session_config_entry("session.model_external_initializers_file_folder_path", NO_DATA_FOLDER)
    options.add_session_config_entry("session.load_model_format", "ONNX")
    return options


def address_space_bytes() -> int:
    """The process's virtual memory size now (Linux: /proc/self/statm, in pages)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def _lowered(kind: int, soft: int, hard: int) -> None:
    """Set a limit, never above the hard limit the process already has."""
    _, current_hard = resource.getrlimit(kind)
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    resource.setrlimit(kind, (soft, hard))


def limit_resources(setup: Setup) -> None:
    """The memory limit counts from here: address space beyond what the child holds at its start (Python, numpy,
    ONNX Runtime's library), so the model's bytes, its session, the batches and every tensor it makes count. An
    allocation past it fails (ONNX Runtime reports a bad_alloc, Python a MemoryError). CPU time is capped too, as
    a backstop for a child whose scorer died and so cannot kill it."""
    limit = address_space_bytes() + setup.memory_limit_mb * MiB
    _lowered(resource.RLIMIT_AS, limit, limit)
    cpu_s = int(setup.time_limit_s * setup.threads) + CPU_GRACE_S
    _lowered(resource.RLIMIT_CPU, cpu_s, cpu_s + 5)


def _failure(error: BaseException) -> Failed:
    text = str(error).strip() or type(error).__name__
    memory = isinstance(error, MemoryError) or any(word in text.lower() for word in MEMORY_WORDS)
    return Failed(error=text[:ERROR_CHARS], out_of_memory=memory)


def _send(connection: Connection, reply: Reply) -> None:
    connection.send_bytes(_encoder.encode(reply))


def _scores(session: onnxruntime.InferenceSession, setup: Setup, batch: np.ndarray) -> tuple[Reply, bytes]:
    output = np.asarray(session.run([setup.output_name], {setup.input_name: batch})[0])
    if output.dtype.name not in NUMERIC_DTYPES:
        return Failed(error=f"the output holds {output.dtype.kind!r}-kind values, not numbers"), b""
    return Scores(dtype=output.dtype.name, shape=tuple(int(d) for d in output.shape)), output.tobytes()


def evaluate(connection: Connection, setup: Setup) -> None:
    """The child's whole life: limits, the model, then one batch after another until the pipe closes."""
    limit_resources(setup)
    _send(connection, Ready())
    try:
        session = onnxruntime.InferenceSession(connection.recv_bytes(), session_options(setup.threads),
                                               providers=["CPUExecutionProvider"])
    except EOFError:
        return
    except Exception as error:  # every refusal of the model's bytes (MemoryError too) is reported
        _send(connection, _failure(error))
        return
    _send(connection, Loaded())
    while True:
        try:
            header = _batch_decoder.decode(connection.recv_bytes(HEADER_BYTES))
            batch = np.frombuffer(connection.recv_bytes(), dtype=header.dtype).reshape(header.shape)
        except EOFError:
            return
        except MemoryError as error:  # what the model holds on to left no room for the next batch
            _send(connection, _failure(error))
            return
        try:
            reply, data = _scores(session, setup, batch)
        except Exception as error:  # ONNX Runtime's error types for a failing model, MemoryError
            reply, data = _failure(error), b""
        _send(connection, reply)
        if isinstance(reply, Scores):
            connection.send_bytes(data)
