"""The competition file: tasks, their metric and its parameters, expected members, ground truth, split,
quotas and phases. Read by the submission service (quotas, phases, uploads) and by the scorers (how to
score), so it is part of the contracts. TOML, decoded and validated by msgspec.

    [competition]
    name = "Podium demo"

    [[tasks]]
    id = "reconstruction"          # a subject token: letters, digits, '_' and '-'
    title = "Image reconstruction"
    description = "Markdown shown to participants (no HTML passes through)."
    kind = "cpu"                   # cpu: a ZIP of result tensors; gpu: an ONNX model
    format = "tensors"             # optional: tensors (cpu) and onnx (gpu) by default
    metric = "psnr"
    sort = "desc"                  # higher is better
    daily_quota = 5                # accepted submissions per team per UTC day
    max_upload_bytes = 300_000_000
    aliases = ["task1"]            # MLS-GOAT's route names for this task
    samples = 300                  # members sample_0000 … sample_0299
    sample_pattern = "sample_{index:04d}"
    shape = [3, 256, 256]
    ground_truth = "reconstruction/ground_truth.zip"   # optional: key in the ground-truth bucket
    psnr = { data_range = 1.0, cap_db = 100.0 }
    split = { private_fraction = 0.8, seed = 20261122 }
    [[tasks.phases]]
    id = "main"
    opens_at = 2026-01-01T00:00:00Z
    closes_at = 2027-01-01T00:00:00Z

The competition is data owned by submission_service: every change is a new immutable `CompetitionVersion`, published
into the `competition` KV bucket every service watches (`podium_runtime.competition`). A file like the above is
what a host applies (`podium admin competition apply`) and what seeds an empty platform. A task's scorer version is
not written by anyone: it is derived (`Task.scorer_version`) from everything that can change a score.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast, get_args

import msgspec
import msgspec.inspect

from proto.metrics import FORMAT_METRICS, METRIC_INFO
from proto.subjects import token

TaskId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
TaskKind = Literal["cpu", "gpu"]
SubmissionFormat = Literal["tensors", "csv", "masks", "coco", "file", "onnx"]
# What a task of each kind is scored from: a cpu task reads a participant's results, a gpu task runs their model.
# The first one is the kind's default.
FORMATS_OF_KIND: dict[str, tuple[str, ...]] = {"cpu": ("tensors", "csv", "masks", "coco", "file"), "gpu": ("onnx",)}
# The formats a host's scoring program (`metric = "program"`) may score: the checked file of csv, tensors and masks,
# or (`file`) the uploaded file as it is, within the upload limits.
PROGRAM_FORMATS = ("csv", "tensors", "masks", "file")
# The formats the scorers of this version score. The others are refused when a competition is applied, until their
# readers are wired into a scorer: no task can take submissions nothing would score.
SCORED_FORMATS = frozenset({"tensors", "csv", "masks", "coco", "file", "onnx"})
# The metric library's names (`podium_runtime.scoring.metrics.names()`, which proto cannot import; a unit test holds
# the two equal), and those a csv task may use: the ones over labels, probabilities or values.
MetricName = Literal[
    "accuracy", "balanced_accuracy", "f1_macro", "f1_micro", "f1_weighted", "precision_macro", "precision_micro",
    "precision_weighted", "recall_macro", "recall_micro", "recall_weighted", "roc_auc", "roc_auc_ovr", "roc_auc_ovo",
    "average_precision", "log_loss", "mcc", "quadratic_kappa", "mae", "mse", "rmse", "rmsle", "r2", "mape", "psnr",
    "ssim", "dice", "iou", "map", "map50", "map75", "program",
]
METRIC_NAMES: tuple[str, ...] = get_args(MetricName)
CSV_METRICS: tuple[str, ...] = FORMAT_METRICS["csv"]
MetricParameter = float | int | str
# The classes of a masks task's label images when its columns name none: the metric library's default (dice, iou).
MASK_CLASSES = 2
class ProgramSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A program task's scoring program (`metric = "program"`): a ZIP with `score.py` at its root in the `programs`
    bucket (`podium admin program put` sets key and digest), how it is called, and its limits on one run. The digest
    and the contract are part of the task's scoring identity: a new program is a new identity, and a rescore."""

    key: Annotated[str, msgspec.Meta(max_length=512)] = ""
    sha256: Annotated[str, msgspec.Meta(pattern=r"^([0-9a-f]{64})?$")] = ""
    # function: `score(truth, submission, context) -> {"public": …, "private": …, "details": …}`; codabench:
    # `python score.py INPUT OUTPUT` writing OUTPUT/scores.json (or scores.txt).
    contract: Literal["function", "codabench"] = "function"
    wall_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 60.0
    cpu_s: Annotated[int, msgspec.Meta(ge=1, le=3600)] = 60
    memory_mb: Annotated[int, msgspec.Meta(ge=64, le=65536)] = 2048
    file_mb: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 64
    processes: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 16


# A leaderboard column's name: what a board, its CSV export and `podium leaderboard` show as its header.
ColumnName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.()%@-]{0,63}$")]


class MetricColumn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One column of a task's boards (`[[tasks.metrics]]`): a metric of the library, what it is called, and how it
    ranks. The primary column ranks the boards (its value is a board line's `score`); tie-break columns, in the
    order declared, break its ties, then the earlier submission. A hidden column is computed and shown to hosts,
    and the server never sends it to anyone else."""

    name: MetricName
    # The header shown; absent, the metric's name.
    column: ColumnName | None = None
    primary: bool = False
    # desc: higher is better; absent, the metric's own direction (`proto.metrics.METRIC_INFO`).
    sort: Literal["asc", "desc"] | None = None
    # Digits shown after the decimal point.
    precision: Annotated[int, msgspec.Meta(ge=0, le=12)] = 4
    hidden: bool = False
    tie_break: bool = False
    # The metric's parameters over its defaults (checked against the metric library when applied).
    parameters: dict[str, MetricParameter] = msgspec.field(default_factory=dict[str, MetricParameter])

    @property
    def header(self) -> str:
        return self.column or self.name

    @property
    def direction(self) -> Literal["asc", "desc"]:
        return self.sort or METRIC_INFO[self.name].direction


# Headers a board line has already (its CSV export's columns): no metric column can take one.
RESERVED_HEADERS = frozenset({"rank", "team_id", "team_name", "score", "submission_id", "submitted_at", "submissions",
                              "last_submission_at", "rank_change", "private_rank", "private_score"})
# What of a column is presentation (a change of it changes no score, so it is not part of a task's identity).
_COLUMN_NOT_IDENTITY = frozenset({"primary", "sort", "precision", "hidden", "tie_break"})


class PsnrParameters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    data_range: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    # An exact match has infinite PSNR; capping keeps every number finite and averageable.
    cap_db: Annotated[float, msgspec.Meta(gt=0)] = 100.0


class Split(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    private_fraction: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.8
    seed: int = 0

    def private_samples(self, n_samples: int) -> list[bool]:
        """Which samples are private: exactly round(n · private_fraction) of them, chosen by a keyed hash of
        each index (BLAKE2b of `seed:index`) so the split never moves between versions of any library — a
        rescore must compare the same samples. Every scorer of a task uses this one definition."""
        n_private = round(n_samples * self.private_fraction)
        order = sorted(range(n_samples), key=lambda index: _split_key(self.seed, index))
        private = [False] * n_samples
        for index in order[:n_private]:
            private[index] = True
        return private


def _split_key(seed: int, index: int) -> bytes:
    return hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=16).digest()


class ModelSignature(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a submitted model (gpu task) must look like: one float input, one output of class scores."""

    input_name: str = "input"
    output_name: str = "output"
    classes: Annotated[int, msgspec.Meta(ge=2)] = 10
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 64
    # The time limit of one evaluation: loading the model and running the whole test set, in seconds.
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 120.0
    top_k: Annotated[int, msgspec.Meta(ge=1)] = 3
    # The memory limit of one evaluation, in MiB: what loading the model and running it may take beyond the
    # scorer's own (ONNX Runtime engine; Triton runs models under its own server's limits).
    memory_limit_mb: Annotated[int, msgspec.Meta(ge=64)] = 512


class CsvColumns(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A csv task's columns (`podium_runtime.scoring.formats.csv.CsvSettings`); empty: the defaults (the solution's
    first column is the id, its other columns but Usage the targets, a submission's columns named like them)."""

    id_column: Annotated[str, msgspec.Meta(max_length=200)] = ""
    target_columns: Annotated[tuple[str, ...], msgspec.Meta(max_length=1000)] = ()
    # A multi-class probability task names its class columns here (the solution's one label column holds them).
    prediction_columns: Annotated[tuple[str, ...], msgspec.Meta(max_length=1000)] = ()


class Phase(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: TaskId
    opens_at: datetime
    closes_at: datetime


ALWAYS_OPEN = Phase(id="open", opens_at=datetime(1970, 1, 1, tzinfo=UTC), closes_at=datetime(9999, 1, 1, tzinfo=UTC))


SHA256 = Annotated[str, msgspec.Meta(pattern=r"^([0-9a-f]{64})?$")]
# Fields whose change changes no score: a host moves deadlines, quotas, titles and texts freely.
_NOT_IDENTITY = frozenset({"id", "title", "description", "format", "sort", "daily_quota", "max_upload_bytes", "aliases",
                           "final_submissions", "phases", "archived", "ground_truth", "program"})
_MODEL_NOT_IDENTITY = frozenset({"timeout_s", "memory_limit_mb", "top_k"})


class Task(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: TaskId
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    # Markdown shown to participants; rendered without any HTML (`gateway` renders it, the CLI prints it).
    description: Annotated[str, msgspec.Meta(max_length=20_000)] = ""
    kind: TaskKind
    # What a submission is: tensors (a ZIP of result tensors), csv, masks, coco (cpu tasks) or onnx (a model, gpu
    # tasks); absent, the kind's default (`effective_format`).
    format: SubmissionFormat | None = None
    # The primary metric. Alone, the task's one board column (named like it); with `metrics`, the name of the one
    # marked primary there.
    metric: MetricName
    # The metric's parameters over its defaults (a task without `metrics`; checked against the metric library when
    # applied).
    metric_parameters: dict[str, MetricParameter] = msgspec.field(default_factory=dict[str, MetricParameter])
    # The primary metric's direction (desc: higher is better); absent, the metric's own.
    sort: Literal["asc", "desc"] | None = None
    # The board's columns, when there are more than the primary one (`columns` resolves the shorthand).
    metrics: Annotated[tuple[MetricColumn, ...], msgspec.Meta(max_length=20)] = ()
    daily_quota: Annotated[int, msgspec.Meta(ge=1)] = 5
    max_upload_bytes: Annotated[int, msgspec.Meta(ge=1)] = 300_000_000
    aliases: tuple[str, ...] = ()
    samples: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 300
    sample_pattern: str = "sample_{index:04d}"
    shape: tuple[int, ...] = ()
    # The ground truth's key in the `ground-truth` bucket and its digest; empty until the host puts it (a task
    # without ground truth refuses submissions). `podium admin ground-truth put` sets both.
    ground_truth: Annotated[str, msgspec.Meta(max_length=512)] = ""
    ground_truth_sha256: SHA256 = ""
    psnr: PsnrParameters = msgspec.field(default_factory=PsnrParameters)
    # csv tasks: which columns are the id, the targets and the predictions.
    csv: CsvColumns = msgspec.field(default_factory=CsvColumns)
    split: Split = msgspec.field(default_factory=Split)
    # gpu tasks: the model's signature; `shape` is one sample's feature shape, `ground_truth` an .npz (x, y).
    model: ModelSignature = msgspec.field(default_factory=ModelSignature)
    # program tasks (`metric = "program"`): the host's scoring program.
    program: ProgramSpec = msgspec.field(default_factory=ProgramSpec)
    # How many submissions a team may mark as final for the private board.
    final_submissions: Annotated[int, msgspec.Meta(ge=1, le=100)] = 2
    phases: tuple[Phase, ...] = ()
    # An archived task stays visible and read-only with its boards: it takes no submissions.
    archived: bool = False

    @property
    def scorer_version(self) -> str:
        """The task's scoring identity: a digest of everything that can change a score (format, metric and its
        parameters, split, ground-truth digest), so a host never bumps it by hand and a changed definition is
        a new identity. Deadlines, quotas, titles and texts are not part of it."""
        fields: dict[str, Any] = {k: v for k, v in msgspec.structs.asdict(self).items() if k not in _NOT_IDENTITY}
        fields["model"] = {k: v for k, v in msgspec.structs.asdict(self.model).items()
                           if k not in _MODEL_NOT_IDENTITY} if self.kind == "gpu" else None
        if self.metric != "psnr":
            fields["psnr"] = None
        # Fields added with the csv format count only where they say something, so older identities stay.
        if self.effective_format != "csv":
            del fields["csv"]
        # A program counts by its digest and how it is called (its limits change no score); absent elsewhere.
        if self.uses_program:
            fields["program"] = {"sha256": self.program.sha256, "contract": self.program.contract}
        if not self.metric_parameters:
            del fields["metric_parameters"]
        # Every column computed counts with its name (its values are keyed by it); how it ranks and shows does not,
        # nor which one is primary (`metric` names it): a host switching the primary column re-sorts the boards from
        # the values they have, with no rescore.
        prefix = self.metric
        if self.metrics:
            fields["metrics"] = sorted(
                ({k: v for k, v in msgspec.structs.asdict(column).items() if k not in _COLUMN_NOT_IDENTITY}
                 for column in self.metrics), key=lambda column: str(column["column"] or column["name"]))
            del fields["metric"]
            prefix = "columns"
        else:
            del fields["metrics"]
        # The format counts as it is scored (absent and the kind's default are the same scoring); the default adds
        # nothing, so the identities of tasks written before formats existed stay what they were.
        if self.effective_format != FORMATS_OF_KIND[self.kind][0]:
            fields["format"] = self.effective_format
        digest = hashlib.sha256(msgspec.json.encode(fields, order="sorted")).hexdigest()
        return f"{prefix}-{digest[:12]}"

    @property
    def columns(self) -> tuple[MetricColumn, ...]:
        """The board's columns, the primary one first: `metrics` as declared, or the one column of the shorthand
        `metric` (named like it, ranked by `sort`, with `metric_parameters`)."""
        if not self.metrics:
            return (MetricColumn(name=self.metric, primary=True, sort=self.sort,
                                 parameters=dict(self.metric_parameters)),)
        primary = self.primary_column
        return (primary, *(column for column in self.metrics if column is not primary))

    @property
    def primary_column(self) -> MetricColumn:
        """The column that ranks: the one marked primary, else the first computing `metric`."""
        if not self.metrics:
            return self.columns[0]
        marked = [column for column in self.metrics if column.primary]
        return marked[0] if marked else next((c for c in self.metrics if c.name == self.metric), self.metrics[0])

    @property
    def board_sort(self) -> Literal["asc", "desc"]:
        """The primary column's direction: how a board of the task is ordered."""
        return self.primary_column.direction

    @property
    def effective_format(self) -> str:
        """The task's format, or its kind's default where the task names none (tensors for cpu, onnx for gpu)."""
        return self.format or FORMATS_OF_KIND[self.kind][0]

    @property
    def uses_program(self) -> bool:
        """Whether the host's program computes the task's columns (`metric = "program"`)."""
        return self.metric == "program"

    @property
    def has_program(self) -> bool:
        return bool(self.program.key and self.program.sha256)

    @property
    def has_ground_truth(self) -> bool:
        return bool(self.ground_truth and self.ground_truth_sha256)

    def sample_names(self) -> list[str]:
        return [self.sample_pattern.format(index=index) for index in range(self.samples)]

    def phase_at(self, moment: datetime) -> Phase | None:
        """The phase open at `moment` (None: closed); a task without phases is always open."""
        if not self.phases:
            return ALWAYS_OPEN
        return next((p for p in self.phases if p.opens_at <= moment < p.closes_at), None)

    def closes_at(self) -> datetime | None:
        """When the task's last phase closes (no submission after it); None for a task without phases."""
        return max((p.closes_at for p in self.phases), default=None)


class CompetitionInfo(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(max_length=200)] = "Podium"


class Competition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    competition: CompetitionInfo = msgspec.field(default_factory=CompetitionInfo)
    tasks: Annotated[tuple[Task, ...], msgspec.Meta(max_length=100)] = ()

    def task(self, task_id: str) -> Task | None:
        """A task by id, or by one of its MLS-GOAT aliases (e.g. "task1")."""
        return next((t for t in self.tasks if t.id == task_id or task_id in t.aliases), None)

    def position(self, task_id: str) -> int:
        """The task's place in the competition (1 = first): MLS-GOAT's frontend names tasks by number."""
        return next((n for n, t in enumerate(self.tasks, start=1) if t.id == task_id), 0)


class CompetitionVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One immutable version of the competition: what the `competition` KV bucket holds (key `current`) and what
    `GET /api/v1/admin/competition/versions/{n}` answers. Version 0 is "no competition yet"."""

    version: int
    competition: Competition
    created_at: datetime
    created_by: str
    # What changed from the previous version, one line per change ("task recon: daily_quota 5 → 10").
    changes: tuple[str, ...] = ()


EMPTY = CompetitionVersion(version=0, competition=Competition(), created_at=datetime(1970, 1, 1, tzinfo=UTC),
                           created_by="")


class CompetitionError(ValueError):
    """A document that cannot become a version; `task` and `field` say where (empty: the whole document)."""

    def __init__(self, message: str, *, task: str = "", field: str = "") -> None:
        where = ", ".join(part for part in (f"task {task}" if task else "", f"field {field}" if field else "") if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.task = task
        self.field = field
        self.message = message


def parse_competition(text: bytes | str, *, content_type: str = "toml") -> Competition:
    """Decode and check a competition document (TOML, or JSON with `content_type="json"`); the first problem is
    raised as a CompetitionError naming its task and field."""
    try:
        raw = msgspec.json.decode(text) if content_type == "json" else msgspec.toml.decode(text)
    except msgspec.DecodeError as exc:
        raise CompetitionError(f"not valid {content_type.upper()}: {exc}") from None
    except RecursionError:  # how msgspec's JSON decoder and Python's TOML parser give up on deep nesting
        raise CompetitionError(f"not valid {content_type.upper()}: nested too deeply") from None
    return check_competition(raw)


def check_competition(raw: Any) -> Competition:
    """A decoded document (plain dicts and lists) as a checked Competition, or a CompetitionError saying where."""
    try:
        competition = msgspec.convert(raw, type=Competition, strict=False)
    except msgspec.ValidationError as exc:
        raise _located(raw, str(exc)) from None
    seen: set[str] = set()
    for task in competition.tasks:
        if task.id in seen:
            raise CompetitionError("another task has this id; ids must be unique", task=task.id, field="id")
        seen.add(task.id)
        _check_task(task)
    aliases = [alias for task in competition.tasks for alias in task.aliases]
    for task in competition.tasks:
        for alias in task.aliases:
            if alias in seen or aliases.count(alias) > 1:
                raise CompetitionError(f"alias {alias!r} names another task too", task=task.id, field="aliases")
    return competition


def _check_task(task: Task) -> None:
    token(task.id)
    for phase in task.phases:
        if phase.opens_at.tzinfo is None or phase.closes_at.tzinfo is None:
            raise CompetitionError(f"phase {phase.id}: opens_at and closes_at need a time zone (e.g. Z)",
                                   task=task.id, field="phases")
        if phase.opens_at >= phase.closes_at:
            raise CompetitionError(f"phase {phase.id}: opens_at must be before closes_at", task=task.id,
                                   field="phases")
    phase_ids = [phase.id for phase in task.phases]
    if len(set(phase_ids)) != len(phase_ids):
        raise CompetitionError("phase ids must be unique", task=task.id, field="phases")
    _check_format(task)
    _check_columns(task)
    if task.effective_format == "csv":
        _check_csv_task(task)
    else:
        _check_tensor_task(task)
    if task.ground_truth_sha256 and not task.ground_truth:
        raise CompetitionError("a digest without a ground_truth key", task=task.id, field="ground_truth_sha256")


def _check_columns(task: Task) -> None:
    """The board's columns: metrics the task's format is scored by, distinct headers, one primary that `metric`
    names, no hidden column that ranks."""
    fmt = task.effective_format
    scored = FORMAT_METRICS[fmt] + (("program",) if fmt in PROGRAM_FORMATS else ())
    _check_program(task)
    if task.metric not in scored:
        raise CompetitionError(f"a {fmt} task cannot use metric {task.metric}; it takes one of {', '.join(scored)}",
                               task=task.id, field="metric")
    if not task.metrics:
        return
    field = "metrics"
    for column in task.metrics:
        if column.name not in scored:
            raise CompetitionError(f"column {column.header}: a {fmt} task cannot use metric {column.name}; it takes "
                                   f"one of {', '.join(scored)}", task=task.id, field=field)
    headers = [column.header for column in task.metrics]
    if len({header.casefold() for header in headers}) != len(headers):
        raise CompetitionError(f"two columns have the same name ({', '.join(headers)}); give one a column = \"…\"",
                               task=task.id, field=field)
    reserved = [header for header in headers if header.casefold() in RESERVED_HEADERS or header.startswith("private ")]
    if reserved:
        raise CompetitionError(f"column name {reserved[0]!r} is taken by the board itself; choose another",
                               task=task.id, field=field)
    marked = [column for column in task.metrics if column.primary]
    if len(marked) > 1:
        raise CompetitionError(f"only one column can be primary, not {', '.join(c.header for c in marked)}",
                               task=task.id, field=field)
    primary = task.primary_column
    if primary.name != task.metric:
        raise CompetitionError(f"metric = {task.metric!r} must name the primary column's metric ({primary.name}, "
                               f"column {primary.header})", task=task.id, field="metric")
    if task.sort is not None and task.sort != primary.direction:
        raise CompetitionError(f"sort = {task.sort!r} disagrees with the primary column {primary.header} "
                               f"({primary.direction}); set sort in the column", task=task.id, field="sort")
    if task.metric_parameters:
        raise CompetitionError("with [[tasks.metrics]], give each column its own parameters = { … }",
                               task=task.id, field="metric_parameters")
    for column in task.metrics:
        if column.hidden and (column is primary or column.tie_break):
            what = "the primary column" if column is primary else "a tie-break column"
            raise CompetitionError(f"column {column.header} is {what}, which ranks the board, so it cannot be hidden",
                                   task=task.id, field=field)
        if column.tie_break and column is primary:
            raise CompetitionError(f"column {column.header} is primary; tie_break is for the other columns",
                                   task=task.id, field=field)
    _check_one_submission(task)


def _check_one_submission(task: Task) -> None:
    """Every column is computed from the one file a team submits, so the columns must agree on what it holds. A csv
    file holds values (regression) or class labels and probabilities: a label column of a task whose file holds
    probabilities scores each row's predicted class (a probability of class 1 above 0.5; with one column per
    class, the highest), but values never mix with either. A masks file's labels have one range: the columns
    agree on `classes`."""
    takes = {column.header: METRIC_INFO[column.name].takes for column in task.metrics}
    if "values" in takes.values() and set(takes.values()) != {"values"}:
        values = [header for header, kind in takes.items() if kind == "values"]
        others = [f"{header} ({kind})" for header, kind in takes.items() if kind != "values"]
        raise CompetitionError(f"columns {', '.join(values)} score values and {', '.join(others)} do not: one CSV "
                               "cannot hold both; make them separate tasks", task=task.id, field="metrics")
    if task.effective_format == "masks":
        classes = {column.header: column.parameters.get("classes", MASK_CLASSES) for column in task.metrics}
        if len(set(classes.values())) > 1:
            listed = ", ".join(f"{header} {value}" for header, value in classes.items())
            raise CompetitionError(f"the columns of a masks task must agree on parameters.classes (the masks' labels "
                                   f"are 0 … classes-1), not {listed}", task=task.id, field="metrics")


def _check_program(task: Task) -> None:
    """A program task's columns all come from its program; a program belongs to a program task only."""
    names = {column.name for column in task.columns}
    if task.uses_program and names != {"program"}:
        raise CompetitionError('with metric = "program", every column is the program\'s (name = "program"); the '
                               "library's metrics cannot be mixed in", task=task.id, field="metrics")
    if not task.uses_program and "program" in names:
        raise CompetitionError('a column named "program" needs metric = "program"', task=task.id, field="metric")
    if not task.uses_program and (task.program.key or task.program.sha256):
        raise CompetitionError('a program is for a task with metric = "program"', task=task.id, field="program")
    if task.program.sha256 and not task.program.key:
        raise CompetitionError("a digest without a program key", task=task.id, field="program")


def _check_csv_task(task: Task) -> None:
    """A csv task has no shape: its columns name the id, the targets and the predictions."""
    columns = (task.csv.id_column, *task.csv.target_columns, *task.csv.prediction_columns)
    if any(not name.strip() for name in columns[1:]):
        raise CompetitionError("a column name cannot be empty", task=task.id, field="csv")


def _check_tensor_task(task: Task) -> None:
    if task.effective_format in ("masks", "coco", "file"):
        return  # the ground truth says the cases' sizes and ids; a file is the program's to read
    if task.metric_parameters or any(column.parameters for column in task.metrics):
        raise CompetitionError(f"a {task.effective_format} task takes no metric_parameters (psnr has its own "
                               "psnr = { … })", task=task.id, field="metric_parameters")
    if not task.shape:
        what = "of one sample (the model's input features)" if task.kind == "gpu" else "of each sample's tensor"
        raise CompetitionError(f"a {task.kind} task needs the shape {what}", task=task.id, field="shape")
    if any(size < 1 for size in task.shape):
        raise CompetitionError(f"every size must be at least 1, got {list(task.shape)}", task=task.id, field="shape")
    if task.kind == "cpu":
        try:
            names = task.sample_names()
        except (KeyError, IndexError, ValueError) as exc:
            raise CompetitionError(f"cannot name samples: {exc!r}; use {{index}}", task=task.id,
                                   field="sample_pattern") from None
        if len(set(names)) != len(names):
            raise CompetitionError("must give distinct names (use {index})", task=task.id, field="sample_pattern")


def _check_format(task: Task) -> None:
    if task.format is None:
        return
    if task.format not in FORMATS_OF_KIND[task.kind]:
        takes = " or ".join(FORMATS_OF_KIND[task.kind])
        raise CompetitionError(f"a {task.kind} task cannot take format {task.format}; it takes {takes} (or leave "
                               "format out)", task=task.id, field="format")
    if task.format not in SCORED_FORMATS:
        scored = ", ".join(sorted(SCORED_FORMATS))
        raise CompetitionError(f"format {task.format} is not supported yet: this version scores {scored}",
                               task=task.id, field="format")


def _located(raw: Any, message: str) -> CompetitionError:
    """msgspec's `… - at `$.tasks[1].daily_quota`` as "task <id>, field daily_quota: …"."""
    problem, _, path = message.partition(" - at `")
    path = path.rstrip("`")
    if not path.startswith("$.tasks["):
        field = path.removeprefix("$.").removeprefix("$")
        if not field and "`" in problem:
            field = problem.split("`")[1]
        return CompetitionError(problem, field=field)
    index_text, _, rest = path.removeprefix("$.tasks[").partition("]")
    task = f"#{int(index_text) + 1}"
    try:
        task_id = raw["tasks"][int(index_text)].get("id")
        if isinstance(task_id, str) and task_id:
            task = task_id[:64]
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        pass
    field = rest.removeprefix(".")
    if not field and "unknown field" in problem:
        field = problem.split("`")[1] if "`" in problem else ""
    if not field and "missing required field" in problem:
        field = problem.split("`")[1] if "`" in problem else ""
    if field == "scorer_version":
        problem = "scorer_version is derived from the task now (metric, parameters, split, ground truth): remove it"
    if problem.startswith("Invalid enum value") and field in _TASK_CHOICES:
        problem = f"{problem}; expected one of {', '.join(_TASK_CHOICES[field])}"
    return CompetitionError(problem, task=task, field=field)


def _choices(field: msgspec.inspect.Field) -> tuple[str, ...]:
    types = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
    return tuple(str(value) for kind in types if isinstance(kind, msgspec.inspect.LiteralType) for value in kind.values)


_TASK_INFO = msgspec.inspect.type_info(Task)
assert isinstance(_TASK_INFO, msgspec.inspect.StructType)
# The values a task's enumerated fields take (kind, format, metric, sort), quoted when a document has another.
_TASK_CHOICES = {field.name: choices for field in _TASK_INFO.fields
                 if (choices := _choices(field))}


def to_toml(competition: Competition) -> str:
    """The competition as a TOML file a host can edit and apply again (defaults included; TOML has no null, so an
    optional field left out, such as a task's `format`, stays out)."""
    return msgspec.toml.encode(_without_none(msgspec.to_builtins(competition, builtin_types=(datetime,)))).decode()


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        table = cast(dict[str, Any], value)
        return {key: _without_none(item) for key, item in table.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_without_none(item) for item in cast(list[Any], value)]
    return value
