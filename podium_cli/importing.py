"""`podium admin competition import-codabench BUNDLE.zip`: a Codabench (or CodaLab) bundle made part of the
competition the way `apply` makes a file the competition (the diff, the question, the change), then each task's
reference data put as its ground truth and its scoring program put, through the admin API's presigned uploads."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import msgspec
from rich.console import Console
from rich.text import Text

from podium_cli import codabench, tables
from podium_cli.client import ApiError, PodiumClient
from podium_cli.session import Session, pass_session
from podium_cli.submitting import CHUNK_BYTES
from proto.competition import Competition

COMPETITION = "/api/v1/admin/competition"
# A bundle is read whole into memory; the platform takes a ground truth of at most 2 GiB.
MAX_BUNDLE_BYTES = 2 * 1024**3
# Completing an upload reads the file back and checks it against the task.
COMPLETE_TIMEOUT_S = 300.0


@click.command("import-codabench", short_help="Import a Codabench bundle: diff, ask, apply, put its files.")
@click.argument("bundle", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (the diff is still printed).")
@pass_session
def import_codabench(session: Session, bundle: Path, yes: bool) -> None:
    """Import BUNDLE (a Codabench competition bundle, or an older CodaLab one) into the competition.

    Each task of the bundle becomes a task scored by its own program (`metric = "program"`, format `file`, the
    Codabench contract): the title, the pages as its description, the phases with their dates, the first
    leaderboard's columns with their sorting. What Podium does not take (ingestion programs, a Docker image that is
    not a Python one, more leaderboards, …) is listed first. Then, like `apply`: the diff, the question, the change;
    tasks already there with the same id are replaced, the others stay. Last, each task's reference data is put as
    its ground truth and its scoring program as its program.

    Exit status: 0 when everything was imported (or was already); 1 when the bundle or a file is refused, when the
    answer is no, or when a file could not be put (the rest is still put).
    """
    # hosting.py registers this command on its `competition` group: its apply flow is imported when it runs.
    from podium_cli import hosting  # noqa: PLC0415

    client, console = session.client, session.console
    try:
        imported = codabench.read_bundle(_read(bundle))
    except codabench.BundleRefused as refused:
        raise click.ClickException(f"{bundle.name} was refused, nothing changed: {refused}") from None
    if imported.unmapped:
        console.print(Text(f"Not mapped from {bundle.name}:", style="bold yellow"))
        for line in imported.unmapped:
            console.print(Text(f"  - {line}", style="yellow"))
    response = client.request("GET", COMPETITION)
    version = hosting.version_of(response)
    current = msgspec.convert(response.json()["competition"], Competition)
    body = msgspec.json.encode(codabench.merged(current, imported.competition))
    dry = hosting._put(client, bundle, body, "application/json", version, dry_run=True)  # noqa: SLF001
    if not dry["changed"]:
        console.print(f"nothing changed (version {dry['version']}): the competition has {bundle.name}'s tasks already")
    else:
        console.print(Text(f"{bundle.name} changes version {version}:", style="bold"))
        for change in dry["changes"]:
            console.print(tables.change_line(change))
        hosting._notes(console, dry)  # noqa: SLF001
        hosting._stale_lines(console, dry)  # noqa: SLF001
        if not yes and not click.confirm("Apply?", default=False):
            console.print("Not applied: nothing changed.")
            raise SystemExit(1)
        applied = hosting._put(client, bundle, body, "application/json", version, dry_run=False)  # noqa: SLF001
        console.print(Text.assemble(("✓ ", "green"), f"applied: version {applied['version']} is the competition now"))
    problems = [problem for files in imported.files for problem in _put_files(client, console, files)]
    for problem in problems:
        console.print(Text(f"✗ {problem}", style="red"))
    if problems:
        raise SystemExit(1)


def _read(bundle: Path) -> bytes:
    if not bundle.is_file():
        raise click.ClickException(f"{bundle}: no such file")
    size = bundle.stat().st_size
    if size > MAX_BUNDLE_BYTES:
        raise click.ClickException(f"{bundle} is {size:,} bytes; a bundle may be at most {MAX_BUNDLE_BYTES:,}")
    return bundle.read_bytes()


def _put_files(client: PodiumClient, console: Console, files: codabench.TaskFiles) -> list[str]:
    """Put a task's ground truth, then its program; what could not be put, one line each."""
    problems = []
    for what, data, put in (("ground truth", files.ground_truth, put_ground_truth),
                            ("program", files.program, put_program)):
        if data is None:
            continue
        try:
            put(client, console, files.task_id, data)
        except click.ClickException as error:
            problems.append(f"task {files.task_id}: the {what} was not put: {error.message}")
    return problems


def put_ground_truth(client: PodiumClient, console: Console, task_id: str, data: bytes) -> None:
    """The task's reference data as its ground truth (`POST …/ground-truth`, the presigned PUT, `…/complete`)."""
    applied = _upload(client, f"/api/v1/admin/tasks/{task_id}/ground-truth", "reference_data.zip", data)
    _said(console, applied, f"the ground truth of {task_id}", data)


def put_program(client: PodiumClient, console: Console, task_id: str, data: bytes) -> None:
    """The task's scoring program, a ZIP with score.py at its root (`POST …/program`, the presigned PUT,
    `…/program/complete`)."""
    route = f"/api/v1/admin/tasks/{task_id}/program"
    try:
        applied = _upload(client, route, "scoring_program.zip", data)
    except ApiError as error:
        if error.status not in (404, 405):
            raise
        raise click.ClickException(f"{error.detail} (HTTP {error.status}) at POST {route}: this Podium takes no "
                                   "scoring programs yet; upgrade it, then import the bundle again") from None
    _said(console, applied, f"the program of {task_id}", data)


def _upload(client: PodiumClient, route: str, filename: str, data: bytes) -> dict[str, Any]:
    sha256 = hashlib.sha256(data).hexdigest()
    ticket = client.post(route, json={"size_bytes": len(data), "filename": filename, "sha256": sha256})
    client.upload(ticket["upload_url"], _chunks(data), len(data))
    try:
        return client.post(f"{route}/complete", json={"upload_id": ticket["upload_id"]},
                           timeout=httpx.Timeout(COMPLETE_TIMEOUT_S, connect=10.0))
    except ApiError as error:
        if error.status != 422:
            raise
        raise click.ClickException(f"{filename} was refused: {error.detail}") from None


def _chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), CHUNK_BYTES):
        yield bytes(view[start : start + CHUNK_BYTES])


def _said(console: Console, applied: dict[str, Any], what: str, data: bytes) -> None:
    digest = hashlib.sha256(data).hexdigest()[:12]
    if not applied.get("changed", True):
        console.print(f"nothing changed: {what} is this file already (sha256 {digest})")
        return
    console.print(Text.assemble(("✓ ", "green"), f"{what} is now the bundle's ({len(data):,} bytes, sha256 "
                                                 f"{digest}): version {applied.get('version')}"))
    for change in applied.get("changes") or ():
        console.print(tables.change_line(change))
