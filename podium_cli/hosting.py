"""The hosts' commands for the competition as data: `podium admin competition apply|show|history` (a TOML or JSON
file made the competition declaratively: the diff first, then the question, then the change, guarded by the version
the diff was made against), `podium admin ground-truth put` (a task's ground truth through a presigned upload,
recorded with its sha256 in a new version) and `podium admin program put` (a program task's scoring program, checked
on a sample submission before it is applied)."""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx
import msgspec
from rich.console import Console
from rich.text import Text

from podium_cli import tables
from podium_cli.client import ApiError, PodiumClient
from podium_cli.importing import import_codabench
from podium_cli.participant import print_json
from podium_cli.session import Session, pass_session
from podium_cli.submitting import CHUNK_BYTES, send_file
from proto.competition import Competition, to_toml

COMPETITION = "/api/v1/admin/competition"
# How a file's suffix says what it holds; the gateway reads any non-JSON body as TOML.
MEDIA_TYPES = {".toml": "application/toml", ".json": "application/json"}
# Completing a ground-truth upload reads the whole file back and checks it against the task (up to 2 GiB); completing
# a program upload may run the program on the sample (its worker's start included).
COMPLETE_TIMEOUT_S = 300.0
# A folder zipped by the CLI is the same bytes for the same files: the same program, the same digest.
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# Left out of a zipped folder: what Python and editors leave behind, never a program's own file.
_SKIPPED = ("__pycache__", ".git", ".ipynb_checkpoints", ".DS_Store")
# The tail of a program's output printed after its check.
_OUTPUT_LINES = 20


@click.group(short_help="The competition's definition: apply a file, show it, its history.")
def competition() -> None:
    """The competition's definition (tasks, phases, quotas, metrics, ground truth) as versioned data: every change
    is a new version that the whole platform uses within a second, without a restart."""


competition.add_command(import_codabench)


def read_document(path: Path) -> tuple[bytes, str]:
    """The file's bytes and media type (by its suffix: .toml or .json)."""
    media_type = MEDIA_TYPES.get(path.suffix.lower())
    if media_type is None:
        raise click.ClickException(f"{path}: give a .toml or a .json file (`podium admin competition show --toml` "
                                   "writes the current one)")
    if not path.is_file():
        raise click.ClickException(f"{path}: no such file")
    return path.read_bytes(), media_type


def version_of(response: httpx.Response) -> int:
    """The competition version an answer's ETag names (`"7"`, or weak `W/"7"`)."""
    tag = response.headers.get("etag", "").removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise click.ClickException(f"{response.request.url} answered without the competition's version (ETag); "
                                   "is this Podium up to date?")
    return int(tag)


def _put(client: PodiumClient, path: Path, body: bytes, media_type: str, version: int, *,
         dry_run: bool) -> dict[str, Any]:
    try:
        response = client.request("PUT", COMPETITION, params={"dry_run": "true"} if dry_run else None, content=body,
                                  headers={"content-type": media_type, "if-match": f'"{version}"'})
    except ApiError as error:
        raise _refusal(client, path, version, error) from None
    return response.json()


def _refusal(client: PodiumClient, path: Path, version: int, error: ApiError) -> click.ClickException:
    """A refused apply, in words a host can act on: where the document is wrong, or who changed what meanwhile."""
    if error.status == 422:
        where = ", ".join(f"{name} {error.problem[name]}" for name in ("task", "field") if error.problem.get(name))
        detail = error.detail if not where or error.detail.startswith(where) else f"{where}: {error.detail}"
        return click.ClickException(f"{path.name} was refused, nothing changed: {detail}")
    if error.status == 412:
        now = error.problem.get("current_version")
        lines = [f"someone changed the competition meanwhile: it is at version {now} now, not {version} (the "
                 "version the diff was made against); nothing was applied"]
        if isinstance(now, int):
            lines += _version_summary(client, now)
        lines.append(f"run `podium admin competition apply {path}` again to see the diff against version {now}")
        return click.ClickException("\n".join(lines))
    return error


def _version_summary(client: PodiumClient, number: int) -> list[str]:
    try:
        found = client.get(f"{COMPETITION}/versions/{number}")
    except ApiError:
        return []
    return [f"version {number}, by {found['created_by']} at {tables.when(found['created_at'])}:",
            *(f"  {change}" for change in found.get("changes") or ())]


def _stale_lines(console: Console, applied: dict[str, Any]) -> None:
    """Each task whose scoring identity changes, with how many scores that leaves behind and the rescore to run."""
    changed = applied.get("identity_changed") or []
    if not changed:
        return
    console.print(Text(f"Scoring identity changes: {', '.join(changed)}", style="bold magenta"))
    for task_id in changed:
        count = (applied.get("stale") or {}).get(task_id, 0)
        were = "scored submission was" if count == 1 else "scored submissions were"
        line = Text(f"  task {task_id}: {count} {were} scored under an older definition", style="yellow")
        if count:
            line.append(f"; rescore them with `podium admin rescore {task_id}`", style="bold")
        else:
            line.append(" (nothing to rescore)", style="dim")
        console.print(line)


def _notes(console: Console, applied: dict[str, Any]) -> None:
    for note in applied.get("notes") or ():
        if "nothing changed" not in note:  # said once, in our own words
            console.print(Text(f"note: {note}", style="yellow"))


@competition.command("apply", short_help="Make a TOML or JSON file the competition (diff, ask, apply).")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--yes", "-y", is_flag=True, help="Apply without asking (the diff is still printed).")
@pass_session
def apply(session: Session, file: Path, yes: bool) -> None:
    """Make FILE (.toml, or .json) the competition: declarative and idempotent.

    Prints the diff from the current version (one line per change), the tasks whose scoring identity changes and
    how many scored submissions that leaves scored under an older definition (with the rescore to run), then asks
    before applying. The change is applied only if nobody changed the competition since the diff was made.
    Applying the same file again changes nothing and says so.

    Exit status: 0 when applied or when nothing changes; 1 when the file is refused (the task and field are
    named), when someone changed the competition meanwhile, or when the answer is no.
    """
    client, console = session.client, session.console
    body, media_type = read_document(file)
    version = version_of(client.request("GET", COMPETITION))
    dry = _put(client, file, body, media_type, version, dry_run=True)
    if not dry["changed"]:
        _notes(console, dry)
        console.print(f"nothing changed (version {dry['version']}): {file.name} is the competition already")
        return
    console.print(Text(f"{file.name} changes version {version}:", style="bold"))
    for change in dry["changes"]:
        console.print(tables.change_line(change))
    _notes(console, dry)
    _stale_lines(console, dry)
    if not yes and not click.confirm("Apply?", default=False):
        console.print("Not applied: nothing changed.")
        raise SystemExit(1)
    applied = _put(client, file, body, media_type, version, dry_run=False)
    console.print(Text.assemble(("✓ ", "green"), f"applied: version {applied['version']} is the competition now"))
    for task_id in applied.get("identity_changed") or []:
        if count := (applied.get("stale") or {}).get(task_id, 0):
            console.print(f"  next: `podium admin rescore {task_id}` ({count} submissions scored under an older "
                          "definition)")


@competition.command("show", short_help="The current (or an earlier) version: a table, or the TOML.")
@click.option("--version", "number", type=click.IntRange(min=1), metavar="N", help="Version N instead of the "
              "current one (`podium admin competition history` lists them).")
@click.option("--toml", "as_toml", is_flag=True, help="The document as a TOML file to edit and apply again.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of a table.")
@pass_session
def show(session: Session, number: int | None, as_toml: bool, as_json: bool) -> None:
    """Show the competition: one row per task (kind, metric, quota, the phase now, the ground truth's digest,
    the scoring identity, and how many scored submissions were scored under an older one), or with --toml the
    document itself: `podium admin competition show --toml > competition.toml`, edit, apply."""
    client = session.client
    if as_toml and as_json:
        raise click.UsageError("--toml and --json are two ways to print the same thing: choose one")
    if as_toml and number is None:
        click.echo(client.request("GET", COMPETITION, params={"format": "toml"}).text, nl=False)
        return
    document = client.get(f"{COMPETITION}/versions/{number}" if number else COMPETITION)
    if as_toml:
        click.echo(to_toml(msgspec.convert(document["competition"], Competition)), nl=False)
    elif as_json:
        print_json(document)
    else:
        session.console.print(tables.competition_table(document, datetime.now(UTC), current=number is None))


@competition.command("history", short_help="Every version: when, who, what changed.")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of a table.")
@pass_session
def history(session: Session, as_json: bool) -> None:
    """List the competition's versions, newest first: when each was made, by whom, and what it changed."""
    found = session.client.get(f"{COMPETITION}/versions")
    if as_json:
        print_json(found)
    else:
        session.console.print(tables.history_table(found["versions"]))


@click.group("ground-truth", short_help="Put a task's ground truth.")
def ground_truth() -> None:
    """A task's ground truth: what its submissions are scored against."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


@ground_truth.command("put", short_help="Upload a task's ground truth (a new version).")
@click.argument("task")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@pass_session
def put(session: Session, task: str, file: Path) -> None:
    """Upload FILE as TASK's ground truth: a ZIP of `<sample>.npy` (one array of the task's shape per sample) for a
    tensor task, an `.npz` with `x` and `y` for a model task.

    The file goes straight to storage through a presigned URL (with a progress bar); the platform then checks it
    against the task and, if it fits, records its sha256 in a new version. A file that does not fit is refused
    with the reason and changes nothing (exit status 1). A new file is a new scoring identity: the scores made
    with the old one stay, and the command says how many there are and how to rescore them.
    """
    client, console = session.client, session.console
    if not file.is_file():
        raise click.ClickException(f"{file}: no such file")
    size = file.stat().st_size
    if size == 0:
        raise click.ClickException(f"{file} is empty")
    task_id = client.task(task)["id"]
    with console.status(f"hashing {file.name}…"):
        sha256 = _sha256(file)
    ticket = client.post(f"/api/v1/admin/tasks/{task_id}/ground-truth",
                         json={"size_bytes": size, "filename": file.name, "sha256": sha256})
    if send_file(client, ticket["upload_url"], file, size, console) != sha256:
        raise click.ClickException(f"{file} changed while it was being uploaded; put it again once it is written")
    with console.status(f"checking {file.name} against task {task_id}…"):
        try:
            applied = client.post(f"/api/v1/admin/tasks/{task_id}/ground-truth/complete",
                                  json={"upload_id": ticket["upload_id"]},
                                  timeout=httpx.Timeout(COMPLETE_TIMEOUT_S, connect=10.0))
        except ApiError as error:
            if error.status != 422:
                raise
            raise click.ClickException(f"{file.name} was refused as the ground truth of {task_id}, nothing "
                                       f"changed: {error.detail}") from None
    if not applied["changed"]:
        console.print(f"nothing changed (version {applied['version']}): task {task_id} uses this file already "
                      f"(sha256 {sha256[:12]})")
        return
    console.print(Text.assemble(("✓ ", "green"), f"the ground truth of {task_id} is now {file.name} ({size:,} bytes, "
                                                 f"sha256 {sha256[:12]}): version {applied['version']}"))
    for change in applied["changes"]:
        console.print(tables.change_line(change))
    _stale_lines(console, applied)


@click.group("program", short_help="Put a program task's scoring program.")
def program() -> None:
    """A program task's scoring program (`metric = "program"`): the host's own Python, run in a sandbox. The function
    contract is `score(truth, submission, context) -> {"public": {...}, "private": {...}, "details": {...}}` in
    score.py; the Codabench contract is `python score.py INPUT OUTPUT`."""


def program_file(path: Path, folder: Path) -> Path:
    """What is uploaded for PATH: a .py or .zip as it is, a folder as a flat ZIP of its files (written in `folder`)."""
    if path.is_dir():
        return _zip_folder(path, folder / f"{path.name or 'program'}.zip")
    if not path.is_file():
        raise click.ClickException(f"{path}: no such file or folder")
    if path.suffix.lower() not in (".py", ".zip"):
        raise click.ClickException(f"{path}: give score.py (a .py file), a folder holding score.py, or a .zip of one")
    if path.stat().st_size == 0:
        raise click.ClickException(f"{path} is empty")
    return path


def _zip_folder(source: Path, target: Path) -> Path:
    files, folders = [], []
    for entry in sorted(source.iterdir()):
        if entry.name in _SKIPPED:
            continue
        (folders if entry.is_dir() else files).append(entry)
    if folders:
        raise click.ClickException(f"{source} holds folders ({', '.join(f.name for f in folders[:5])}): a program is "
                                   "flat, score.py and the files it reads side by side")
    if "score.py" not in {entry.name for entry in files}:
        raise click.ClickException(f"{source} has no score.py: the program's entry point is score.py")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in files:
            member = zipfile.ZipInfo(entry.name, date_time=_FIXED_TIME)
            member.external_attr = 0o100644 << 16
            member.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(member, entry.read_bytes())
    return target


def _tail(text: str) -> list[str]:
    # A traceback's own header says nothing our heading does not ("the program's traceback").
    lines = [line for line in text.rstrip("\n").splitlines() if line != "Traceback (most recent call last):"]
    return lines[-_OUTPUT_LINES:] if text.strip() else []


def _print_output(console: Console, found: dict[str, Any]) -> None:
    """The tail of the program's stdout and stderr (and its traceback), as the host reads them."""
    for stream in ("stdout", "stderr", "traceback"):
        if lines := _tail(str(found.get(stream) or "")):
            console.print(Text(f"the program's {stream} (last {len(lines)} lines):", style="bold"))
            for line in lines:
                console.print(Text(f"  {line}", style="dim"))


@program.command("put", short_help="Upload a task's scoring program, checked on a sample (a new version).")
@click.argument("task")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--sample", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="A submission to run the program on before it is applied (against the task's ground truth).")
@click.option("--yes", "-y", is_flag=True, help="Put it without asking.")
@pass_session
def put_program(session: Session, task: str, path: Path, sample: Path | None, yes: bool) -> None:
    """Upload PATH as TASK's scoring program: score.py itself, a folder holding score.py (zipped flat), or a .zip
    with score.py at its root.

    With --sample FILE, the platform runs the program once on FILE against the task's ground truth before anything
    changes: a program that fails (a module the platform does not offer, an exception, columns that are not the
    task's) is refused with the reason and its traceback, and nothing changes (exit status 1). The values it gave
    the sample and the tail of its output are printed. Without --sample the program is stored unchecked.

    A new program is a new scoring identity: scores made with the old one stay, and the command says how many
    there are and how to rescore them.
    """
    client, console = session.client, session.console
    if sample is not None and not sample.is_file():
        raise click.ClickException(f"{sample}: no such file")
    task_id = client.task(task)["id"]
    with tempfile.TemporaryDirectory(prefix="podium-program-") as scratch:
        upload = program_file(path, Path(scratch))
        with console.status(f"hashing {upload.name}…"):
            sha256 = _sha256(upload)
            sample_sha256 = _sha256(sample) if sample is not None else ""
        size = upload.stat().st_size
        check = f"checked on {sample.name} first" if sample is not None else "stored unchecked (no --sample)"
        console.print(f"{upload.name} ({size:,} bytes, sha256 {sha256[:12]}) as the scoring program of {task_id}: "
                      f"{check}")
        if not yes and not click.confirm("Put it?", default=False):
            console.print("Not put: nothing changed.")
            raise SystemExit(1)
        body: dict[str, Any] = {"size_bytes": size, "filename": upload.name, "sha256": sha256}
        if sample is not None:
            body["sample"] = {"size_bytes": sample.stat().st_size, "filename": sample.name, "sha256": sample_sha256}
        ticket = client.post(f"/api/v1/admin/tasks/{task_id}/program", json=body)
        if send_file(client, ticket["upload_url"], upload, size, console) != sha256:
            raise click.ClickException(f"{upload} changed while it was being uploaded; put it again once it is written")
    if sample is not None and send_file(client, ticket["sample_upload_url"], sample, sample.stat().st_size,
                                        console) != sample_sha256:
        raise click.ClickException(f"{sample} changed while it was being uploaded; put it again once it is written")
    applied = _complete_program(session, task_id, upload.name, ticket["upload_id"], sample)
    _program_put(console, task_id, upload.name, applied, sample)


def _complete_program(session: Session, task_id: str, name: str, upload_id: str,
                      sample: Path | None) -> dict[str, Any]:
    doing = f"running {name} on {sample.name}" if sample is not None else f"storing {name}"
    with session.console.status(f"{doing}…"):
        try:
            return session.client.post(f"/api/v1/admin/tasks/{task_id}/program/complete",
                                       json={"upload_id": upload_id},
                                       timeout=httpx.Timeout(COMPLETE_TIMEOUT_S, connect=10.0))
        except ApiError as error:
            if error.status != 422:
                raise
            _print_output(session.console, error.problem)
            raise click.ClickException(f"{name} was refused as the scoring program of {task_id}, nothing changed: "
                                       f"{error.detail}") from None


def _program_put(console: Console, task_id: str, name: str, applied: dict[str, Any], sample: Path | None) -> None:
    if sample is not None:
        values = ", ".join(f"{column} {value:g}" for column, value in applied["public"].items())
        console.print(Text.assemble(("✓ ", "green"), f"the program ran on {sample.name}: public {values}"))
        _print_output(console, applied)
    if not applied["changed"]:
        console.print(f"nothing changed (version {applied['version']}): task {task_id} uses this program already "
                      f"(sha256 {applied['sha256'][:12]})")
        return
    console.print(Text.assemble(("✓ ", "green"), f"the scoring program of {task_id} is now {name} (sha256 "
                                                 f"{applied['sha256'][:12]}): version {applied['version']}"))
    for change in applied["changes"]:
        console.print(tables.change_line(change))
    _notes(console, applied)
    _stale_lines(console, applied)
