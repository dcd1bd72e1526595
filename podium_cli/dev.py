"""The developers' commands: `podium up` runs the whole platform on this machine (what `make run` runs), and
`podium demo` fills a running platform with a few teams and scored submissions, so a newcomer sees a live board
at once. Both use the `deploy` package (and `proto` for the competition file), so they need Podium installed
with its services (`pip install 'podium[all]'`); every other command needs only the public API."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table
from rich.text import Text

from podium_cli import tables
from podium_cli.admin import find_team
from podium_cli.client import ApiError, PodiumClient
from podium_cli.session import Session, pass_session
from podium_cli.submitting import upload, wait_for_outcome

if TYPE_CHECKING:
    from proto.competition import Competition, Task

DEMO_ADMIN = ("admin", "podium-admin")  # what `make run` seeds (auth_service's DEMO_ADMIN), local only
TEAM_NAMES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
# Each team's prediction is the ground truth plus this much Gaussian noise: less noise, higher PSNR, so the
# board has a clear order.
NOISE_LEVELS = (0.02, 0.05, 0.08, 0.12, 0.17, 0.23, 0.3, 0.4)


def _needs_the_platform(exc: ImportError) -> click.ClickException:
    return click.ClickException(f"this command needs Podium installed with its services and the local stack "
                                f"(pip install 'podium[all]', or `make run` from a checkout): {exc}")


@click.command(short_help="Run the whole platform here (make run).")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), default=".podium-data",
              show_default=True, help="Where the stack keeps its data between runs.")
@click.option("--free-ports", is_flag=True, help="Pick free ports instead of the defaults (8000, 4222, 5433, "
              "8333, …), e.g. to run a second platform beside a first.")
def up(data_dir: Path, free_ports: bool) -> None:
    """Run the whole platform here: the embedded NATS, PostgreSQL and S3, then every service as its own process.

    The same as `make run` (`python -m deploy.run`): it seeds the demo competition's ground truth and the demo
    accounts, prints the gateway URL and the demo credentials, and runs until Ctrl-C, which stops everything.
    """
    try:
        from deploy import run as platform
    except ImportError as exc:
        raise _needs_the_platform(exc) from None
    argv = ["--data-dir", str(data_dir)] + (["--free-ports"] if free_ports else [])
    raise SystemExit(platform.main(argv))


def _default_competition_file() -> Path:
    import deploy

    return Path(deploy.__file__).resolve().parent / "competition.toml"


@dataclass(frozen=True)
class DemoTask:
    """A task `podium demo` submits to: the task as the platform describes it, and a team's file for a noise level
    and a seed (its name, its bytes)."""

    id: str
    remote: dict[str, Any]
    submission: Callable[[float, int], tuple[str, bytes]]


@click.command(short_help="Seed a running platform with demo teams.")
@click.option("--admin-name", envvar="PODIUM_DEMO_ADMIN_NAME", default=DEMO_ADMIN[0], show_default=True,
              help="An admin of the platform (the demo admin `make run` prints). [env: PODIUM_DEMO_ADMIN_NAME]")
@click.option("--admin-password", envvar="PODIUM_DEMO_ADMIN_PASSWORD", default=DEMO_ADMIN[1],
              show_default=True, help="Its password. [env: PODIUM_DEMO_ADMIN_PASSWORD]")
@click.option("--competition-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The platform's competition file (default: the demo's, deploy/competition.toml).")
@click.option("--task", "task_ids", multiple=True, help="A PSNR task or a binary csv task to submit to (repeat it "
              "for several; default: the file's first PSNR task and its first binary csv task).")
@click.option("--teams", "team_count", type=click.IntRange(1, len(TEAM_NAMES)), default=4, show_default=True,
              help="How many demo teams.")
@click.option("--prefix", default="demo", show_default=True, help="Demo team names are PREFIX-alpha, PREFIX-bravo…")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=300.0, show_default=True,
              help="How long to wait for the scores.")
@pass_session
def demo(session: Session, admin_name: str, admin_password: str, competition_file: Path | None,
         task_ids: tuple[str, ...], team_count: int, prefix: str, timeout_s: float) -> None:
    """Seed a running platform (--url) with a few teams and scored submissions, and show the boards.

    Logs in as an admin, creates the teams PREFIX-alpha, PREFIX-bravo, … (an existing one gets a new password),
    and submits for each, to the PSNR task, a prediction of its generated ground truth with a different amount of
    noise, and to the csv task (ROC AUC, log loss) probabilities of its generated solution with a different amount
    of noise, so each board has an order at once. Prints each team's password: log in as one and submit something
    better.
    """
    try:
        from proto.competition import parse_competition
    except ImportError as exc:
        raise _needs_the_platform(exc) from None
    competition_file = competition_file or _default_competition_file()
    try:
        competition = parse_competition(competition_file.read_bytes())
    except ValueError as exc:  # CompetitionError, a bad task id: the file is at fault
        raise click.ClickException(f"{competition_file}: {exc}") from None
    chosen = _chosen_tasks(competition, task_ids, competition_file)

    console = session.console
    admin_client = PodiumClient(session.url, session.store, timeout_s=session.timeout_s)
    try:
        try:
            admin_client.login(admin_name, admin_password, remember=False)
        except ApiError as error:
            raise click.ClickException(f"cannot log in as {admin_name!r} ({error.detail}); pass the platform's "
                                       "admin with --admin-name/--admin-password") from None
        tasks = [_demo_task(admin_client, task, competition_file) for task in chosen]
        rows = _seed(session, admin_client, tasks, prefix, team_count, timeout_s)
        _print_result(session, admin_client, tasks, rows)
    finally:
        admin_client.close()
    watched = " and ".join(f"`podium leaderboard {task.id} --watch`" for task in tasks)
    console.print(f"Next: `podium login --name {rows[0]['name']}` (password above), then {watched}, and "
                  f"`podium submit {tasks[0].id} FILE`.")


def _psnr_task(task: Task) -> bool:
    return task.kind == "cpu" and task.effective_format == "tensors" and task.metric == "psnr"


def _chosen_tasks(competition: Competition, task_ids: tuple[str, ...], competition_file: Path) -> list[Task]:
    """The tasks named (each a PSNR task or a csv task whose solution the demo generates), or by default the file's
    first PSNR task and its first such csv task."""
    from deploy.demo import can_generate_solution

    candidates = [t for t in competition.tasks if _psnr_task(t) or can_generate_solution(t)]
    if task_ids:
        chosen = []
        for task_id in task_ids:
            found = next((t for t in candidates if t.id == task_id or task_id in t.aliases), None)
            if found is None:
                known = ", ".join(t.id for t in candidates) or "none"
                raise click.ClickException(f"no PSNR or binary csv task {task_id!r} in {competition_file}; such "
                                           f"tasks: {known}")
            chosen.append(found)
        return list({task.id: task for task in chosen}.values())
    chosen = [task for task in (next((t for t in candidates if _psnr_task(t)), None),
                                next((t for t in candidates if can_generate_solution(t)), None)) if task is not None]
    if not chosen:
        raise click.ClickException(f"no PSNR task and no binary csv task in {competition_file}; pass the "
                                   "platform's competition file with --competition-file")
    return chosen


def _demo_task(admin_client: PodiumClient, task: Task, competition_file: Path) -> DemoTask:
    """`task` as the platform has it, checked to be the file's (the ground truth the demo generates from it), with
    how a team's file is made."""
    from deploy.demo import (
        make_ground_truth,
        make_solution,
        noisy_probabilities,
        noisy_submission,
        npy_zip,
        predictions_csv,
        solution_csv,
    )

    remote = admin_client.task(task.id)
    differs = click.ClickException(f"task {task.id} at {admin_client.url} differs from {competition_file}; pass the "
                                   "platform's competition file with --competition-file")
    if _psnr_task(task):
        if list(remote["sample_names"]) != task.sample_names() or list(remote["shape"]) != list(task.shape):
            raise differs
        truth = make_ground_truth(task)
        return DemoTask(task.id, remote, lambda noise, seed: (
            f"{task.id}.zip", npy_zip(noisy_submission(truth, noise, seed=seed))))
    # A csv task has no shape to compare: its ground truth must be the very solution the demo generates.
    solution = make_solution(task)
    document = admin_client.get("/api/v1/admin/competition")["competition"]
    recorded = next((t.get("ground_truth_sha256") for t in document["tasks"] if t["id"] == task.id), None)
    if recorded != hashlib.sha256(solution_csv(solution)).hexdigest():
        raise differs
    return DemoTask(task.id, remote, lambda noise, seed: (
        f"{task.id}.csv", predictions_csv(solution, noisy_probabilities(solution, noise, seed=seed))))


def _team_credentials(admin_client: PodiumClient, name: str) -> tuple[int, str]:
    """Create the demo team NAME with a fresh password, or give an existing one a fresh password."""
    password = secrets.token_urlsafe(12)
    try:
        team = admin_client.post("/api/v1/admin/teams", json={"name": name, "password": password})
    except ApiError as error:
        if error.status != 409:
            raise
        team = find_team(admin_client, name)
        admin_client.request("PUT", f"/api/v1/teams/{team['id']}", json={"password": password})
    return team["id"], password


def _board_lists(admin_client: PodiumClient, task_id: str, names: set[str], timeout_s: float = 20.0
                 ) -> dict[str, Any]:
    """The board once every scored demo team is on it (the board follows the scores within moments)."""
    deadline = time.monotonic() + timeout_s
    while True:
        board = admin_client.wait_for_board(task_id)
        if names <= {e["team_name"] for e in board.get("public") or []} or time.monotonic() > deadline:
            return board
        time.sleep(0.3)


def _seed(session: Session, admin_client: PodiumClient, tasks: list[DemoTask], prefix: str, team_count: int,
          timeout_s: float) -> list[dict[str, Any]]:
    """Create each team, upload its submission to each task, then wait for all the scores (they are scored side by
    side)."""
    console, rows = session.console, []
    with contextlib.ExitStack() as cleanup:
        folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="podium-demo-")))
        status = cleanup.enter_context(console.status("seeding…"))
        for index, noise in enumerate(NOISE_LEVELS[:team_count]):
            name = f"{prefix}-{TEAM_NAMES[index]}"
            status.update(f"team {name}: creating, submitting…")
            _, password = _team_credentials(admin_client, name)
            team_client = PodiumClient(session.url, session.store, timeout_s=session.timeout_s)
            cleanup.callback(team_client.close)
            team_client.login(name, password, remember=False)
            for task in tasks:
                filename, data = task.submission(noise, index)
                path = folder / f"{name}-{filename}"
                path.write_bytes(data)
                rows.append({"name": name, "password": password, "noise": noise, "task": task.id,
                             "client": team_client,
                             "submission": upload(team_client, task.remote, path, path.stat().st_size, None)})
        deadline = time.monotonic() + timeout_s
        for row in rows:
            status.update(f"scoring {row['name']}'s submission to {row['task']}…")
            row["submission"] = wait_for_outcome(row.pop("client"), row["submission"], None,
                                                 max(1.0, deadline - time.monotonic()))
    return rows


def _print_result(session: Session, admin_client: PodiumClient, tasks: list[DemoTask],
                  rows: list[dict[str, Any]]) -> None:
    table = Table(title="Demo teams", title_justify="left")
    for column in ("team", "password", "noise", "task", "submission", "status", "public score"):
        table.add_column(column, no_wrap=column in ("team", "password"))
    for row in rows:
        s = row["submission"]
        table.add_row(Text(row["name"]), row["password"], f"{row['noise']:.2f}", row["task"], str(s["id"]),
                      tables.status(s["status"]), tables.score(s.get("public_score")))
    session.console.print(table)
    for task in tasks:
        scored = {row["name"] for row in rows if row["task"] == task.id and row["submission"]["status"] == "scored"}
        session.console.print(tables.board_table(_board_lists(admin_client, task.id, scored)))
    if any(row["submission"]["status"] != "scored" for row in rows):
        session.console.print("Some demo submissions were not scored (see their status above).")
        raise SystemExit(1)
