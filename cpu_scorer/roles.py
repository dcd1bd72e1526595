"""Which CPU tasks a cpu_scorer process scores (PODIUM_CPU_SCORER_ROLE), and from which durable consumer: every one
(`all`), or split between two pools that each read every CPU submission from a durable of their own: `programs` (the
Helm chart's program pool: the tasks a host's program scores, `metric = "program"`) and `metrics` (every other CPU
task). A job the role does not take is acknowledged without any event: the other pool scores it. Pure: no I/O."""

from __future__ import annotations

from typing import Literal

from podium_runtime.scoring.kit import TakesTask, every_task
from proto.competition import Task
from proto.streams import CPU_SCORER, PROGRAM_POOL, ConsumerSpec

Role = Literal["all", "metrics", "programs"]


def all_but_programs(task: Task | None) -> bool:
    """`metrics`: every task but the programs' — and a task the competition does not have (None), which it refuses:
    exactly one of the two pools does, so the team reads one failure, not two."""
    return task is None or not task.uses_program


def programs_only(task: Task | None) -> bool:
    return task is not None and task.uses_program


TAKES: dict[Role, TakesTask] = {"all": every_task, "metrics": all_but_programs, "programs": programs_only}
CONSUMERS: dict[Role, ConsumerSpec] = {"all": CPU_SCORER, "metrics": CPU_SCORER, "programs": PROGRAM_POOL}
