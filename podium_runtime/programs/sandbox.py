"""The sandbox a host's program runs in: the bubblewrap command line (what the program sees of the machine), the
limits on it, and the explicitly weaker fallback for machines without bubblewrap.

With bubblewrap (`Isolation.BUBBLEWRAP`) a worker sees: /usr and the Python interpreter read-only, the allowed
libraries (numpy, scipy, pandas, scikit-learn, scikit-image, pillow and what they need) read-only, the program, the
ground truth and the current job's submission read-only, one size-capped tmpfs at /tmp, its own /proc and /dev. No
network (a new network namespace with only a loopback that is down), no /etc, no /root, no /work, no other task's
files, and an empty environment. It runs as an unprivileged uid of its own (RLIMIT_NPROC only counts for a uid that
is not root, and a uid per worker keeps one worker's fork bomb from using up another's processes).

Without bubblewrap (`Isolation.RLIMITS_ONLY`, WEAKER, chosen only by setting it): the same harness, limits and
empty environment, but the program runs as the runner's own user and sees everything that user may read (other
tasks' ground truth included) and has the network. For a trusted host's own machine, never for a shared platform.
"""

from __future__ import annotations

import enum
import importlib.metadata
import os
import resource
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

MiB = 1 << 20

ALLOWED_LIBRARIES = ("numpy", "scipy", "pandas", "scikit-learn", "scikit-image", "pillow")
"""What a program may import besides the standard library (and these libraries' own requirements)."""

HARNESS = Path(__file__).with_name("harness.py")
PARTICIPANT_MODULE = Path(__file__).with_name("participant.py")

# Where things are inside the sandbox. The interpreter keeps its own path: its libpython is found by an absolute
# RPATH.
SANDBOX_PROGRAM = "/podium/program"
SANDBOX_INPUT = "/podium/input"
SANDBOX_TMP = "/tmp"
SANDBOX_SITE_PACKAGES = "/opt/podium/site-packages"
SANDBOX_LIB = "/opt/podium/lib"
SANDBOX_HARNESS = "/opt/podium/harness.py"

# One worker = the harness process (uid-switched) itself; its job's processes come on top of it.
_WORKER_OWN_PROCESSES = 1


class Isolation(enum.Enum):
    BUBBLEWRAP = "bubblewrap"
    RLIMITS_ONLY = "rlimits-only"
    """WEAKER: rlimits and an empty environment only; the program sees the machine as the runner's user does."""


class SandboxUnavailable(RuntimeError):
    """The configured isolation cannot be had on this machine (said at start, never worked around silently)."""


@dataclass(frozen=True)
class ProgramLimits:
    """A task's limits on one run of its program. Memory, CPU and file size hold per process; processes, per
    worker."""

    wall_seconds: float = 60.0
    cpu_seconds: int = 60
    memory_bytes: int = 2048 * MiB
    """RLIMIT_AS: address space, which includes the imported libraries (numpy + scipy take about 300 MiB)."""
    file_bytes: int = 64 * MiB
    """RLIMIT_FSIZE: the largest file the program may write (in its tmpfs)."""
    tmp_bytes: int = 256 * MiB
    """Size of the writable tmpfs."""
    processes: int = 16
    """Processes and threads of one job (RLIMIT_NPROC of the worker's uid)."""
    output_bytes: int = 8 * MiB
    """stdout + stderr a job may print; past this it is stopped (its pipes are closed)."""
    kept_output_bytes: int = 64 * 1024
    """The tail of stdout and of stderr kept for the host's log."""
    startup_seconds: float = 120.0
    """Time for a worker to start and import the program (pandas and scikit-learn take seconds on a busy core)."""


@dataclass(frozen=True)
class SandboxConfig:
    """How programs are isolated on this machine: a setting, never a silent fallback."""

    isolation: Isolation = Isolation.BUBBLEWRAP
    bwrap: str = "bwrap"
    first_uid: int = 61000
    """Workers run as first_uid, first_uid + 1, …: uids no one else uses (when the runner is root)."""
    uid_count: int = 1000

    def check(self) -> None:
        if self.isolation is Isolation.BUBBLEWRAP and shutil.which(self.bwrap) is None:
            raise SandboxUnavailable(
                f"bubblewrap ({self.bwrap!r}) is not installed: `make` installs Debian's bubblewrap (apt-get install "
                "bubblewrap); or set the isolation to 'rlimits-only' to accept the weaker fallback knowingly"
            )


@dataclass(frozen=True)
class WorkerMounts:
    """The host paths one worker is given, and the host fds that stand for them."""

    program_dir: Path
    truth: Path
    inbox: Path
    """The job's submission folder (INPUT/res): refilled by the runner before each job."""


def allowed_library_items(libraries: tuple[str, ...] = ALLOWED_LIBRARIES) -> list[Path]:
    """The top-level files and folders of the allowed distributions and of everything they require, as installed
    in this interpreter's environment (packages, their `.libs` folders of shared objects, their metadata)."""
    items: dict[Path, None] = {}
    seen: set[str] = set()
    pending = list(libraries)
    while pending:
        name = canonicalize_name(pending.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # an optional requirement not installed: the program cannot import it either
        for requirement in map(Requirement, distribution.requires or ()):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
        for item in _top_level_items(distribution):
            items[item] = None
    return sorted(items)


def _top_level_items(distribution: importlib.metadata.Distribution) -> Iterator[Path]:
    root = Path(str(distribution.locate_file(""))).resolve()
    for file in distribution.files or ():
        parts = Path(file).parts
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith(".pth"):
            continue
        item = root / parts[0]
        if item.exists():
            yield item


def interpreter() -> tuple[Path, Path]:
    """The real interpreter binary and its installation prefix (outside any virtualenv)."""
    return Path(os.path.realpath(sys.executable)), Path(sys.base_prefix).resolve()


def bubblewrap_command(
    config: SandboxConfig, mounts: WorkerMounts, libraries: list[Path], limits: ProgramLimits
) -> list[str]:
    """The bwrap command line of a worker, up to (not including) the harness's own arguments."""
    executable, prefix = interpreter()
    privileged = os.geteuid() == 0
    command = [config.bwrap]
    if privileged:
        # No user namespace: as root, bwrap's mapping would keep the program at kernel uid 0, for which RLIMIT_NPROC
        # does not count. The harness switches to the worker's own uid instead, with only the two caps it needs.
        command += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        command += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        command += ["--unshare-all"]
    command += ["--die-with-parent", "--new-session", "--clearenv"]
    command += ["--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            command += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
    command += ["--proc", "/proc", "--dev", "/dev"]
    command += ["--size", str(limits.tmp_bytes), "--perms", "1777", "--tmpfs", SANDBOX_TMP]
    binds: list[tuple[Path, str]] = [(prefix, str(prefix))]
    binds += [(item, f"{SANDBOX_SITE_PACKAGES}/{item.name}") for item in libraries]
    binds += [
        (PARTICIPANT_MODULE, f"{SANDBOX_LIB}/podium_runtime/programs/participant.py"),
        (HARNESS, SANDBOX_HARNESS),
        (mounts.program_dir, SANDBOX_PROGRAM),
        (mounts.truth, sandbox_truth(mounts.truth)),
        (mounts.inbox, f"{SANDBOX_INPUT}/res"),
    ]
    made: set[str] = {"/", "/usr", "/proc", "/dev", SANDBOX_TMP}
    for source, destination in binds:
        for parent in reversed(Path(destination).parents):
            if str(parent) not in made:
                # bwrap makes missing parents 0700 (root's): the worker's uid could not walk through them.
                command += ["--perms", "0755", "--dir", str(parent)]
                made.add(str(parent))
        command += ["--ro-bind", str(source), destination]
        made.add(destination)
    # The base installation's own site-packages (pip, setuptools…) is not among the allowed libraries.
    base_site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    if base_site.is_dir():
        command += ["--tmpfs", str(base_site), "--remount-ro", str(base_site)]
    for name, value in sandbox_environment().items():
        command += ["--setenv", name, value]
    command += ["--chdir", SANDBOX_TMP, "--", str(executable), "-I", "-S", SANDBOX_HARNESS]
    return command


def sandbox_truth(truth: Path) -> str:
    """Where the ground truth is inside the sandbox: INPUT/ref itself for a folder, a file of INPUT/ref for a
    file (under its own name, which programs often look for)."""
    return f"{SANDBOX_INPUT}/ref" if truth.is_dir() else f"{SANDBOX_INPUT}/ref/{truth.name}"


def sandbox_environment() -> dict[str, str]:
    """The whole environment a program gets: nothing of the service's. One thread per numerical library, so
    a job's threads stay within its process limit and its CPU share."""
    one_thread = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    return {"HOME": SANDBOX_TMP, "TMPDIR": SANDBOX_TMP, "LANG": "C.UTF-8", "PATH": "/usr/bin", **one_thread}


def worker_rlimits(limits: ProgramLimits, *, own_uid: bool) -> dict[int, tuple[int, int]]:
    """The limits set on the worker as it starts (its jobs inherit them; CPU time is set per job by the harness,
    since the worker's own import time must not count against a job)."""
    processes = limits.processes + _WORKER_OWN_PROCESSES
    rlimits = {
        resource.RLIMIT_AS: (limits.memory_bytes, limits.memory_bytes),
        resource.RLIMIT_FSIZE: (limits.file_bytes, limits.file_bytes),
        resource.RLIMIT_CORE: (0, 0),
    }
    if own_uid:
        # Counted per uid: only meaningful for a uid of the worker's own (see SandboxConfig.first_uid).
        rlimits[resource.RLIMIT_NPROC] = (processes, processes)
    return rlimits


def apply_rlimits(rlimits: dict[int, tuple[int, int]]) -> None:
    for which, value in rlimits.items():
        resource.setrlimit(which, value)
