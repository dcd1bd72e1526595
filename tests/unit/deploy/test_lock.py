"""One committed lock (uv.lock) for every extra and the Triton venv: it must agree with pyproject.toml, and the
environments the Makefile builds install exactly what it says."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
UV = ROOT / ".venv-uv" / "bin" / "uv"


def uv(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    if not UV.exists():
        pytest.fail("no .venv-uv: `make test` creates it (uv, pinned in the Makefile)")
    return subprocess.run([str(UV), *args], cwd=ROOT, capture_output=True, text=True,  # noqa: S603
                          env={**os.environ, **env}, timeout=120)


def test_the_lock_agrees_with_pyproject() -> None:
    """`make lock` was run after the last change to the dependencies (offline: the lock alone must do)."""
    checked = uv("lock", "--check", "--offline")
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(("venv", "extra"), [(".venv", "dev"), (".venv-triton", "triton")])
def test_each_venv_holds_exactly_the_locked_versions(venv: str, extra: str) -> None:
    options = ["--no-install-project"] if extra == "triton" else []
    checked = uv("sync", "--frozen", "--extra", extra, *options, "--check", UV_PROJECT_ENVIRONMENT=venv)
    assert checked.returncode == 0, checked.stderr


def test_the_makefile_installs_only_from_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "pip install -e" not in makefile and "nvidia-pytriton==" not in makefile
    assert makefile.count("sync --frozen") == 2
