"""`python -m bench.programs`: the overhead per submission of a host's scoring program, a trivial one (it imports
numpy and scipy.stats, reads two small files and returns a Spearman correlation), on a warm worker (one sandboxed
import, a fork per job) against a fresh sandboxed interpreter per submission (what a container per run, Codabench's
way, pays), side by side in one run. The issue's target: at most 50 ms over the function's own time on a warm worker.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

from podium_runtime.programs.contracts import Contract
from podium_runtime.programs.pool import Program, ProgramPool
from podium_runtime.programs.sandbox import ProgramLimits, SandboxConfig

TARGET_MS = 50.0
PROGRAM = """
    import time
    import numpy as np
    from scipy.stats import spearmanr

    def score(truth, submission, context):
        started = time.perf_counter()
        value = float(spearmanr(np.loadtxt(truth), np.loadtxt(submission)).statistic)
        own = time.perf_counter() - started
        return {"public": {"Spearman": value}, "private": {"Spearman": value}, "details": {"own_seconds": own}}
"""


def timed_runs(pool: ProgramPool, program: Program, submission: Path, runs: int) -> tuple[list[float], list[float]]:
    """Per run: the runner's whole time for the job, and the function's own time inside it."""
    totals, owns = [], []
    for _ in range(runs):
        started = time.perf_counter()
        result = pool.run(program, submission)
        totals.append(time.perf_counter() - started)
        if not result.ok:
            raise SystemExit(f"the bench program failed: {result.host_reason}\n{result.traceback}")
        owns.append(float(result.details["own_seconds"]))
    return totals, owns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30, help="submissions scored on the warm worker")
    parser.add_argument("--fresh-runs", type=int, default=5, help="submissions scored by a fresh interpreter each")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-programs-") as folder:
        root = Path(folder)
        (root / "program").mkdir()
        (root / "program" / "score.py").write_text(textwrap.dedent(PROGRAM))
        (root / "truth.txt").write_text("\n".join(str(value) for value in range(100)))
        submission = root / "submission.txt"
        submission.write_text("\n".join(str(value) for value in reversed(range(100))))
        program = Program(root / "program", root / "truth.txt", Contract.FUNCTION, ("Spearman",), ProgramLimits())
        pool = ProgramPool(SandboxConfig(), root / "pool")
        try:
            timed_runs(pool, program, submission, 1)  # the worker starts and imports: not a submission's cost
            warm, warm_own = timed_runs(pool, program, submission, arguments.runs)
            fresh: list[float] = []
            for _ in range(arguments.fresh_runs):
                pool.close()  # the next job starts a new sandbox and interpreter, and imports again
                fresh += timed_runs(pool, program, submission, 1)[0]
        finally:
            pool.close()
    overhead = statistics.median(total - own for total, own in zip(warm, warm_own, strict=True)) * 1000
    print(f"warm worker        median {statistics.median(warm) * 1000:8.1f} ms per submission")
    print(f"  function's own   median {statistics.median(warm_own) * 1000:8.1f} ms")
    verdict = "met" if overhead <= TARGET_MS else "MISSED"
    print(f"  overhead         median {overhead:8.1f} ms   (target ≤ {TARGET_MS:.0f} ms: {verdict})")
    fresh_ms = statistics.median(fresh) * 1000
    print(f"fresh interpreter  median {fresh_ms:8.1f} ms per submission (a sandbox and the imports each time)")
    print(f"fresh / warm       {statistics.median(fresh) / statistics.median(warm):8.1f}×")


if __name__ == "__main__":
    main()
