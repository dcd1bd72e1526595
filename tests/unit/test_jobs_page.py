"""docs/jobs.md names, for every host and participant job, the test that covers it: each named test exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEST_ID = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def test_every_test_the_jobs_page_names_exists() -> None:
    named = TEST_ID.findall((ROOT / "docs" / "jobs.md").read_text(encoding="utf-8"))
    assert len(named) >= 30
    missing = []
    for path, name in named:
        module = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        defined = {node.name for node in module.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
        if name not in defined:
            missing.append(f"{path}::{name}")
    assert not missing, f"docs/jobs.md names tests that do not exist: {missing}"
