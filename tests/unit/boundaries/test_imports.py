"""Import boundaries: services never import each other; `proto` imports nothing but msgspec and the
standard library; the shared runtime imports no service; the `podium` CLI talks to the public API only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SERVICES = ("gateway", "auth_service", "submission_service", "cpu_scorer", "gpu_scorer", "leaderboard_service")
FIRST_PARTY = (*SERVICES, "proto", "podium_runtime", "deploy", "podium_cli")


def imported_top_levels(package: str) -> dict[str, set[str]]:
    """Top-level module names imported by each file of `package`."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_only_proto_and_the_runtime(service: str) -> None:
    allowed = {service, "proto", "podium_runtime"}
    for path, names in imported_top_levels(service).items():
        assert names & set(FIRST_PARTY) <= allowed, f"{path} imports {sorted(names & set(FIRST_PARTY) - allowed)}"


def test_proto_depends_on_msgspec_and_the_standard_library_only() -> None:
    for path, names in imported_top_levels("proto").items():
        foreign = {n for n in names if n not in sys.stdlib_module_names and n not in {"msgspec", "proto", "__future__"}}
        assert not foreign, f"{path} imports {sorted(foreign)}"


def test_the_runtime_imports_no_service() -> None:
    for path, names in imported_top_levels("podium_runtime").items():
        assert not names & {*SERVICES, "deploy"}, f"{path} imports {sorted(names & {*SERVICES, 'deploy'})}"


def test_the_cli_imports_no_service_and_the_platform_only_for_up_and_demo() -> None:
    # `podium up`/`podium demo` run or seed the platform (deploy); every other command is an API client, which may
    # read the API's contracts (`proto`, msgspec only: e.g. the WebSocket's messages, `proto.live`).
    for path, names in imported_top_levels("podium_cli").items():
        allowed = {"podium_cli", "deploy", "proto"} if path == "podium_cli/dev.py" else {"podium_cli", "proto"}
        assert names & set(FIRST_PARTY) <= allowed, f"{path} imports {sorted(names & set(FIRST_PARTY) - allowed)}"
