"""The load report: each process's share of the busy cores (each gateway process apart), the storm side by side,
the targets' verdicts and the plot's series — from made-up step results, no platform."""

import math

from bench.loadgen.report import (
    Step,
    StepResult,
    cpu_table,
    gateway_process_count,
    panels,
    report,
    step_cores,
)
from bench.loadgen.teams import HEALTH, Recorder


def _result(gateway_processes: int, step: Step, *, api_s: float, push_p99_s: float, platform_cpu: dict[str, float],
            machine: float, errors: int = 0) -> StepResult:
    record = Recorder()
    for route in ("status", "board"):
        record.latencies[route] = [api_s] * 10
        record.sent_at[route] = [float(i) for i in range(10)]
    record.latencies[HEALTH] = [0.010] * 10
    record.scored_at = {"t#1": 1.0}
    record.errors = [f"status: 503 busy {i}" for i in range(errors)]
    push = {"p50": push_p99_s / 2, "p95": push_p99_s, "p99": push_p99_s, "max": push_p99_s, "seen": 10,
            "expected": 10, "missing": 0}
    spread = {"p50": 0.01, "p95": 0.02, "p99": 0.03, "max": 0.03, "count": step.viewers}
    viewers = {"push": push, "handshake": spread, "first_board": spread, "asked_s": 5.0, "open_s": 5.1,
               "messages": {"board": 3}, "bytes": {"board": 300}, "errors": 0, "first_errors": [], "cpu_s": 2.0,
               "cpu_cores": 0.1, "loop_lag_p99_ms": 3.0, "loop_lag_max_ms": 9.0}
    return StepResult(step, gateway_processes, 20.0, record, viewers, 0.2, {"loop_lag_p99_ms": 2.0},
                      platform_cpu, machine, [api_s] * 4 if step.storm else [])


STORM = Step("storm", 200, 1000, 30.0, storm=True)
FULL = Step("full", 200, 1000, 30.0)


def test_each_gateway_process_has_its_row_and_the_rest_of_the_busy_cores_is_other() -> None:
    two = {"nats": 0.1, "postgres": 0.2, "gateway": 0.05, "gateway[900]": 0.4, "gateway[901]": 0.35}
    one = {"nats": 0.1, "postgres": 0.2, "gateway": 0.7}
    results = [_result(1, STORM, api_s=0.1, push_p99_s=0.3, platform_cpu=one, machine=1.6),
               _result(2, STORM, api_s=0.1, push_p99_s=0.3, platform_cpu=two, machine=1.6)]
    assert (gateway_process_count(one), gateway_process_count(two)) == (1, 3)
    table = cpu_table([(f"{r.gateway_processes} gw", step_cores(r), r.machine_cpu) for r in results])
    rows = {line.split("  ")[0].strip(): line for line in table.splitlines()}
    assert "–" in rows["gateway: child 1"] and "0.40 (25%)" in rows["gateway: child 1"]
    assert "0.35 (22%)" in rows["gateway: child 2"]
    assert "0.80 (50%)" in rows["gateway, all processes"]
    # The generator: 0.2 (teams) + 2.0 s / 20 s (viewers); other: 1.6 − 1.1 (platform) − 0.3 (generator).
    assert "0.10 (6%)" in rows["generator: viewers"]
    assert rows["other"].split()[-2:] == ["0.20", "(12%)"]
    assert rows["machine busy"].split()[-2:] == ["1.60", "(100%)"]


def test_the_storm_is_side_by_side_and_a_missed_target_says_by_how_much() -> None:
    results = [_result(1, FULL, api_s=0.1, push_p99_s=0.3, platform_cpu={"gateway": 0.5}, machine=1.0),
               _result(1, STORM, api_s=2.6, push_p99_s=0.9, platform_cpu={"gateway": 0.9}, machine=2.0, errors=2),
               _result(2, STORM, api_s=0.2, push_p99_s=0.4, platform_cpu={"gateway": 0.2, "gateway[7]": 0.6},
                       machine=1.8)]
    text = report(results, "deflate")
    storm_table = text.split("The connection storm, side by side")[1].split("\n\n")[0]
    header = storm_table.splitlines()[1]
    assert "1 gateway process" in header and "2 gateway processes" in header
    assert "full" not in storm_table
    rows = {line.split("  ")[0]: line.split("  ")[1:] for line in storm_table.splitlines()[3:]}
    assert [c.strip() for c in rows["target: API p95 ≤ 500 ms"] if c.strip()] == ["NOT met, 5.2× the target", "met"]
    assert [c.strip() for c in rows["errors"] if c.strip()] == ["2", "0"]
    assert "errors 2 (NOT met), API p95 2600 ms (NOT met, 5.2× the target), push p99 900 ms (met)" in text
    assert "2 gateway processes, 200 teams / 1000 viewers, storm: errors 0 (met), API p95 200 ms (met)" in text
    assert "was asked, but the gateway ran as one process" not in text


def test_a_gateway_that_ignores_the_worker_count_is_called_out() -> None:
    results = [_result(2, FULL, api_s=0.1, push_p99_s=0.3, platform_cpu={"gateway": 0.5}, machine=1.0)]
    assert "PODIUM_GATEWAY_WORKERS=2 was asked, but the gateway ran as one process" in report(results, "none")


def test_the_plot_has_a_line_per_process_count_with_a_gap_for_a_step_not_run() -> None:
    results = [_result(1, FULL, api_s=0.1, push_p99_s=0.3, platform_cpu={}, machine=1.0),
               _result(1, STORM, api_s=0.3, push_p99_s=0.5, platform_cpu={}, machine=1.0),
               _result(2, STORM, api_s=0.2, push_p99_s=0.4, platform_cpu={}, machine=1.0)]
    _, steps, drawn = panels(results)
    assert steps == ["200/1000", "200/1000 storm"]
    p95 = next(p for p in drawn if p.title == "API latency p95")
    assert p95.target == 500.0
    assert p95.series["1 gateway process"] == [100.0, 300.0]
    assert math.isnan(p95.series["2 gateway processes"][0]) and p95.series["2 gateway processes"][1] == 200.0
    throughput = next(p for p in drawn if p.title == "throughput")
    assert throughput.series["1 gateway process"] == [1.0, 1.0]  # 20 requests over 20 s


def test_the_storm_has_its_own_cpu_table_over_the_seconds_the_viewers_connected() -> None:
    calm = _result(2, FULL, api_s=0.1, push_p99_s=0.3, platform_cpu={"gateway": 0.5}, machine=1.0)
    storm = _result(2, STORM, api_s=0.2, push_p99_s=0.4, platform_cpu={"gateway": 0.3}, machine=1.2)
    storm.storm_cpu = {"gateway": 0.01, "gateway[7]": 0.7, "gateway[8]": 0.6, "nats": 0.1,
                       "generator: teams (and /health)": 0.1, "generator: viewers": 0.4}
    storm.storm_machine_cpu = 2.0
    text = report([calm, storm], "deflate")
    window = text.split("while the storm's viewers connected")[1].split("\n\n")[0]
    rows = {line.split("  ")[0].strip(): line for line in window.splitlines()[1:]}
    assert "2 gw · storm, 5.1 s" in window.splitlines()[1]  # one column: the storm step only
    assert rows["gateway, all processes"].split()[-2:] == ["1.31", "(66%)"]
    assert rows["generator: viewers"].split()[-2:] == ["0.40", "(20%)"]
    assert rows["other"].split()[-2:] == ["0.09", "(4%)"]  # 2.0 − 1.91 of ours
    assert "while the storm's viewers connected" not in report([calm], "deflate")
