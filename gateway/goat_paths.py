"""MLS-GOAT's clients (`submit.py`, `leaderboard.py`, its frontend) call the API at `<host>/api`: their deployment's
proxy stripped the prefix. Each of its routes is declared here once and served both at the root and under `/api`,
so the two never drift apart. Podium's own API lives under `/api/v1`, which no twin can shadow (`API_V1`)."""

from __future__ import annotations

GOAT_PREFIX = "/api"
API_V1 = "/api/v1"


def goat_paths(*paths: str) -> list[str]:
    """`paths` (MLS-GOAT's, unprefixed) and each one under `/api`."""
    for path in paths:
        if not path.startswith("/") or path.startswith(("/api/", "/v1/")) or path == "/v1":
            raise ValueError(f"{path!r} is not an unprefixed MLS-GOAT route")
    return [*paths, *(GOAT_PREFIX + path for path in paths)]
