"""What a load run measured, as text tables (printed by `make load`, kept in its output folder) and as the figures
its plot draws: per step and per number of gateway processes, side by side."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.loadgen.figures import percentile, render_table, spread
from bench.loadgen.plot import Panel
from bench.loadgen.teams import API_ROUTES, HEALTH, STORAGE_PUT, Recorder

GENERATOR_TEAMS = "generator: teams (and /health)"
GENERATOR_VIEWERS = "generator: viewers"
STORM_RAMP_S = 5.0  # the connection storm: 1,000 viewers connect within 5 s while the teams submit
TARGET_API_P95_MS = 500.0
TARGET_PUSH_P99_MS = 1000.0


@dataclass(frozen=True)
class Step:
    name: str
    teams: int
    viewers: int
    duration_s: float
    storm: bool = False  # the viewers connect within STORM_RAMP_S at `storm_at_s` instead of before the step

    @property
    def storm_at_s(self) -> float:
        """When the storm begins: once most teams are in their submission cycle (their first turns are spread
        over 20 s), and early enough that the step goes on well after it."""
        return min(20.0, self.duration_s / 3)

    @property
    def label(self) -> str:
        return f"{self.teams}/{self.viewers}" + (" storm" if self.storm else "")


@dataclass
class StepResult:
    step: Step
    gateway_processes: int  # PODIUM_GATEWAY_WORKERS of the platform it ran on
    wall_s: float
    record: Recorder
    viewers: dict
    generator_cpu: float
    generator_lag: dict[str, float]
    platform_cpu: dict[str, float]  # cores, per platform process (the gateway's descendants apart, `gateway[pid]`)
    machine_cpu: float  # busy cores of the whole machine over the step (the platform, the generator, anything else)
    storm_api: list[float]  # a storm step's API latencies of the requests sent while the viewers connected
    # A storm step's cores per process (the generator's two included) from its first connection to its last socket
    # following, and the machine's busy cores then: the step's average hides the seconds that matter.
    storm_cpu: dict[str, float] = field(default_factory=dict)
    storm_machine_cpu: float = math.nan

    @property
    def errors(self) -> int:
        return len(self.record.errors) + self.viewers["errors"]

    @property
    def viewers_cores(self) -> float:
        """The viewers process's CPU over the whole step (a storm's viewers start within it)."""
        return self.viewers["cpu_s"] / self.wall_s

    @property
    def generator_cores(self) -> float:
        return self.generator_cpu + self.viewers_cores

    def api_ms(self) -> tuple[float, float, float]:
        return spread(self.record.api_latencies())

    def health_p95_ms(self) -> float:
        return percentile(self.record.latencies[HEALTH], 95) * 1000

    def push_ms(self, quantile: str) -> float:
        return self.viewers["push"][quantile] * 1000

    def requests_per_s(self) -> float:
        return len(self.record.api_latencies()) / self.wall_s

    def verdict(self) -> str:
        """The issue's targets, each met or by how much it is missed."""
        a95, p99, missing = self.api_ms()[1], self.push_ms("p99"), self.viewers["push"]["missing"]
        return (f"errors {self.errors} ({'met' if self.errors == 0 else 'NOT met'}), API p95 {a95:.0f} ms "
                f"({_against(a95, TARGET_API_P95_MS)}), push p99 {p99:.0f} ms ({_against(p99, TARGET_PUSH_P99_MS)})"
                + (f", {missing:,} pushes never seen" if missing else ""))


def _against(value: float, target: float) -> str:
    if math.isnan(value):
        return "not measured"
    return "met" if value <= target else f"NOT met, {value / target:.1f}× the target"


def _processes(n: int) -> str:
    return f"{n} gateway process{'es' if n > 1 else ''}"


def report(results: Sequence[StepResult], compression: str) -> str:
    viewers = "offer permessage-deflate, as browsers do" if compression == "deflate" else "offer no compression"
    out = [f"\nLoad on one machine ({os.cpu_count()} CPUs): the platform and this generator share it; the viewers "
           f"{viewers}. Each number of gateway processes (PODIUM_GATEWAY_WORKERS) ran every step on a platform of "
           "its own.",
           "API = every request of the teams to the gateway (start upload, complete, status, board, history); "
           "reference = GET /health, 5/s, under the same load.",
           "Push = a submission's scored_at → a viewer's receipt of the board message counting it (for the viewers "
           "following the board when it was scored).",
           f"Storm = the viewers connect within {STORM_RAMP_S:.0f} s while the teams submit, instead of before the "
           "step.", ""]
    out.append(render_table(
        ["gateway procs", "step", "teams", "viewers", "s", "requests", "req/s", "errors", "API p50 ms", "p95 ms",
         "p99 ms", "health p95 ms", "p95 ÷ health", "scored", "push p50 ms", "push p99 ms", "pushes seen",
         "generator CPU"],
        [[r.gateway_processes, r.step.name, r.step.teams, r.step.viewers, r.step.duration_s,
          len(r.record.api_latencies()), r.requests_per_s(), r.errors, *r.api_ms(), r.health_p95_ms(),
          r.api_ms()[1] / r.health_p95_ms(), len(r.record.scored_at), r.push_ms("p50"), r.push_ms("p99"),
          f"{r.viewers['push']['seen']:,}/{r.viewers['push']['expected']:,}", r.generator_cores] for r in results]))

    storms = [r for r in results if r.step.storm]
    if storms:
        out += ["", f"The connection storm, side by side ({storms[0].step.viewers:,} viewers connecting within "
                    f"{STORM_RAMP_S:.0f} s, {storms[0].step.storm_at_s:.0f} s into a {storms[0].step.duration_s:.0f} s "
                    f"step of {storms[0].step.teams} teams submitting)"]
        out.append(render_table(["", *(_processes(r.gateway_processes) for r in storms)], _storm_rows(storms)))

    for count in dict.fromkeys(r.gateway_processes for r in results):
        mine = [r for r in results if r.gateway_processes == count]
        out += ["", f"Per route, {_processes(count)} (ms: p50 / p95 / p99, count)"]
        out.append(render_table(["route", *(r.step.label for r in mine)], [
            [route, *(_route(r.record.latencies[route]) for r in mine)]
            for route in [*API_ROUTES, STORAGE_PUT, HEALTH]]))

    out += ["", "Scoring, pushes and the generator"]
    out.append(render_table(["gateway procs", "step", "complete→scored p50 s", "p95 s", "push p95 ms", "push max ms",
                             "WS messages", "whole boards", "WS MB", "of which whole boards", "teams proc CPU",
                             "viewers proc CPU", "loop lag p99 ms (teams/viewers)"], [
        [r.gateway_processes, r.step.name, percentile(r.record.to_score, 50), percentile(r.record.to_score, 95),
         r.push_ms("p95"), r.push_ms("max"), sum(r.viewers["messages"].values()),
         r.viewers["messages"].get("board", 0), sum(r.viewers["bytes"].values()) / 1e6,
         r.viewers["bytes"].get("board", 0) / 1e6, r.generator_cpu, r.viewers_cores,
         f"{r.generator_lag['loop_lag_p99_ms']:.0f} / {r.viewers['loop_lag_p99_ms']:.0f}"] for r in results]))

    out += ["", "Where the machine's busy cores went (cores over the step, and share of the busy ones; 'other' is "
                "every process not ours: on a shared machine, someone else's)"]
    out.append(cpu_table([(f"{r.gateway_processes} gw · {r.step.label}", step_cores(r), r.machine_cpu)
                          for r in results]))
    if any(r.storm_cpu for r in storms):
        out += ["", "The same while the storm's viewers connected (from the first connection to the last socket "
                    "following): the seconds the step's average hides"]
        out.append(cpu_table([(f"{r.gateway_processes} gw · storm, {r.viewers['open_s']:.1f} s", r.storm_cpu,
                               r.storm_machine_cpu) for r in storms if r.storm_cpu]))
    for count in dict.fromkeys(r.gateway_processes for r in results):
        seen = max(gateway_process_count(r.platform_cpu) for r in results if r.gateway_processes == count)
        if count > 1 and seen == 1:
            out.append(f"  PODIUM_GATEWAY_WORKERS={count} was asked, but the gateway ran as one process: this "
                       "gateway does not read it, and the column measures one process.")

    for r in results:
        first = r.record.errors[:5] + r.viewers["first_errors"]
        if first:
            out += ["", f"first errors, {_processes(r.gateway_processes)}, {r.step.label}:", *(f"  {e}" for e in first)]
    out += ["", f"targets: 0 errors, p95 API latency ≤ {TARGET_API_P95_MS:.0f} ms, push p99 ≤ "
                f"{TARGET_PUSH_P99_MS / 1000:.0f} s"]
    out += [f"  {_processes(r.gateway_processes)}, {r.step.teams} teams / {r.step.viewers} viewers"
            f"{', storm' if r.step.storm else ''}: {r.verdict()}" for r in results]
    return "\n".join(out)


def _storm_rows(storms: Sequence[StepResult]) -> list[list[object]]:
    def ms(values: tuple[float, float, float]) -> str:
        return " / ".join(f"{v:,.0f}" for v in values)

    def seconds(spread_ms: dict) -> str:
        return ms((spread_ms["p50"] * 1000, spread_ms["p95"] * 1000, spread_ms["p99"] * 1000))

    rows: list[tuple[str, list[object]]] = [
        ("viewers following / asked", [f"{r.viewers['handshake']['count']:,} / {r.step.viewers:,}" for r in storms]),
        ("seconds to connect them all", [f"{r.viewers['open_s']:.1f}" for r in storms]),
        ("  of which the generator's asking", [f"{r.viewers['asked_s']:.1f}" for r in storms]),
        ("WS handshake ms p50 / p95 / p99 / max", [f"{seconds(r.viewers['handshake'])} / "
                                                   f"{r.viewers['handshake']['max'] * 1000:,.0f}" for r in storms]),
        ("first whole board ms p50 / p95 / p99", [seconds(r.viewers["first_board"]) for r in storms]),
        ("API ms p50 / p95 / p99, whole step", [ms(r.api_ms()) for r in storms]),
        ("API ms p50 / p95 / p99, while connecting", [ms(spread(r.storm_api)) for r in storms]),
        ("health p95 ms (reference)", [f"{r.health_p95_ms():.0f}" for r in storms]),
        ("API p95 ÷ health p95", [f"{r.api_ms()[1] / r.health_p95_ms():.2f}" for r in storms]),
        ("push ms p50 / p99", [f"{r.push_ms('p50'):,.0f} / {r.push_ms('p99'):,.0f}" for r in storms]),
        ("requests/s, scored", [f"{r.requests_per_s():.1f}, {len(r.record.scored_at):,}" for r in storms]),
        ("errors", [r.errors for r in storms]),
        ("gateway cores (all its processes)", [f"{_gateway_cores(r.platform_cpu):.2f}" for r in storms]),
        ("machine busy cores", [f"{r.machine_cpu:.2f} of {os.cpu_count()}" for r in storms]),
        ("target: 0 errors", ["met" if r.errors == 0 else "NOT met" for r in storms]),
        (f"target: API p95 ≤ {TARGET_API_P95_MS:.0f} ms", [_against(r.api_ms()[1], TARGET_API_P95_MS) for r in storms]),
        (f"target: push p99 ≤ {TARGET_PUSH_P99_MS:.0f} ms",
         [_against(r.push_ms("p99"), TARGET_PUSH_P99_MS) for r in storms]),
    ]
    return [[name, *values] for name, values in rows]


_CHILD = re.compile(r"^(?P<name>.+)\[(?P<pid>\d+)\]$")


def gateway_process_count(platform_cpu: dict[str, float]) -> int:
    return 1 + sum(1 for name in platform_cpu if (m := _CHILD.match(name)) and m["name"] == "gateway")


def _gateway_cores(platform_cpu: dict[str, float]) -> float:
    return sum(v for name, v in platform_cpu.items() if name == "gateway" or name.startswith("gateway["))


def step_cores(r: StepResult) -> dict[str, float]:
    """Cores over the whole step, per process: the platform's and the generator's two."""
    return {**r.platform_cpu, GENERATOR_TEAMS: r.generator_cpu, GENERATOR_VIEWERS: r.viewers_cores}


def _cpu_rows(cores: dict[str, float], machine: float) -> dict[str, float]:
    """Row label → cores, the gateway's descendants numbered in PID order (their PIDs differ between platforms)."""
    rows: dict[str, float] = {}
    children = sorted((int(m["pid"]), v) for name, v in cores.items()
                      if (m := _CHILD.match(name)) and m["name"] == "gateway")
    if children:
        rows["gateway: first process"] = cores.get("gateway", 0.0)
        rows |= {f"gateway: child {i}": v for i, (_, v) in enumerate(children, start=1)}
        rows["gateway, all processes"] = _gateway_cores(cores)
    rows |= {name: v for name, v in cores.items()
             if not _CHILD.match(name) and name not in _LAST_ROWS and not (children and name == "gateway")}
    rows[GENERATOR_TEAMS] = cores.get(GENERATOR_TEAMS, 0.0)
    rows[GENERATOR_VIEWERS] = cores.get(GENERATOR_VIEWERS, 0.0)
    rows["other"] = max(0.0, machine - sum(cores.values()))
    rows["machine busy"] = machine
    return rows


_LAST_ROWS = (GENERATOR_TEAMS, GENERATOR_VIEWERS, "other", "machine busy")


def cpu_table(columns: Sequence[tuple[str, dict[str, float], float]]) -> str:
    """Rows: the processes; columns: (label, cores per process, the machine's busy cores) each."""
    per_column = [_cpu_rows(cores, machine) for _, cores, machine in columns]
    labels = list(dict.fromkeys(label for rows in per_column for label in rows if label not in _LAST_ROWS))
    labels += _LAST_ROWS

    def cell(rows: dict[str, float], label: str, busy: float) -> str:
        if label not in rows:
            return "–"
        return f"{rows[label]:.2f} ({rows[label] / busy:.0%})" if busy > 0 else f"{rows[label]:.2f}"

    return render_table(["cores (share of busy)", *(label for label, _, _ in columns)], [
        [label, *(cell(rows, label, machine) for rows, (_, _, machine) in zip(per_column, columns, strict=True))]
        for label in labels])


def _route(values: list[float]) -> str:
    if not values:
        return "–"
    p50, p95, p99 = spread(values)
    return f"{p50:.0f} / {p95:.0f} / {p99:.0f}  ({len(values):,})"


def panels(results: Sequence[StepResult]) -> tuple[str, list[str], list[Panel]]:
    """The plot's title, its load steps (x axis) and its panels: one line per number of gateway processes."""
    steps = list(dict.fromkeys(r.step.label for r in results))
    counts = list(dict.fromkeys(r.gateway_processes for r in results))

    def series(value: Callable[[StepResult], float]) -> dict[str, list[float]]:
        by_key = {(r.gateway_processes, r.step.label): r for r in results}
        return {_processes(n): [value(by_key[n, s]) if (n, s) in by_key else math.nan for s in steps]
                for n in counts}

    title = f"make load on {os.cpu_count()} CPUs: teams/viewers per step, one line per number of gateway processes"
    return title, steps, [
        Panel("API latency p50", "ms", None, series(lambda r: r.api_ms()[0])),
        Panel("API latency p95", "ms", TARGET_API_P95_MS, series(lambda r: r.api_ms()[1])),
        Panel("push latency p99", "ms", TARGET_PUSH_P99_MS, series(lambda r: r.push_ms("p99"))),
        Panel("throughput", "API requests/s", None, series(lambda r: r.requests_per_s())),
    ]
