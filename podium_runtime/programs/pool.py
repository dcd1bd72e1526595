"""Warm workers: one sandboxed worker per program version (program, ground truth, contract, limits) imports the
program once and forks a child per job, so a program that imports pandas or scikit-learn pays for it once. A job
that crashes or is killed never takes its worker down; a worker that dies or stops answering is killed and
replaced at the next job.

Blocking code (the scorer calls it off the event loop, e.g. `asyncio.to_thread`). Jobs of one program run one at a
time on its worker: the worker's inbox holds only the current job's submission, so no job sees another's.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from podium_runtime.programs import harness
from podium_runtime.programs.contracts import Contract, ProgramResult, failed, interpret, program_failure
from podium_runtime.programs.inputs import stage_submission
from podium_runtime.programs.sandbox import (
    HARNESS,
    PARTICIPANT_MODULE,
    SANDBOX_INPUT,
    SANDBOX_LIB,
    SANDBOX_PROGRAM,
    SANDBOX_SITE_PACKAGES,
    SANDBOX_TMP,
    Isolation,
    ProgramLimits,
    SandboxConfig,
    WorkerMounts,
    allowed_library_items,
    bubblewrap_command,
    interpreter,
    sandbox_environment,
    sandbox_truth,
    worker_rlimits,
)
from podium_runtime.scoring.archive import ArchiveLimits, ArchiveRejected

# Past the job's own wall time, how long the worker may take to kill, reap and report before it is replaced.
_WORKER_GRACE_SECONDS = 10.0
_MAX_RESULT_BYTES = 4 << 20
_READ_BYTES = 1 << 16


@dataclass(frozen=True)
class Program:
    """A program version as a task uses it: the key of its warm worker."""

    program_dir: Path
    """A folder with score.py (a single uploaded .py file is staged as score.py)."""
    truth: Path
    """The ground truth: a file, or a folder (INPUT/ref)."""
    contract: Contract
    columns: tuple[str, ...]
    limits: ProgramLimits = field(default_factory=ProgramLimits)


class WorkerUnavailable(Exception):
    """The worker could not be started or could not import the program; `result` says why."""

    def __init__(self, result: ProgramResult) -> None:
        super().__init__(result.host_reason)
        self.result = result


class Worker:
    """One sandboxed harness process serving one program."""

    def __init__(self, program: Program, config: SandboxConfig, libraries: list[Path], folder: Path,
                 uid: int | None) -> None:
        self.program = program
        self.folder = folder
        self.uid = uid
        self.inbox = folder / "input" / "res"
        self.inbox.mkdir(parents=True)
        self.inbox.chmod(0o755)
        self._jobs = itertools.count(1)
        self._sandboxed = config.isolation is Isolation.BUBBLEWRAP
        self._channel, theirs = socket.socketpair()
        command, environment, settings = self._command(config, libraries, uid, theirs.fileno())
        with (folder / "worker.log").open("wb") as log:
            self._process = subprocess.Popen(
                [*command, json.dumps(settings)], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=environment, pass_fds=[theirs.fileno()], start_new_session=True, cwd=folder,
            )
        theirs.close()
        self._await_ready()

    def _command(self, config: SandboxConfig, libraries: list[Path], uid: int | None,
                 control_fd: int) -> tuple[list[str], dict[str, str], dict[str, Any]]:
        program, limits = self.program, self.program.limits
        settings: dict[str, Any] = {
            "contract": program.contract.value, "control_fd": control_fd, "uid": uid,
            "cpu_seconds": limits.cpu_seconds, "wall_seconds": limits.wall_seconds,
            "max_result_bytes": _MAX_RESULT_BYTES,
            "rlimits": list(worker_rlimits(limits, own_uid=uid is not None).items()),
        }
        if self._sandboxed:
            mounts = WorkerMounts(program.program_dir, program.truth, self.inbox)
            settings |= {"program": SANDBOX_PROGRAM, "input": SANDBOX_INPUT, "truth": sandbox_truth(program.truth),
                         "tmp": SANDBOX_TMP, "site_packages": SANDBOX_SITE_PACKAGES, "lib": SANDBOX_LIB,
                         "pid_namespace": True}
            # An empty environment for bwrap itself too: its init process's environment is readable in the sandbox.
            return bubblewrap_command(config, mounts, libraries, limits), {}, settings
        view = self._fallback_view(libraries)
        settings |= {"program": str(program.program_dir), "input": str(self.folder / "input"),
                     "truth": str(view["truth"]), "tmp": str(view["tmp"]), "site_packages": str(view["site"]),
                     "lib": str(view["lib"]), "pid_namespace": False}
        environment = sandbox_environment() | {"HOME": str(view["tmp"]), "TMPDIR": str(view["tmp"])}
        executable, _ = interpreter()
        return [str(executable), "-I", "-S", str(HARNESS)], environment, settings

    def _fallback_view(self, libraries: list[Path]) -> dict[str, Path]:
        """The sandbox's layout as symlinks, for the rlimits-only fallback (which hides nothing: a convenience)."""
        site, lib, tmp = self.folder / "site-packages", self.folder / "lib", self.folder / "tmp"
        site.mkdir()
        tmp.mkdir()
        for item in libraries:
            (site / item.name).symlink_to(item)
        (lib / "podium_runtime" / "programs").mkdir(parents=True)
        (lib / "podium_runtime" / "programs" / "participant.py").symlink_to(PARTICIPANT_MODULE)
        reference = self.folder / "input" / "ref"
        truth = self.program.truth
        if truth.is_dir():
            reference.symlink_to(truth)
            return {"site": site, "lib": lib, "tmp": tmp, "truth": reference}
        reference.mkdir()
        (reference / truth.name).symlink_to(truth)
        return {"site": site, "lib": lib, "tmp": tmp, "truth": reference / truth.name}

    def _await_ready(self) -> None:
        self._channel.settimeout(self.program.limits.startup_seconds)
        try:
            message, _ = harness.receive(self._channel)
        except (TimeoutError, ConnectionError, ValueError):
            message = None
        if message is None:
            self.close()
            limit = self.program.limits.startup_seconds
            reason = f"the program's worker did not start within {limit:g} s: {self._log_tail()}"
            raise WorkerUnavailable(failed(reason))
        if not message.get("ready"):
            self.close()
            result = program_failure(message["failure"], self.program.limits)
            raise WorkerUnavailable(replace(result, host_reason=f"importing score.py failed: {result.host_reason}"))

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def run(self, submission: Path, context: dict[str, Any], archive_limits: ArchiveLimits) -> ProgramResult:
        limits = self.program.limits
        try:
            staged = stage_submission(submission, self.inbox, unpack=self.program.contract is Contract.CODABENCH,
                                      limits=archive_limits)
        except ArchiveRejected as refusal:
            return failed(f"the submission was refused: {refusal}", str(refusal))
        inside = staged if not self._sandboxed else Path(SANDBOX_INPUT, "res", *staged.relative_to(self.inbox).parts)
        job = {"id": next(self._jobs), "submission": str(inside), "context": context}
        output = _Output(limits)
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            harness.send(self._channel, job, [out_write, err_write])
        except OSError:
            self.close()
            return failed("the program's worker had stopped; it is replaced at the next submission")
        finally:
            os.close(out_write)
            os.close(err_write)
        deadline = time.monotonic() + limits.wall_seconds + _WORKER_GRACE_SECONDS
        status = self._await_status(output, out_read, err_read, deadline)
        result = interpret(self.program.contract, self.program.columns, limits, status)
        return replace(result, stdout=output.text("stdout"), stderr=output.text("stderr"))

    def _await_status(self, output: _Output, out_read: int, err_read: int, deadline: float) -> dict[str, Any]:
        """Read the job's stdout and stderr (under the output cap) until the worker reports and both pipes end."""
        selector = selectors.DefaultSelector()
        streams = {out_read: "stdout", err_read: "stderr"}
        for fd, name in streams.items():
            selector.register(fd, selectors.EVENT_READ, name)
        selector.register(self._channel, selectors.EVENT_READ, "status")
        status: dict[str, Any] | None = None
        try:
            while selector.get_map() and (remaining := deadline - time.monotonic()) > 0:
                for key, _ in selector.select(remaining):
                    if key.data == "status":
                        selector.unregister(self._channel)
                        status = self._receive_status(deadline)
                        if status is None:
                            return self._replace_worker()
                    elif not (chunk := os.read(key.fd, _READ_BYTES)) or not output.add(key.data, chunk):
                        # The stream ended, or the job printed past its cap: closing our end of the pipes makes
                        # the program's next write fail (BrokenPipeError) instead of filling anything.
                        self._close_streams(selector, streams, [key.fd] if not output.exceeded else list(streams))
            if status is None:
                return self._replace_worker()
        finally:
            self._close_streams(selector, streams, list(streams))
            selector.close()
        return {**status, "stopped": "output"} if output.exceeded else status

    @staticmethod
    def _close_streams(selector: selectors.BaseSelector, streams: dict[int, str], fds: list[int]) -> None:
        for fd in fds:
            if streams.pop(fd, None) is not None:
                selector.unregister(fd)
                os.close(fd)

    def _receive_status(self, deadline: float) -> dict[str, Any] | None:
        self._channel.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            message, _ = harness.receive(self._channel)
        except (TimeoutError, ConnectionError, ValueError):
            return None
        return message

    def _replace_worker(self) -> dict[str, Any]:
        self.close()
        return {"stopped": "worker"}

    def _log_tail(self) -> str:
        try:
            with (self.folder / "worker.log").open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(log.tell() - 4000, 0))
                return log.read().decode("utf-8", errors="replace").strip() or "(no output)"
        except OSError:
            return "(no log)"

    def close(self) -> None:
        """Stop the worker and everything in its sandbox (bwrap's init dies with it: --die-with-parent)."""
        self._channel.close()
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait()


class _Output:
    """A job's stdout and stderr: the tail of each kept, the total counted against the cap."""

    def __init__(self, limits: ProgramLimits) -> None:
        self._kept = limits.kept_output_bytes
        self._cap = limits.output_bytes
        self._tails = {"stdout": bytearray(), "stderr": bytearray()}
        self._total = 0
        self.exceeded = False

    def add(self, stream: str, chunk: bytes) -> bool:
        """Keep the chunk's tail; False once the job has printed more than its cap."""
        self._total += len(chunk)
        tail = self._tails[stream]
        tail += chunk
        del tail[: -self._kept]
        self.exceeded = self.exceeded or self._total > self._cap
        return not self.exceeded

    def text(self, stream: str) -> str:
        return self._tails[stream].decode("utf-8", errors="replace")


class ProgramPool:
    """The warm workers of this process, one per program version, started at a program's first job."""

    def __init__(self, config: SandboxConfig, folder: Path, archive_limits: ArchiveLimits | None = None) -> None:
        config.check()
        self._config = config
        self._folder = folder
        self._archive_limits = archive_limits or ArchiveLimits()
        self._libraries = allowed_library_items()
        self._workers: dict[Program, Worker] = {}
        self._locks: dict[Program, threading.Lock] = {}
        self._guard = threading.Lock()
        self._names = itertools.count(1)
        self._uids: set[int] = set()

    def run(self, program: Program, submission: Path, context: dict[str, Any] | None = None) -> ProgramResult:
        """Score one submission with the program's warm worker (started, or replaced, as needed)."""
        with self._lock_for(program):
            worker = self._workers.get(program)
            if worker is None or not worker.alive:
                try:
                    worker = self._start(program)
                except WorkerUnavailable as unavailable:
                    return unavailable.result
            result = worker.run(submission, context or {}, self._archive_limits)
            if not worker.alive:
                self._retire(program)
            return result

    def workers(self) -> int:
        return sum(worker.alive for worker in self._workers.values())

    def retire(self, program: Program) -> None:
        """Stop the program's worker, if it has one, once its current job is done: a version no longer used."""
        with self._lock_for(program):
            self._retire(program)
        with self._guard:
            self._locks.pop(program, None)

    def _lock_for(self, program: Program) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(program, threading.Lock())

    def _start(self, program: Program) -> Worker:
        self._retire(program)
        folder = self._folder / f"worker-{next(self._names)}"
        folder.mkdir(mode=0o700, parents=True)
        uid = self._take_uid()
        try:
            worker = Worker(program, self._config, self._libraries, folder, uid)
        except WorkerUnavailable:
            self._give_back(uid)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._workers[program] = worker
        return worker

    def _retire(self, program: Program) -> None:
        worker = self._workers.pop(program, None)
        if worker is not None:
            worker.close()
            self._give_back(worker.uid)
            shutil.rmtree(worker.folder, ignore_errors=True)

    def _take_uid(self) -> int | None:
        """A uid no other worker holds, when the runner can switch to it (root, sandboxed)."""
        if os.geteuid() != 0 or self._config.isolation is not Isolation.BUBBLEWRAP:
            return None
        with self._guard:
            for uid in range(self._config.first_uid, self._config.first_uid + self._config.uid_count):
                if uid not in self._uids:
                    self._uids.add(uid)
                    return uid
        raise RuntimeError(f"all {self._config.uid_count} sandbox uids are taken by running workers")

    def _give_back(self, uid: int | None) -> None:
        if uid is not None:
            with self._guard:
                self._uids.discard(uid)

    def close(self) -> None:
        for program in list(self._workers):
            self._retire(program)


def check_program(pool: ProgramPool, program: Program, sample: Path) -> ProgramResult:
    """The run at upload: the program on the host's sample submission. A module the pool lacks is named in
    `missing_module` and in the reason, so the program is refused now rather than at a participant's submission."""
    result = pool.run(program, sample, {"check": True})
    if result.ok:
        return result
    return replace(result, host_reason=f"the program failed on the sample submission: {result.host_reason}")
