"""The run at upload: a host's new scoring program, once, on the host's sample submission against the task's ground
truth, in a sandboxed pool of its own and a temporary folder that is gone afterwards. Blocking (called off the event
loop): bytes in, the ProgramResult out."""

from __future__ import annotations

import tempfile
from pathlib import Path

from podium_runtime.program_files import program_for, stage_sample, stage_truth, unpack_program
from podium_runtime.programs.contracts import ProgramResult
from podium_runtime.programs.pool import ProgramPool, check_program
from podium_runtime.programs.sandbox import SandboxConfig
from proto.competition import Task


def run_on_sample(config: SandboxConfig, task: Task, program_zip: bytes, truth: bytes, sample: bytes,
                  sample_name: str) -> ProgramResult:
    """The program (its stored ZIP) scoring `sample` as it would score a submission to `task`. Raises
    ProgramRejected for a ZIP it cannot run, SandboxUnavailable when this machine cannot sandbox it."""
    with tempfile.TemporaryDirectory(prefix="podium-program-check-") as scratch:
        root = Path(scratch)
        root.chmod(0o755)  # the program runs as a uid of its own and reads below it
        program_dir = unpack_program(program_zip, root / "program")
        staged_truth = stage_truth(truth, task, root / "truth")
        (root / "sample").mkdir(mode=0o755)
        staged_sample = stage_sample(sample, sample_name, root / "sample")
        pool = ProgramPool(config, root / "pool")
        try:
            return check_program(pool, program_for(task, program_dir, staged_truth), staged_sample)
        finally:
            pool.close()
