"""Scorer replicas that add up, measured: `python -m bench.replicas` (the last part of `make load`).

A platform of its own (the chaos harness's `Platform`: embedded NATS, PostgreSQL, S3 and every service as a process
on free loopback ports) with one csv task whose solution has 200,000 rows, scored by ROC AUC and log loss on both
splits: polars reads and checks each 3.3 MB file and scikit-learn sorts it, about 0.1 s of one core per submission,
where the rest of the platform (the upload's relay, the status, the board) spends a few milliseconds. For each
number of `cpu_scorer` processes (1, 2, 4 by default), all on the one durable consumer `cpu_scorer`:

1. with no scorer running, a batch of submissions is uploaded through the gateway and relayed to SUBMISSIONS, so
   the consumer holds the whole batch pending and every process finds work waiting;
2. the processes start together; the bench follows SCORES until every submission of the batch has an outcome;
3. the processes stop (SIGTERM, as Kubernetes stops a replica).

Throughput is counted in steady state: submissions scored per second between the batch's 10th and 90th percentile
completions, which leaves out the start-up (imports, each process's first read of the solution) and the tail where
fewer jobs than processes are left. The CPU of every process is read from /proc over that same window, with the busy
cores of the whole machine, so a reader sees where the cores went (and how much of the machine was someone else's).

Checked and printed: no submission scored twice (one ScoreComputed per submission on the SCORES stream, and one
"submission scored" line per submission over every scorer's log together: JetStream's dedup window would hide a
second publish, not a second job); none lost (every submission of the batch ends `scored`); the speed-up from 1 to 2
processes is at least 1.8× (on 2 cores); and how the curve goes past the cores.

    python -m bench.replicas [--submissions 160] [--replicas 1,2,4] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import nats
from minio import Minio
from nats import errors as nats_errors
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from bench.chaos import Platform, Tally, call
from bench.loadgen.figures import render_table
from bench.loadgen.platform import cpu_seconds, machine_busy_seconds
from deploy.demo import GROUND_TRUTH_BUCKET, make_solution, noisy_probabilities, predictions_csv, solution_csv
from deploy.run import own_user
from deploy.stack import Server, free_port, spawn, stop_all
from proto import subjects
from proto.codec import decode
from proto.competition import Competition, parse_competition
from proto.events import ScoreComputed, ScoreFailed
from proto.streams import CPU_SCORER, SCORES

TASK = "replicas"
# A binary task's board as hosts write it: ROC AUC first, then the columns a reader compares teams by. Each column is
# a scikit-learn metric over both splits' rows, which is what makes a submission CPU-bound (`competition`).
COLUMNS = ("roc_auc", "average_precision", "log_loss", "accuracy", "balanced_accuracy", "f1_macro", "mcc")


def competition(rows: int) -> str:
    """The bench's competition: one csv task whose solution has `rows` rows, scored on every column of COLUMNS."""
    columns = "".join(f'\n[[tasks.metrics]]\nname = "{name}"\ncolumn = "{name}"\n{"primary = true" if i == 0 else ""}\n'
                      for i, name in enumerate(COLUMNS))
    return f"""
[competition]
name = "Replicas"

[[tasks]]
id = "{TASK}"
title = "CSV scoring on several scorer processes"
kind = "cpu"
format = "csv"
metric = "{COLUMNS[0]}"
daily_quota = 100000
max_upload_bytes = {40 * rows}
ground_truth = "{TASK}/solution.csv"
split = {{ private_fraction = 0.5, seed = 22 }}
{columns}"""


ADMIN = ("replicas-admin", "replicas-admin-password")
TEAMS = 4
# Distinct files the batches are drawn from: the same bytes cost the same to score, and generating 200,000 rows
# takes longer than uploading them.
DISTINCT_FILES = 8
# The steady window: from this share of the batch's completions to 1 minus it.
WINDOW_EDGE = 0.1
SPEED_UP_TARGET = 1.8
# Cores of this machine busy with work not ours above which a round's figures are noted as measured on a busy machine.
BUSY_MACHINE_CORES = 0.25
SCORER = "cpu_scorer"


def seed_solution(rows: int, s3: Minio, competition: Competition) -> None:
    """The task's solution of `rows` rows (the demo's generator, with more rows), put before the services record its
    digest."""
    task = competition.tasks[0]
    data = solution_csv(make_solution(task, rows))
    if not s3.bucket_exists(GROUND_TRUTH_BUCKET):
        s3.make_bucket(GROUND_TRUTH_BUCKET)
    s3.put_object(GROUND_TRUTH_BUCKET, task.ground_truth, io.BytesIO(data), len(data), content_type="text/csv")


def prediction_files(competition: Competition, rows: int) -> list[bytes]:
    """DISTINCT_FILES submissions of the task, each with its own noise (AUCs from about 0.9 down)."""
    solution = make_solution(competition.tasks[0], rows)
    return [predictions_csv(solution, noisy_probabilities(solution, 0.02 + 0.02 * i, seed=i))
            for i in range(DISTINCT_FILES)]


@dataclass
class Round:
    """One batch scored by `replicas` processes: what the bench saw and what it read afterwards."""

    replicas: int
    submitted: list[str]
    # Uploads the bench sent again after a 503 (or a connection refused): a busy machine's, not a scorer's.
    upload_retries: int = 0
    # (seconds since the processes were started, submission id, "scored" or "failed"), in the order they came.
    outcomes: list[tuple[float, str, str]] = field(default_factory=list)
    # Cores each process used over the steady window (the platform's, the scorers', the bench's, the machine's).
    cpu: dict[str, float] = field(default_factory=dict)
    machine: float = 0.0
    bench: float = 0.0
    # Per scorer process: its peak resident memory (MB), and the submissions its log says it scored.
    peak_mb: dict[str, float] = field(default_factory=dict)
    jobs: dict[str, Counter[str]] = field(default_factory=dict)
    computed_on_stream: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def window(self) -> tuple[int, int]:
        count = len(self.outcomes)
        return int(count * WINDOW_EDGE), count - 1 - int(count * WINDOW_EDGE)

    @property
    def throughput(self) -> float:
        """Submissions scored per second in the steady window."""
        low, high = self.window
        return (high - low) / (self.outcomes[high][0] - self.outcomes[low][0])

    @property
    def scorers_cores(self) -> float:
        return sum(self.cpu[s] for s in self.scorers)

    @property
    def platform_cores(self) -> float:
        """The rest of the platform: every process but the scorers."""
        return sum(v for name, v in self.cpu.items() if name not in self.scorers)

    @property
    def other_cores(self) -> float:
        """Busy cores of this machine that were neither the platform's nor the bench's: someone else's."""
        return self.machine - sum(self.cpu.values()) - self.bench

    @property
    def batch_s(self) -> float:
        return self.outcomes[-1][0]

    @property
    def scorers(self) -> list[str]:
        return [name for name in self.cpu if name.startswith(f"{SCORER}-")]

    @property
    def scored_twice(self) -> list[str]:
        lines = sum(self.jobs.values(), Counter[str]())
        return sorted({i for i in self.submitted if self.computed_on_stream[i] > 1 or lines[i] > 1})

    @property
    def lost(self) -> int:
        return len(self.submitted) - self.statuses["scored"]


async def enrol(client: httpx.AsyncClient) -> list[dict[str, str]]:
    """TEAMS teams, created by the admin and logged in: each one's Authorization header."""
    admin = (await client.post("/auth/login", json={"name": ADMIN[0], "password": ADMIN[1]})).json()["access_token"]
    headers = []
    for index in range(TEAMS):
        name, password = f"replicas-team-{index}", f"replicas-password-{index}"
        created = await call(client, Tally(), "POST", "/api/v1/teams", json={"name": name, "password": password},
                             headers={"Authorization": f"Bearer {admin}"})
        created.raise_for_status()
        token = (await client.post("/auth/login", json={"name": name, "password": password})).json()["access_token"]
        headers.append({"Authorization": f"Bearer {token}"})
    return headers


async def upload_batch(client: httpx.AsyncClient, tally: Tally, teams: list[dict[str, str]], files: list[bytes],
                       count: int) -> list[str]:
    """`count` submissions, each team uploading its share one after the other (direct uploads through the gateway,
    retried as a careful client does while the platform answers 503: on a busy machine a request to the submission
    service can time out)."""
    async def team_uploads(index: int) -> list[str]:
        ids = []
        for n in range(index, count, len(teams)):
            answer = await call(client, tally, "POST", f"/api/v1/tasks/{TASK}/submissions", headers=teams[index],
                                files={"file": ("predictions.csv", files[n % len(files)], "text/csv")})
            if answer.status_code != 200:
                raise SystemExit(f"upload refused: {answer.status_code} {answer.text[:300]}")
            ids.append(str(answer.json()["id"]))
        return ids

    return [i for ids in await asyncio.gather(*(team_uploads(t) for t in range(len(teams)))) for i in ids]


async def until(condition, what: str, deadline_s: float) -> None:  # noqa: ANN001 — an async () -> bool
    """Poll `condition` until it holds; a platform that never gets there ends the bench, naming what it waited for."""
    deadline = time.monotonic() + deadline_s
    while not await condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {deadline_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)


def start_scorers(platform: Platform, replicas: int) -> list[Server]:
    """`replicas` cpu_scorer processes with the service's own NATS user, each on its own HTTP port."""
    env = own_user(platform.stack, SCORER, platform.env)
    return [spawn(f"{SCORER}-{i}", [sys.executable, "-m", SCORER],
                  platform.folder / f"{SCORER}-{replicas}x-{i}.log", signal.SIGTERM,
                  env={**env, "PODIUM_CPU_SCORER_HTTP_PORT": str(free_port())})
            for i in range(replicas)]


def peak_rss_mb(pid: int) -> float:
    """A live process's peak resident set (VmHWM in /proc/PID/status), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def scored_in_log(log: Path) -> Counter[str]:
    """The submissions a scorer's JSON log says it scored, each with how many times."""
    scored: Counter[str] = Counter()
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("message") == "submission scored":
                scored[str(record["submission_id"])] += 1
    return scored


async def score_outcomes(js: JetStreamContext) -> list[ScoreComputed | ScoreFailed]:
    """Every score outcome on the SCORES stream, in order (read from its first message to its last now)."""
    last = (await js.stream_info(SCORES.name)).state.last_seq
    found: list[ScoreComputed | ScoreFailed] = []
    if last == 0:
        return found
    reader = await js.subscribe(subjects.SCORES_ALL, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    try:
        while True:
            message = await reader.next_msg(timeout=30)
            event = decode(message.data)
            if isinstance(event, ScoreComputed | ScoreFailed):
                found.append(event)
            if message.metadata.sequence.stream >= last:
                return found
    finally:
        await reader.unsubscribe()


async def computed_on_stream(js: JetStreamContext) -> Counter[str]:
    """ScoreComputed events per submission over the whole SCORES stream."""
    return Counter(e.submission_id for e in await score_outcomes(js) if isinstance(e, ScoreComputed))


async def run_round(platform: Platform, js: JetStreamContext, database: asyncpg.Connection, client: httpx.AsyncClient,
                    teams: list[dict[str, str]], files: list[bytes], replicas: int, count: int) -> Round:
    print(f"[{replicas} × {SCORER}] uploading {count} submissions with no scorer running …", flush=True)
    before = await database.fetchval("SELECT coalesce(max(id), 0) FROM submissions.submissions")
    tally = Tally()
    answered = await upload_batch(client, tally, teams, files, count)
    # The batch is what PostgreSQL accepted: an upload answered 503 may have been stored all the same before its retry.
    accepted = await database.fetch("SELECT id FROM submissions.submissions WHERE id > $1 AND status = 'received'",
                                    before)
    result = Round(replicas, [str(row["id"]) for row in accepted], upload_retries=tally.retried)
    if not set(answered) <= set(result.submitted):
        raise SystemExit(f"accepted uploads missing from the batch: {sorted(set(answered) - set(result.submitted))}")

    async def backlog_relayed() -> bool:
        info = await js.consumer_info(CPU_SCORER.stream, CPU_SCORER.durable)
        return info.num_pending == len(result.submitted) and info.num_ack_pending == 0

    await until(backlog_relayed, f"{len(result.submitted)} submissions pending on the {CPU_SCORER.durable} consumer",
                300)
    waiting = set(result.submitted)
    follower = await js.subscribe(subjects.SCORES_ALL, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW)
    print(f"[{replicas} × {SCORER}] {len(result.submitted)} pending; starting {replicas} scorer process(es) …",
          flush=True)
    scorers = start_scorers(platform, replicas)
    pids = {**platform.processes(), **{s.name: s.proc.pid for s in scorers}}
    started = time.monotonic()
    low = high = None
    try:
        while waiting:
            try:
                message = await follower.next_msg(timeout=5)
            except nats_errors.TimeoutError:
                if dead := [s.name for s in scorers if s.proc.poll() is not None]:
                    raise SystemExit(f"{', '.join(dead)} exited; see {platform.folder}") from None
                if time.monotonic() - started > 600:
                    raise SystemExit(f"{len(waiting)} submissions had no outcome after 600 s") from None
                continue
            event = decode(message.data)
            if not isinstance(event, ScoreComputed | ScoreFailed) or event.submission_id not in waiting:
                continue
            waiting.discard(event.submission_id)
            result.outcomes.append((time.monotonic() - started, event.submission_id,
                                    "scored" if isinstance(event, ScoreComputed) else "failed"))
            # The steady window's edges, read as they pass (the window is known from the batch's size).
            done = len(result.outcomes) - 1
            if done == int(len(result.submitted) * WINDOW_EDGE):
                low = (time.monotonic(), cpu_seconds(pids), machine_busy_seconds(), time.process_time())
            if done == len(result.submitted) - 1 - int(len(result.submitted) * WINDOW_EDGE):
                high = (time.monotonic(), cpu_seconds(pids), machine_busy_seconds(), time.process_time())
        result.peak_mb = {s.name: peak_rss_mb(s.proc.pid) for s in scorers}
    finally:
        await follower.unsubscribe()
        await asyncio.to_thread(stop_all, scorers, 15)
    assert low is not None and high is not None  # noqa: S101 — both edges lie inside any batch of 2 or more
    wall = high[0] - low[0]
    result.cpu = {name: (high[1][name] - low[1][name]) / wall for name in pids}
    result.machine, result.bench = (high[2] - low[2]) / wall, (high[3] - low[3]) / wall
    result.jobs = {s.name: scored_in_log(s.log) for s in scorers}

    ids = [int(i) for i in result.submitted]

    async def all_final() -> bool:
        return not await database.fetchval("SELECT count(*) FROM submissions.submissions WHERE id = ANY($1) AND "
                                           "status IN ('received', 'scoring')", ids)

    await until(all_final, "the batch's final states", 120)
    rows = await database.fetch("SELECT status, count(*) FROM submissions.submissions WHERE id = ANY($1) "
                                "GROUP BY status", ids)
    result.statuses = Counter({row["status"]: row["count"] for row in rows})
    result.computed_on_stream = await computed_on_stream(js)
    print(f"[{replicas} × {SCORER}] {result.throughput:.2f} submissions/s in steady state, batch in "
          f"{result.batch_s:.1f} s", flush=True)
    return result


async def measure(platform: Platform, replica_counts: list[int], count: int, rows: int) -> list[Round]:
    # The platform's own scorer goes (cleanly: its pull request leaves with it): each round starts its own.
    stop_all([platform.services.pop(SCORER)], timeout_s=15)
    files = await asyncio.to_thread(prediction_files, parse_competition(platform.competition), rows)
    env = platform.env
    bus = await nats.connect(env["PODIUM_NATS_URL"], user=env["PODIUM_NATS_USER"],
                             password=env["PODIUM_NATS_PASSWORD"])
    database = await asyncpg.connect(platform.stack.env()["PODIUM_POSTGRES_DSN"])
    try:
        async with httpx.AsyncClient(base_url=platform.gateway_url, timeout=120) as client:
            teams = await enrol(client)
            return [await run_round(platform, bus.jetstream(), database, client, teams, files, replicas, count)
                    for replicas in replica_counts]
    finally:
        await database.close()
        await bus.close()


def report(rounds: list[Round], count: int, rows: int) -> tuple[str, bool]:
    """The figures and the checks as text, and whether the checks of correctness held (none twice, none lost)."""
    base = rounds[0]
    out = [f"\nScorer replicas on one durable consumer ({CPU_SCORER.durable}), {os.cpu_count()} CPUs on this machine: "
           f"{count} csv submissions of {rows:,} rows per round, {len(COLUMNS)} columns on both splits.",
           f"Steady state = between the {WINDOW_EDGE:.0%} and the {1 - WINDOW_EDGE:.0%} completions of each batch; "
           "CPU in cores over that window (other = this machine's busy cores that were not ours).", ""]
    out.append(render_table(
        ["processes", "scored/s", f"speed-up vs {base.replicas}", "batch s", "first score s", "jobs per process",
         "CPU per scorer", "peak MB per scorer", "scorers", "rest of platform", "bench", "other", "machine"],
        [[r.replicas, r.throughput, r.throughput / base.throughput, r.batch_s, r.outcomes[0][0],
          " / ".join(str(sum(r.jobs[s].values())) for s in r.scorers), " / ".join(f"{r.cpu[s]:.2f}" for s in r.scorers),
          " / ".join(f"{r.peak_mb[s]:.0f}" for s in r.scorers), r.scorers_cores, r.platform_cores, r.bench,
          r.other_cores, r.machine] for r in rounds]))
    names = [n for n in base.cpu if n not in base.scorers]
    out += ["", "The rest of the platform (cores over the steady window)"]
    out.append(render_table(["processes", *names], [[r.replicas, *(r.cpu[n] for n in names)] for r in rounds]))
    # What one submission costs: s in a scorer, x in the rest of the platform (object storage serving the file, the
    # status, the board, and the platform's idle background shared out). With every core busy, C cores score at
    # most C / (s + x) submissions a second, whatever the number of processes.
    out += ["", "CPU per submission (ms of one core)"]
    out.append(render_table(["processes", "scorer s", "rest of platform x", "x / s"], [
        [r.replicas, 1000 * r.scorers_cores / r.throughput, 1000 * r.platform_cores / r.throughput,
         r.platform_cores / r.scorers_cores] for r in rounds]))

    out += ["", "checks"]
    correct = True
    for r in rounds:
        twice, lost = r.scored_twice, r.lost
        correct = correct and not twice and not lost
        once = sum(1 for i in r.submitted if r.computed_on_stream[i] == 1)
        out.append(f"  {r.replicas} process(es): {once}/{len(r.submitted)} with exactly one ScoreComputed on "
                   f"{SCORES.name} (uploads retried after a 503: {r.upload_retries}); "
                   f"scored twice: {len(twice)}{' ' + str(twice[:5]) if twice else ''} "
                   f"({'met' if not twice else 'NOT met'}); final states {dict(r.statuses)}, lost: {lost} "
                   f"({'met' if not lost else 'NOT met'})")
    by_count = {r.replicas: r for r in rounds}
    if 1 in by_count and 2 in by_count:
        one, two = by_count[1], by_count[2]
        speed_up = two.throughput / one.throughput
        verdict = "met" if speed_up >= SPEED_UP_TARGET else "NOT met"
        out.append(f"  speed-up 1 → 2 processes: {speed_up:.2f}× (target ≥ {SPEED_UP_TARGET}×): {verdict}")
        if speed_up < SPEED_UP_TARGET:
            out.append(f"    the 2 scorers got {' + '.join(f'{two.cpu[s]:.2f}' for s in two.scorers)} cores; the rest "
                       f"of the platform {two.platform_cores:.2f}, other processes of this machine "
                       f"{two.other_cores:.2f} (of {os.cpu_count()})")
    if 2 in by_count and 4 in by_count:
        two, four = by_count[2], by_count[4]
        out.append(f"  4 processes: {four.throughput / two.throughput:.2f}× the throughput of 2. A process scores one "
                   f"submission at a time, on one core; 4 processes share {os.cpu_count()} cores (each got "
                   f"{min(four.cpu[s] for s in four.scorers):.2f}–{max(four.cpu[s] for s in four.scorers):.2f}, the "
                   f"machine was {four.machine:.2f} cores busy): past one process per core a replica adds waiting, "
                   "not capacity.")
    if busy := [r for r in rounds if r.other_cores > BUSY_MACHINE_CORES]:
        out.append(f"  NOTE: other work held {', '.join(f'{r.other_cores:.2f}' for r in busy)} cores of this machine "
                   f"during the rounds of {', '.join(str(r.replicas) for r in busy)} process(es): more processes then "
                   "win a larger share of the cores from that work, and the speed-ups measure that too. Read a quiet "
                   "run's.")
    return "\n".join(out), correct


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--submissions", type=int, default=40, help="submissions per round")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the solution and of each submission")
    parser.add_argument("--replicas", default="1,2,4", help="scorer processes of each round, comma-separated")
    parser.add_argument("--keep", action="store_true", help="keep the platform's data and logs folder")
    args = parser.parse_args()
    replica_counts = [int(n) for n in args.replicas.split(",")]
    if args.submissions < 10 or any(n < 1 for n in replica_counts):
        parser.error("at least 10 submissions and 1 process per round")
    platform = Platform(Path(tempfile.mkdtemp(prefix="podium-replicas-")), competition=competition(args.rows),
                        admin=ADMIN, durable=True, extra_env={}, seed=functools.partial(seed_solution, args.rows))
    print(f"starting a platform under {platform.folder} …", flush=True)
    try:
        platform.start()
        rounds = asyncio.run(measure(platform, replica_counts, args.submissions, args.rows))
    finally:
        platform.stop()
    text, correct = report(rounds, args.submissions, args.rows)
    print(text)
    if not correct:
        print(f"\nFAILED: the logs are in {platform.folder}")
        sys.exit(1)
    if not args.keep:
        shutil.rmtree(platform.folder, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
