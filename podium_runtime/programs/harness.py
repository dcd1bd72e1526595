"""The warm worker, run inside the sandbox: it imports a host's program once, then forks one child per job, which
runs the program (a `score()` function or a Codabench `score.py INPUT OUTPUT`) under the job's limits and writes
what came out to a pipe. The worker outlives any child: a child that crashes, is killed or leaves processes behind
is cleaned up (its whole process group, then every other process of the sandbox) before the next job.

Standard library only (it runs before anything is known to import), plus the participant module. It speaks with
the runner over one Unix socket: frames of a 4-byte length and JSON; a job's frame carries the job's stdout and
stderr as file descriptors. What it reports is raw (the returned value, the scores files as text): checking it is
the runner's (contracts.py).
"""

from __future__ import annotations

import ast
import contextlib
import ctypes
import errno
import importlib
import importlib.util
import json
import os
import resource
import runpy
import select
import shutil
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HEADER = struct.Struct(">I")
_PR_SET_CHILD_SUBREAPER = 36
_TRACEBACK_CHARS = 16_000
_SCORES_FILE_BYTES = 1 << 20
SCORES_FILES = ("scores.json", "scores.txt")

Entry = Callable[..., Any] | Path


def send(channel: socket.socket, message: dict[str, Any], fds: list[int] | tuple[int, ...] = ()) -> None:
    data = json.dumps(message).encode()
    frame = _HEADER.pack(len(data)) + data
    sent = socket.send_fds(channel, [frame], list(fds)) if fds else channel.send(frame)
    channel.sendall(frame[sent:])


def receive(channel: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any] | None, list[int]]:
    """The next frame and the fds that came with it; (None, []) once the other side has closed."""
    header, fds, _, _ = socket.recv_fds(channel, _HEADER.size, max_fds) if max_fds else (
        channel.recv(_HEADER.size), [], 0, None)
    if not header:
        return None, fds
    header += _receive_exactly(channel, _HEADER.size - len(header))
    (length,) = _HEADER.unpack(header)
    return json.loads(_receive_exactly(channel, length)), fds


def _receive_exactly(channel: socket.socket, size: int) -> bytes:
    parts = bytearray()
    while len(parts) < size:
        part = channel.recv(size - len(parts))
        if not part:
            raise ConnectionError("the other side closed the channel mid-frame")
        parts += part
    return bytes(parts)


def failure(error: BaseException) -> dict[str, Any]:
    """An exception as the runner reads it (the traceback is for the host only)."""
    text = "".join(traceback.format_exception(error))[-_TRACEBACK_CHARS:]
    report: dict[str, Any] = {"kind": "exception", "type": type(error).__name__, "traceback": text}
    if isinstance(error, ModuleNotFoundError):
        report["module"] = error.name
    if isinstance(error, OSError):
        report["errno"] = error.errno
    if isinstance(error, MemoryError):  # numpy raises its own subclass
        report["type"] = "MemoryError"
    return report


def main() -> None:
    config = json.loads(sys.argv[1])
    channel = socket.socket(fileno=config["control_fd"])
    for which, value in config["rlimits"]:
        resource.setrlimit(which, tuple(value))  # before the uid switch: a hard limit only root could lower later
    if config["uid"] is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(config["uid"])
        os.setuid(config["uid"])  # from here on: no capabilities, and RLIMIT_NPROC counts
    # Orphans of a job become the worker's children, so it can reap every one of them.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    sys.path[:0] = [config["program"], config["lib"], config["site_packages"]]
    try:
        entry = load(config)
    except BaseException as error:  # noqa: BLE001 - whatever the import raised is the host's to read
        send(channel, {"ready": False, "failure": failure(error)})
        return
    send(channel, {"ready": True})
    while True:
        job, fds = receive(channel, max_fds=2)
        if job is None:
            return
        send(channel, run_job(entry, config, job, fds, channel))


def load(config: dict[str, Any]) -> Entry:
    """The function contract imports score.py and finds score(); the Codabench contract imports what score.py
    imports at its top (so pandas or scikit-learn load once), and runs the script itself per job."""
    script = Path(config["program"]) / "score.py"
    if config["contract"] == "codabench":
        for module in _top_level_imports(script):
            with contextlib.suppress(Exception):  # a failing import fails the job, with its traceback, instead
                importlib.import_module(module)
        return script
    spec = importlib.util.spec_from_file_location("score", script)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"the program has no score.py ({script})")
    module = importlib.util.module_from_spec(spec)
    sys.modules["score"] = module
    spec.loader.exec_module(module)
    function = getattr(module, "score", None)
    if not callable(function):
        raise TypeError("score.py defines no function score(truth, submission, context)")
    return function


def _top_level_imports(script: Path) -> list[str]:
    try:
        tree = ast.parse(script.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def run_job(entry: Entry, config: dict[str, Any], job: dict[str, Any], fds: list[int],
            channel: socket.socket) -> dict[str, Any]:
    result_read, result_write = os.pipe()
    sys.stdout.flush()  # nothing the worker printed may end up in the job's log
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(result_read)
        channel.close()
        _child(entry, config, job, fds, result_write)
    for fd in (*fds, result_write):
        os.close(fd)
    status = _collect(pid, result_read, config)
    os.close(result_read)
    _end_job(pid, pid_namespace=config["pid_namespace"])
    _empty(Path(config["tmp"]))
    return status


def _child(entry: Entry, config: dict[str, Any], job: dict[str, Any], fds: list[int], result_write: int) -> None:
    job_pid = os.getpid()
    payload: dict[str, Any]
    try:
        os.setpgid(0, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in fds:
            os.close(fd)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        cpu = int(config["cpu_seconds"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU at the limit, SIGKILL a second later
        payload = _run_program(entry, config, job)
    except BaseException as error:  # noqa: BLE001 - the program's failure is reported, whatever it is
        payload = _program_failure(error)
    if os.getpid() != job_pid:
        os._exit(0)  # a process the program forked never reports
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
    try:
        data = json.dumps(payload, default=_plain).encode()
    except (TypeError, ValueError) as error:
        data = json.dumps({"kind": "unencodable", "error": str(error)[:500]}).encode()
    view = memoryview(data)
    with contextlib.suppress(OSError):  # the worker stopped reading: it already knows why
        while view:
            view = view[os.write(result_write, view):]
    os._exit(0)


def _program_failure(error: BaseException) -> dict[str, Any]:
    from podium_runtime.programs.participant import ParticipantVisibleError  # noqa: PLC0415 - on the sandbox's path

    if isinstance(error, ParticipantVisibleError):
        return {"kind": "participant", "message": str(error), "traceback": failure(error)["traceback"]}
    if isinstance(error, SystemExit):
        return {"kind": "exit", "code": error.code if isinstance(error.code, int) else 1, "message": str(error.code)}
    return failure(error)


def _run_program(entry: Entry, config: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    work = Path(config["tmp"]) / f"job-{job['id']}"
    work.mkdir()
    if isinstance(entry, Path):
        output = work / "output"
        output.mkdir()
        sys.argv = [str(entry), config["input"], str(output)]
        os.chdir(config["program"])
        try:
            runpy.run_path(str(entry), run_name="__main__")
        except SystemExit as exit_:
            if exit_.code not in (None, 0):
                raise
        return {"kind": "scores", "files": _scores_files(output), "listing": _listing(output)}
    os.chdir(work)
    value = entry(Path(config["truth"]), Path(job["submission"]), job["context"])
    return {"kind": "returned", "value": value}


def _scores_files(output: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in SCORES_FILES:
        path = output / name
        if path.is_file():
            with path.open("rb") as file:
                found[name] = file.read(_SCORES_FILE_BYTES + 1).decode("utf-8", errors="replace")
    return found


def _listing(output: Path) -> list[str]:
    try:
        return sorted(os.listdir(output))[:20]
    except OSError:
        return []


def _plain(value: object) -> object:
    """numpy scalars and arrays as JSON sees them (a program returns np.float64 more often than float)."""
    for method in ("item", "tolist"):
        converted = getattr(value, method, None)
        if callable(converted):
            with contextlib.suppress(Exception):
                return converted()
    raise TypeError(f"a {type(value).__name__} is not JSON")


def _collect(pid: int, result_read: int, config: dict[str, Any]) -> dict[str, Any]:
    """Wait for the child under the wall-time limit while reading its result (under its cap)."""
    pidfd = os.pidfd_open(pid)
    deadline = time.monotonic() + float(config["wall_seconds"])
    received = bytearray()
    limit = int(config["max_result_bytes"])
    stopped: str | None = None
    try:
        watched = [result_read, pidfd]
        while pidfd in watched:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                stopped = "wall_time"
                break
            ready, _, _ = select.select(watched, [], [], remaining)
            if result_read in ready:
                chunk = os.read(result_read, 1 << 16)
                if not chunk:
                    watched.remove(result_read)
                received += chunk
                if len(received) > limit:
                    stopped = "result_too_large"
                    break
            if pidfd in ready:
                watched.remove(pidfd)
        if stopped:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, wait_status = os.waitpid(pid, 0)
    finally:
        os.close(pidfd)
    if not stopped:
        received += _drain(result_read, limit - len(received))
    status: dict[str, Any] = {"stopped": stopped, "exit_code": None, "signal": None, "result": None}
    if os.WIFSIGNALED(wait_status):
        status["signal"] = os.WTERMSIG(wait_status)
    else:
        status["exit_code"] = os.WEXITSTATUS(wait_status)
    if received and not stopped:
        try:
            status["result"] = json.loads(received)
        except ValueError:
            status["result"] = {"kind": "unencodable", "error": "the result could not be read back"}
    return status


def _drain(fd: int, limit: int) -> bytes:
    """What the exited child left in the pipe (a process it forked may still hold the pipe open: no blocking)."""
    os.set_blocking(fd, False)
    data = bytearray()
    with contextlib.suppress(BlockingIOError):
        while len(data) <= limit and (chunk := os.read(fd, 1 << 16)):
            data += chunk
    return bytes(data)


def _end_job(pid: int, *, pid_namespace: bool) -> None:
    """Kill whatever the job left running and reap it all. In the sandbox's own PID namespace, kill(-1) reaches
    every process of the sandbox but the worker and the namespace's init, whatever group or session it moved to."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    if pid_namespace:
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)
    while True:
        try:
            reaped, _ = os.waitpid(-1, 0 if pid_namespace else os.WNOHANG)
        except ChildProcessError:
            return
        if reaped == 0:
            return


def _empty(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()


if __name__ == "__main__":
    try:
        main()
    except OSError as error:
        if error.errno != errno.EPIPE:
            raise
