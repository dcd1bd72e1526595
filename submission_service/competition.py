"""The competition's definition as a host changes it, as pure functions: what a new document keeps from the current
version (ground truth the host put), whether its metrics' parameters are ones the metric library takes, what changed
(the diff a host reads before applying), whose scoring identity changed, what participants see of a task (its
format, its phase now, what stops it taking submissions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from podium_runtime.scoring import metrics
from podium_runtime.scoring.formats.coco import MAX_DETECTIONS_PER_IMAGE
from proto.competition import MASK_CLASSES, Competition, CompetitionError, MetricColumn, Phase, Task
from proto.metrics import METRIC_INFO
from proto.submissions import TaskColumn

# Fields shown by name in a diff, in this order; the rest of a task is compared as a whole.
_ORDER = ("title", "description", "kind", "format", "metric", "metric_parameters", "sort", "metrics", "daily_quota",
          "max_upload_bytes", "aliases", "samples", "sample_pattern", "shape", "ground_truth", "ground_truth_sha256",
          "psnr", "csv", "split", "model", "program", "final_submissions", "phases", "archived")
_SHOWN_WHOLE = 80  # longer values (a description) are shown by their length only


def carry_ground_truth(current: Competition, document: Competition) -> Competition:
    """`document` with each task's ground truth taken from the current version where the document leaves it out
    (no key, or the same key without a digest): the `ground_truth` key is optional in a host's file, and
    `podium admin ground-truth put` records the object a task uses."""
    tasks = []
    for task in document.tasks:
        before = current.task(task.id)
        same_key = not task.ground_truth or task.ground_truth == (before.ground_truth if before else None)
        if before is not None and before.id == task.id and same_key and not task.ground_truth_sha256:
            task = msgspec.structs.replace(task, ground_truth=before.ground_truth,
                                           ground_truth_sha256=before.ground_truth_sha256)
        tasks.append(task)
    return msgspec.structs.replace(document, tasks=tuple(tasks))


def carry_program(current: Competition, document: Competition) -> Competition:
    """`document` with each program task's program (key and digest) taken from the current version where the
    document leaves it out (no key, or the same key without a digest): `podium admin program put` records the
    program, and a host's file need not repeat it. Its contract and limits are the document's."""
    tasks = []
    for task in document.tasks:
        before = current.task(task.id)
        kept = before.program if before is not None and before.id == task.id and before.uses_program else None
        if (task.uses_program and kept is not None and not task.program.sha256
                and task.program.key in ("", kept.key)):
            task = msgspec.structs.replace(task, program=msgspec.structs.replace(task.program, key=kept.key,
                                                                                 sha256=kept.sha256))
        tasks.append(task)
    return msgspec.structs.replace(document, tasks=tuple(tasks))


def with_program(competition: Competition, task_id: str, key: str, sha256: str) -> Competition:
    tasks = tuple(msgspec.structs.replace(t, program=msgspec.structs.replace(t.program, key=key, sha256=sha256))
                  if t.id == task_id else t for t in competition.tasks)
    return msgspec.structs.replace(competition, tasks=tasks)


def check_metric_parameters(document: Competition) -> None:
    """Every board column's parameters, checked by the metric library (`check_parameters`): a host's mistake is a
    CompetitionError naming the task and the field where it was written (`metrics`, or the shorthand's
    `metric_parameters`) when the document is applied, not a scoring failure retried as the platform's fault."""
    for task in document.tasks:
        field = "metrics" if task.metrics else "metric_parameters"
        for column in task.columns:
            where = f"column {column.header}: " if task.metrics else ""
            if column.name == "program":  # the host's program computes it: nothing of the library to check
                if column.parameters:
                    raise CompetitionError(f"{where}a program's column takes no parameters (the program is its own "
                                           "settings)", task=task.id, field=field)
                continue
            try:
                metrics.check_parameters(column.name, column.parameters)
            except ValueError as exc:
                raise CompetitionError(f"{where}{exc}", task=task.id, field=field) from None


def with_ground_truth(competition: Competition, task_id: str, key: str, sha256: str) -> Competition:
    tasks = tuple(msgspec.structs.replace(t, ground_truth=key, ground_truth_sha256=sha256) if t.id == task_id else t
                  for t in competition.tasks)
    return msgspec.structs.replace(competition, tasks=tasks)


def removed_tasks(current: Competition, document: Competition) -> list[str]:
    ids = {task.id for task in document.tasks}
    return [task.id for task in current.tasks if task.id not in ids]


def identity_changed(current: Competition, document: Competition) -> list[str]:
    """Tasks present before and after whose scoring identity differs (their scores become stale)."""
    changed = []
    for task in document.tasks:
        before = next((t for t in current.tasks if t.id == task.id), None)
        if before is not None and before.scorer_version != task.scorer_version:
            changed.append(task.id)
    return changed


def diff(current: Competition, document: Competition) -> list[str]:
    """What changes from `current` to `document`, one line per change, as a host reads it."""
    lines = []
    if current.competition != document.competition:
        lines.append(f"competition name: {_shown(current.competition.name)} → {_shown(document.competition.name)}")
    before_ids = [task.id for task in current.tasks]
    for task in document.tasks:
        before = next((t for t in current.tasks if t.id == task.id), None)
        if before is None:
            lines.append(f"task {task.id}: added ({task.kind}, {task.metric}, \"{task.title[:60]}\")")
            continue
        old, new = msgspec.structs.asdict(before), msgspec.structs.asdict(task)
        for field in _ORDER:
            if old[field] != new[field]:
                lines.append(f"task {task.id}: {field} {_shown(old[field])} → {_shown(new[field])}")
        if before.scorer_version != task.scorer_version:
            lines.append(f"task {task.id}: scoring identity {before.scorer_version} → {task.scorer_version} "
                         "(earlier scores stay; rescore to bring them up to date)")
    lines += [f"task {task_id}: removed" for task_id in removed_tasks(current, document)]
    after_ids = [task.id for task in document.tasks if task.id in before_ids]
    if after_ids != [i for i in before_ids if i in after_ids]:
        lines.append(f"task order: {', '.join(after_ids)}")
    return lines


def _shown(value: Any) -> str:
    if isinstance(value, str) and len(value) == 64 and value.isalnum():
        return value[:12]  # a digest
    if isinstance(value, str):
        return f'"{value}"' if len(value) <= _SHOWN_WHOLE else f"({len(value)} characters)"
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], Phase | dict):
        return "[" + ", ".join(_phase(p) for p in value) + "]"
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], MetricColumn):
        return "[" + ", ".join(_column(c) for c in value) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    if hasattr(value, "__struct_fields__"):
        return str(msgspec.to_builtins(value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def _column(column: MetricColumn) -> str:
    """A board column as a host wrote it: `AUC (roc_auc, primary, precision 4)`."""
    settings = [column.name, *(flag for flag in ("primary", "tie_break", "hidden") if getattr(column, flag))]
    settings += [f"sort {column.sort}"] if column.sort else []
    settings += [f"precision {column.precision}"]
    settings += [f"parameters {column.parameters}"] if column.parameters else []
    return f"{column.header} ({', '.join(settings)})"


def _phase(phase: Any) -> str:
    fields = phase if isinstance(phase, dict) else msgspec.structs.asdict(phase)
    return f"{fields['id']} {_when(fields['opens_at'])}–{_when(fields['closes_at'])}"


def _when(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if isinstance(moment, datetime) else str(moment)


def expected_format(task: Task) -> str:
    """What to upload to `task`, in one sentence."""
    shape = "×".join(map(str, task.shape))
    if task.kind == "gpu":
        return (f"an ONNX model: input {task.model.input_name!r} float32 [batch, {', '.join(map(str, task.shape))}], "
                f"output {task.model.output_name!r} [batch, {task.model.classes}] class scores")
    if task.effective_format == "csv":
        columns = task.csv.prediction_columns or task.csv.target_columns
        named = f"the columns {', '.join(columns)}" if columns else "one column per target, named like it"
        return (f"a CSV of predictions ({task.metric}): a header, the id column "
                f"{task.csv.id_column or '(as in the solution)'} and {named}, one row per id in any order")
    if task.effective_format == "masks":
        classes = task.primary_column.parameters.get("classes", MASK_CLASSES)
        return (f"a ZIP of PNG masks ({task.metric}): one <case>.png per case of the ground truth, each a "
                f"single-channel label image of the ground truth's size whose pixels are class numbers 0 … "
                f"{int(classes) - 1}")
    if task.effective_format == "coco":
        return (f"a COCO detection-results JSON ({task.metric}): a list of {{image_id, category_id, bbox: [x, y, "
                f"width, height], score}}, at most {MAX_DETECTIONS_PER_IMAGE} detections per image")
    if task.effective_format == "file":
        return (f"a file, sent as it is (at most {task.max_upload_bytes} bytes): the host's scoring program reads it; "
                "the task's description says what it expects")
    names = task.sample_names()
    last = f" … {names[-1]}" if len(names) > 1 else ""
    return (f"a ZIP of {task.samples} tensors named {names[0]}{last} (.pt, .npy or .safetensors), each float "
            f"of shape {shape}")


def task_columns(task: Task, *, admin: bool) -> list[TaskColumn]:
    """The task's board columns as participants read them, the primary one first; a hidden column is an admin's
    alone (anyone else never learns it exists)."""
    return [TaskColumn(header=column.header, metric=column.name, direction=column.direction,
                       definition=METRIC_INFO[column.name].definition, precision=column.precision,
                       primary=place == 0, tie_break=column.tie_break, hidden=column.hidden)
            for place, column in enumerate(task.columns) if admin or not column.hidden]  # `columns`: primary first


def refusal(task: Task, moment: datetime) -> str:
    """Why `task` takes no submission at `moment` ("" when it does)."""
    if task.archived:
        return f"task {task.id} is archived: it is read-only and takes no submissions"
    if not task.has_ground_truth:
        return (f"task {task.id} has no ground truth yet, so it cannot score submissions; the host puts it "
                "next (`podium admin ground-truth put`)")
    if task.uses_program and not task.has_program:
        return (f"task {task.id} has no scoring program yet, so it cannot score submissions; the host puts it "
                "next (`podium admin program put`)")
    if task.phase_at(moment) is None:
        upcoming = next_phase(task, moment)
        when = f"; the next phase opens {_when(upcoming.opens_at)}" if upcoming else "; no phase opens again"
        return f"task {task.id} accepts no submissions now (no open phase{when})"
    return ""


def next_phase(task: Task, moment: datetime) -> Phase | None:
    return min((p for p in task.phases if p.opens_at > moment), key=lambda p: p.opens_at, default=None)
