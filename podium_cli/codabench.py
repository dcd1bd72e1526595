"""A Codabench bundle (or an older CodaLab one) as a Podium competition, without touching any server: the bundle's
bytes in; out, the competition document, the files to put for each task (its reference data as ground truth, its
scoring program as a ZIP with score.py at its root) and one line per thing that could not be mapped.

Codabench's `competition.yaml` (version 2): `title`, `pages` (and `terms`), `tasks` (each with `reference_data` and
`scoring_program`, folders or ZIPs inside the bundle), `phases` (with `start`, `end` and the tasks they score) and
`leaderboards` (columns with `key`, `title`, `sorting`). Each Codabench task becomes a Podium task scored by its
program (`metric = "program"`, `format = "file"`, the Codabench contract), open in the phases that list it, with
the first leaderboard's columns. A CodaLab bundle (`leaderboard: columns:`, phases keyed by number) maps the same
way: the phases that share a program and reference data make one task.

The bundle is the host's, but a bundle found on the internet is not: it is read under limits (entries, sizes, the
YAML's size and expanded size) and a name that climbs out of it ('..', an absolute path) refuses it whole.
"""

from __future__ import annotations

import io
import math
import re
import shlex
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from html.parser import HTMLParser
from typing import Any, cast

import msgspec
import yaml

from proto.competition import RESERVED_HEADERS, Competition, Task

MiB = 1 << 20
GiB = 1 << 30
# What a task's description may hold (proto's Task.description).
DESCRIPTION_CHARS = 20_000
# A Podium column's name: what scores.json's keys must be called (proto's ColumnName).
_COLUMN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.()%@-]{0,63}$")
_PYTHON = re.compile(r"^python(3(\.\d+)?)?$")
_PLACE = re.compile(r"^\$(input|output|program)(/[A-Za-z0-9_.\-/]*)?$")
_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)  # a phase without an end (Podium's phases always close)
_DATE_FORMATS = ("%m-%d-%Y", "%m/%d/%Y", "%m-%d-%Y %H:%M", "%m/%d/%Y %H:%M", "%m-%d-%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S")
# Top-level keys of competition.yaml read here; the others are named as not mapped.
_READ_KEYS = frozenset({"version", "title", "description", "pages", "terms", "html", "tasks", "phases", "leaderboards",
                        "leaderboard", "docker_image", "competition_docker_image", "solutions", "end_date"})
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # a fixed timestamp: the same bundle gives the same files, and the same digests


class BundleRefused(ValueError):
    """The bundle cannot be imported; the message says why, in words a host can act on."""


@dataclass(frozen=True)
class BundleLimits:
    """What a bundle may hold; checked on the ZIP's directory before a byte is inflated."""

    entries: int = 10_000
    # Every file of the bundle, nested ZIPs included, uncompressed: the import holds them in memory, and a
    # ground truth is at most 2 GiB on the platform anyway.
    total_bytes: int = 2 * GiB
    # competition.yaml and a program's metadata: text, read whole.
    yaml_bytes: int = 1 * MiB
    # Values the YAML expands to, aliases counted each time they are used: a "billion laughs" document is small
    # and expands to more than any memory.
    yaml_values: int = 100_000


@dataclass(frozen=True)
class TaskFiles:
    """What to put for a task once the competition is applied."""

    task_id: str
    ground_truth: bytes | None
    """A ZIP of the task's reference data (INPUT/ref when its program runs)."""
    program: bytes | None
    """A ZIP with score.py at its root."""


@dataclass(frozen=True)
class Imported:
    competition: Competition
    files: tuple[TaskFiles, ...]
    unmapped: tuple[str, ...]
    """One line per thing of the bundle that Podium does not take, in the order found."""


def read_bundle(data: bytes, limits: BundleLimits = BundleLimits()) -> Imported:  # noqa: B008 - frozen, shared
    """The bundle's competition, files and what could not be mapped; BundleRefused when it cannot be read at all."""
    bundle = _Bundle(limits)
    files = bundle.unzip(data, "the bundle")
    root = _root(files)
    document = bundle.yaml(files[f"{root}competition.yaml"], "competition.yaml")
    if not isinstance(document, dict):
        raise BundleRefused("competition.yaml must be a mapping of settings (title, phases, tasks, leaderboards)")
    raw = cast("dict[str, Any]", document)
    mapper = _Mapper(bundle, {name.removeprefix(root): content for name, content in files.items()
                              if name.startswith(root)}, raw)
    return mapper.run()


def merged(current: Competition, imported: Competition) -> Competition:
    """The current competition with the imported tasks added (a task of the same id replaced) and the bundle's
    title as its name. A replaced task keeps the ground truth and program it has until the import puts new ones, so
    importing the same bundle twice changes nothing."""
    by_id = {task.id: task for task in imported.tasks}
    tasks = [_carried(by_id.pop(task.id), task) if task.id in by_id else task for task in current.tasks]
    tasks += [task for task in imported.tasks if task.id in by_id]
    return msgspec.structs.replace(current, competition=imported.competition, tasks=tuple(tasks))


def _carried(task: Task, before: Task) -> Task:
    program = task.program
    if not program.key and before.uses_program:
        program = msgspec.structs.replace(program, key=before.program.key, sha256=before.program.sha256)
    if not task.ground_truth:
        task = msgspec.structs.replace(task, ground_truth=before.ground_truth,
                                       ground_truth_sha256=before.ground_truth_sha256)
    return msgspec.structs.replace(task, program=program)


# --- reading the bundle --------------------------------------------------------------------------------------------


class _Bundle:
    """The ZIP reader and YAML loader of one import, sharing one budget of bytes across nested ZIPs."""

    def __init__(self, limits: BundleLimits) -> None:
        self.limits = limits
        self.budget = limits.total_bytes

    def unzip(self, data: bytes, what: str) -> dict[str, bytes]:
        """Every file of the ZIP by its path ('/' between folders; folder entries and macOS's __MACOSX left out),
        after the directory passed the checks: entry count, names, sizes against what is left of the budget."""
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError, OSError):
            raise BundleRefused(f"{what} is not a ZIP archive") from None
        with archive:
            infos = archive.infolist()
            if len(infos) > self.limits.entries:
                raise BundleRefused(f"{what} has {len(infos)} entries; the limit is {self.limits.entries}")
            for info in infos:
                _check_name(info.filename, what)
            names = [info.filename for info in infos]
            if len(set(names)) != len(names):
                twice = next(name for name in names if names.count(name) > 1)
                raise BundleRefused(f"{what}: {_shown(twice)} appears twice")
            declared = sum(info.file_size for info in infos)
            if declared > self.budget:
                raise BundleRefused(f"{what} holds {declared:,} bytes uncompressed; a bundle may hold at most "
                                    f"{self.limits.total_bytes:,} in all")
            self.budget -= declared
            return {info.filename: self._read(archive, info, what) for info in infos
                    if not info.is_dir() and not info.filename.startswith("__MACOSX/")}

    @staticmethod
    def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, what: str) -> bytes:
        if info.flag_bits & 0x1:
            raise BundleRefused(f"{what}: {_shown(info.filename)} is encrypted; zip the bundle without a password")
        try:
            with archive.open(info) as member:
                content = member.read(info.file_size + 1)  # one byte past the declared size shows a lie
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, OSError, EOFError) as exc:
            raise BundleRefused(f"{what}: {_shown(info.filename)} cannot be read ({exc})") from None
        if len(content) != info.file_size:
            raise BundleRefused(f"{what}: {_shown(info.filename)} does not hold the {info.file_size:,} bytes its "
                                "header declares (a damaged or crafted ZIP)")
        return content

    def yaml(self, data: bytes, what: str) -> Any:
        """A YAML file, safely (no Python objects), within the size and expanded-size limits."""
        if len(data) > self.limits.yaml_bytes:
            raise BundleRefused(f"{what} is {len(data):,} bytes; the limit is {self.limits.yaml_bytes:,}")
        try:
            document = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise BundleRefused(f"{what} is not valid YAML: {' '.join(str(exc).split())[:300]}") from None
        except RecursionError:
            raise BundleRefused(f"{what} is nested too deeply") from None
        _count_values(document, self.limits.yaml_values, what)
        return document


def _check_name(name: str, what: str) -> None:
    shown = _shown(name)
    if not name or "\x00" in name or "\\" in name:
        raise BundleRefused(f"{what}: the entry name {shown} is not a plain path ('/' between folders)")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise BundleRefused(f"{what}: {shown} is an absolute path; a bundle holds relative paths only")
    if ".." in name.split("/"):
        raise BundleRefused(f"{what}: {shown} climbs out of the bundle ('..'); such a bundle is refused whole")


def _shown(name: str) -> str:
    return repr(name[:200]) if not name.isprintable() or not name else name[:200]


def _count_values(document: Any, limit: int, what: str) -> None:
    """Walk the loaded YAML, each alias as often as it is used, and stop past `limit` values."""
    pending, seen = [document], 0
    while pending:
        value = pending.pop()
        seen += 1
        if seen > limit:
            raise BundleRefused(f"{what} expands to more than {limit:,} values (aliases repeated: a YAML bomb?)")
        if isinstance(value, dict):
            pending.extend(cast("dict[Any, Any]", value).values())
        elif isinstance(value, list):
            pending.extend(cast("list[Any]", value))


def _root(files: dict[str, bytes]) -> str:
    """Where competition.yaml lies: at the top, or in the one folder a zipped folder puts everything in."""
    if "competition.yaml" in files:
        return ""
    nested = sorted({name.rsplit("/", 1)[0] + "/" for name in files
                     if name.endswith("/competition.yaml") and name.count("/") == 1})
    if len(nested) == 1:
        return nested[0]
    raise BundleRefused("the bundle has no competition.yaml at its top (zip the bundle's files, not a folder of "
                        "several bundles)")


# --- mapping -----------------------------------------------------------------------------------------------------


@dataclass
class _Phase:
    name: str
    start: datetime
    end: datetime | None
    daily_quota: int | None
    wall_s: float | None


@dataclass
class _Source:
    """One task as the bundle states it."""

    name: str
    description: str
    reference: str | None
    program: str | None
    phases: list[_Phase] = field(default_factory=list[_Phase])
    extras: list[str] = field(default_factory=list[str])  # what it has that Podium does not take


@dataclass(frozen=True)
class _Column:
    key: str
    title: str
    sort: str
    precision: int | None
    hidden: bool
    computed: bool


class _Mapper:
    def __init__(self, bundle: _Bundle, files: dict[str, bytes], document: dict[str, Any]) -> None:
        self.bundle = bundle
        self.files = files
        self.document = document
        self.unmapped: list[str] = []

    def run(self) -> Imported:
        version = str(self.document.get("version", "")).strip()
        if version == "2":
            sources, columns, primary = self._v2_sources(), *self._v2_columns()
        elif isinstance(self.document.get("leaderboard"), dict):
            sources, columns, primary = self._v1_sources(), *self._v1_columns()
        else:
            raise BundleRefused("competition.yaml is neither a Codabench bundle (version: 2) nor a CodaLab one (with "
                                "leaderboard: columns:)")
        ignored = sorted(str(key) for key in self.document if key not in _READ_KEYS)
        if ignored:
            self.unmapped.append(f"settings without a Podium counterpart: {', '.join(ignored)}")
        self._docker_image()
        if self.document.get("solutions"):
            self.unmapped.append("solutions (sample submissions) are not imported; give one to `podium admin program "
                                 "put TASK PROGRAM --sample FILE` to check a program on it")
        metrics = self._metrics(columns, primary)
        description = self._description()
        tasks, files, ids = [], [], set[str]()
        for source in sources:
            mapped = self._task(source, metrics, description, ids)
            if mapped is not None:
                tasks.append(mapped[0])
                files.append(mapped[1])
        if not tasks:
            raise BundleRefused("no task of the bundle could be mapped:\n" + "\n".join(self.unmapped))
        title = str(self.document.get("title") or "").strip()[:200] or "Podium"
        raw = {"competition": {"name": title}, "tasks": tasks}
        try:
            competition = msgspec.convert(raw, Competition)
        except msgspec.ValidationError as exc:
            raise BundleRefused(f"the mapped competition is not valid: {exc}") from None
        return Imported(competition, tuple(files), tuple(self.unmapped))

    # --- version 2 (Codabench) ---

    def _v2_sources(self) -> list[_Source]:
        tasks = _list(self.document.get("tasks"), "tasks")
        by_index: dict[Any, _Source] = {}
        for number, entry in enumerate(tasks):
            raw = _mapping(entry, f"tasks[{number}]")
            index = raw.get("index", number)
            name = str(raw.get("name") or f"Task {index}")
            if "key" in raw and "scoring_program" not in raw:
                self.unmapped.append(f"task {name}: refers to task {raw['key']} of a Codabench server, which is not "
                                     "in the bundle; not imported")
                continue
            source = _Source(name, str(raw.get("description") or ""), _path(raw.get("reference_data")),
                             _path(raw.get("scoring_program")))
            source.extras += [f"its {what.replace('_', ' ')} ({raw[what]})"
                              for what in ("ingestion_program", "input_data") if raw.get(what)]
            by_index[index] = source
        phases = _list(self.document.get("phases"), "phases")
        ordered = sorted((_mapping(p, f"phases[{n}]") for n, p in enumerate(phases)), key=lambda p: p.get("index", 0))
        for number, raw in enumerate(ordered):
            following = ordered[number + 1] if number + 1 < len(ordered) else None
            phase = self._phase(raw, str(raw.get("name") or f"Phase {number + 1}"), raw.get("start"), raw.get("end"),
                                following.get("start") if following else None)
            for index in _list(raw.get("tasks"), f"phase {phase.name}: tasks"):
                if index in by_index:
                    by_index[index].phases.append(phase)
            if raw.get("max_submissions"):
                self.unmapped.append(f"phase {phase.name}: max_submissions {raw['max_submissions']} (a total per "
                                     "participant); Podium counts a daily quota per task")
        return list(by_index.values())

    def _v2_columns(self) -> tuple[list[_Column], int | None]:
        boards = [_mapping(board, "leaderboards") for board in _list(self.document.get("leaderboards"),
                                                                      "leaderboards")]
        if not boards:
            raise BundleRefused("competition.yaml has no leaderboards, so no column to rank by")
        for other in boards[1:]:
            self.unmapped.append(f"leaderboard {other.get('title') or other.get('key')}: Podium has one set of "
                                 f"columns per task; the first leaderboard ({boards[0].get('title')}) is used")
        columns = sorted((_mapping(c, "leaderboard columns") for c in _list(boards[0].get("columns"), "columns")),
                         key=lambda column: column.get("index", 0))
        mapped = [_Column(str(c.get("key") or c.get("title") or ""), str(c.get("title") or c.get("key") or ""),
                          str(c.get("sorting") or "desc"), _int(c.get("precision")), bool(c.get("hidden")),
                          bool(c.get("computation"))) for c in columns]
        marked = boards[0].get("primary_index")
        primary = next((n for n, c in enumerate(columns) if c.get("index", n) == marked), None)
        return mapped, primary

    # --- version 1 (CodaLab) ---

    def _v1_sources(self) -> list[_Source]:
        phases = _mapping(self.document.get("phases"), "phases")
        ordered = sorted((_mapping(p, "phases") for p in phases.values()),
                         key=lambda phase: _int(phase.get("phasenumber")) or 0)
        if any(p.get("is_parallel_parent") or p.get("parent_phasenumber") for p in ordered):
            raise BundleRefused("CodaLab 1.8 bundles (parallel phases) are not supported; export the competition "
                                "from Codabench as a version 2 bundle")
        sources: dict[tuple[Any, ...], _Source] = {}
        for number, raw in enumerate(ordered):
            following = ordered[number + 1] if number + 1 < len(ordered) else None
            name = str(raw.get("label") or f"Phase {raw.get('phasenumber', number + 1)}")
            phase = self._phase(raw, name, raw.get("start_date"), None,
                                following.get("start_date") if following else self.document.get("end_date"))
            same = (raw.get("scoring_program"), raw.get("reference_data"), raw.get("ingestion_program"))
            source = sources.setdefault(same, _Source(name, str(raw.get("description") or ""),
                                                      _path(raw.get("reference_data")),
                                                      _path(raw.get("scoring_program"))))
            source.phases.append(phase)
            if raw.get("ingestion_program"):
                source.extras.append(f"phase {name}'s ingestion program ({raw['ingestion_program']})")
            if raw.get("max_submissions"):
                self.unmapped.append(f"phase {name}: max_submissions {raw['max_submissions']} (a total per "
                                     "participant); Podium counts a daily quota per task")
        return list(sources.values())

    def _v1_columns(self) -> tuple[list[_Column], int | None]:
        board = _mapping(self.document.get("leaderboard"), "leaderboard")
        boards = sorted((_mapping(b, "leaderboards") for b in _mapping(board.get("leaderboards"),
                                                                        "leaderboards").values()),
                        key=lambda b: _int(b.get("rank")) or 0)
        label = str(boards[0].get("label", "")) if boards else ""
        for other in boards[1:]:
            self.unmapped.append(f"leaderboard {other.get('label')}: Podium has one set of columns per task; the "
                                 f"first leaderboard ({label}) is used")
        columns = [{"key": key, **_mapping(value, f"column {key}")}
                   for key, value in _mapping(board.get("columns"), "leaderboard columns").items()]
        ours = [c for c in columns if not boards or str(_mapping(c.get("leaderboard") or {}, "leaderboard")
                                                         .get("label", label)).lower() == label.lower()]
        ours.sort(key=lambda column: _int(column.get("rank")) or 1)
        return [_Column(str(c["key"]), str(c.get("label") or c["key"]), str(c.get("sort") or "desc"),
                        _int(c.get("numeric_format")), bool(c.get("hidden")), bool(c.get("computed")))
                for c in ours], None

    # --- the parts ---

    def _phase(self, raw: dict[str, Any], name: str, start: Any, end: Any, next_start: Any) -> _Phase:
        opens = _moment(start, f"phase {name}: start")
        if opens is None:
            raise BundleRefused(f"phase {name} has no start date")
        closes = _moment(end, f"phase {name}: end") or _moment(next_start, f"the phase after {name}: start")
        per_day = _int(raw.get("max_submissions_per_day"))
        limit_ms = _int(raw.get("execution_time_limit_ms"))
        if limit_ms is None and _int(raw.get("execution_time_limit")):  # CodaLab: seconds
            limit_ms = 1000 * (_int(raw.get("execution_time_limit")) or 0)
        return _Phase(name, opens, closes, per_day if per_day and per_day > 0 else None,
                      min(limit_ms / 1000, 3600.0) if limit_ms and limit_ms > 0 else None)

    def _metrics(self, columns: list[_Column], primary: int | None) -> list[dict[str, Any]]:
        """The leaderboard's columns as a program task's: named by their key (what scores.json writes)."""
        kept: list[tuple[int, _Column]] = []
        for number, column in enumerate(columns):
            if column.computed:
                self.unmapped.append(f"column {column.title}: computed from other columns by Codabench; Podium "
                                     "shows what the program writes (write it from score.py)")
            elif not _COLUMN_NAME.match(column.key) or column.key.casefold() in RESERVED_HEADERS:
                self.unmapped.append(f"column {column.key!r}: not usable as a Podium column name (letters, digits, "
                                     "' _.()%@-', and not a board header such as score or rank); rename the key in "
                                     "score.py and competition.yaml")
            elif column.sort not in ("asc", "desc"):
                self.unmapped.append(f"column {column.key}: sorting {column.sort!r} (Podium sorts asc or desc)")
            elif len(kept) == 20:
                self.unmapped.append(f"column {column.key}: a Podium task has at most 20 columns")
            else:
                kept.append((number, column))
        if not kept:
            raise BundleRefused("no leaderboard column could be mapped:\n" + "\n".join(self.unmapped))
        first = next((n for n, (number, _) in enumerate(kept) if number == primary), 0)
        metrics = []
        for n, (_, column) in enumerate(kept):
            entry: dict[str, Any] = {"name": "program", "column": column.key, "sort": column.sort}
            if n == first:
                entry["primary"] = True
            elif column.hidden:
                entry["hidden"] = True
            if column.precision is not None:
                entry["precision"] = max(0, min(12, column.precision))
            metrics.append(entry)
        return metrics

    def _description(self) -> str:
        """The competition's description and pages (HTML turned into text), then its terms, as Markdown."""
        parts = [_markdown(str(self.document.get("description") or ""), "")]
        pages: list[tuple[str, str]] = []
        raw_pages = self.document.get("pages")
        if isinstance(raw_pages, list):
            pages += [(str(p.get("title") or p.get("file")), str(p.get("file"))) for p in cast("list[Any]", raw_pages)
                      if isinstance(p, dict) and p.get("file")]
        html = self.document.get("html")
        if isinstance(html, dict):
            pages += [(str(title), str(path)) for title, path in cast("dict[Any, Any]", html).items()
                      if str(title) != "terms"]
            if cast("dict[Any, Any]", html).get("terms"):
                pages.append(("Terms", str(cast("dict[Any, Any]", html)["terms"])))
        if isinstance(self.document.get("terms"), str):
            pages.append(("Terms", str(self.document["terms"])))
        for title, path in pages:
            content = self.files.get(path.removeprefix("./"))
            if content is None:
                self.unmapped.append(f"page {title}: {path} is not in the bundle")
                continue
            parts.append(f"## {title.strip()}\n\n{_markdown(content.decode('utf-8', 'replace'), path)}")
        return "\n\n".join(part for part in parts if part.strip())

    def _task(self, source: _Source, metrics: list[dict[str, Any]], description: str, ids: set[str]
              ) -> tuple[dict[str, Any], TaskFiles] | None:
        for extra in source.extras:
            self.unmapped.append(f"task {source.name}: {extra}; Podium scores the results a participant uploads, it "
                                 "runs no participant code")
        if not source.phases:
            self.unmapped.append(f"task {source.name}: in no phase; not imported")
            return None
        task_id = _unique(_slug(source.name) or "task", ids)
        text = "\n\n".join(part for part in (source.description.strip(), description) if part)
        if len(text) > DESCRIPTION_CHARS:
            self.unmapped.append(f"task {task_id}: the description and pages are {len(text):,} characters; the first "
                                 f"{DESCRIPTION_CHARS:,} are kept")
            text = text[: DESCRIPTION_CHARS - 1] + "…"
        task: dict[str, Any] = {"id": task_id, "title": source.name.strip()[:200] or task_id, "description": text,
                                "kind": "cpu", "format": "file", "metric": "program", "metrics": metrics,
                                "phases": self._phases(source)}
        quotas = {phase.daily_quota for phase in source.phases if phase.daily_quota}
        if quotas:
            task["daily_quota"] = source.phases[0].daily_quota or max(quotas)
            if len(quotas) > 1:
                self.unmapped.append(f"task {task_id}: its phases allow {', '.join(map(str, sorted(quotas)))} "
                                     f"submissions a day; Podium has one daily quota per task ({task['daily_quota']})")
        program: dict[str, Any] = {"contract": "codabench"}
        walls = [phase.wall_s for phase in source.phases if phase.wall_s]
        if walls:
            program |= {"wall_s": max(walls), "cpu_s": max(1, min(3600, math.ceil(max(walls))))}
        task["program"] = program
        return task, TaskFiles(task_id, self._ground_truth(source, task_id), self._program(source, task_id))

    @staticmethod
    def _phases(source: _Source) -> list[dict[str, Any]]:
        phases, ids = [], set[str]()
        for phase in source.phases:
            closes = phase.end or _FAR_FUTURE
            if closes <= phase.start:
                raise BundleRefused(f"phase {phase.name} ends before it starts ({phase.start:%Y-%m-%d} → "
                                    f"{closes:%Y-%m-%d})")
            phases.append({"id": _unique(_slug(phase.name) or "phase", ids), "opens_at": phase.start,
                           "closes_at": closes})
        return phases

    def _docker_image(self) -> None:
        image = str(self.document.get("docker_image") or self.document.get("competition_docker_image") or "")
        if image and not _python_image(image):
            self.unmapped.append(f"docker_image {image}: not a Python 3 image; Podium runs every program in its own "
                                 "Python pool (numpy, scipy, pandas, scikit-learn, scikit-image, pillow), and the "
                                 "check at upload says what a program lacks")

    def _folder(self, path: str | None, what: str, task_id: str) -> dict[str, bytes] | None:
        """The files of a folder of the bundle, of a ZIP in it, or a single file, by their path inside it."""
        if path is None:
            self.unmapped.append(f"task {task_id}: no {what} in competition.yaml")
            return None
        if path in self.files:
            if path.lower().endswith(".zip"):
                return self.bundle.unzip(self.files[path], path)
            return {path.rsplit("/", 1)[-1]: self.files[path]}
        prefix = f"{path}/" if path else ""
        found = {name.removeprefix(prefix): content for name, content in self.files.items() if name.startswith(prefix)}
        if not found:
            self.unmapped.append(f"task {task_id}: its {what} {path} is not in the bundle")
            return None
        return found

    def _ground_truth(self, source: _Source, task_id: str) -> bytes | None:
        files = self._folder(source.reference, "reference data", task_id)
        return _zip_of(files) if files else None

    def _program(self, source: _Source, task_id: str) -> bytes | None:
        files = self._folder(source.program, "scoring program", task_id)
        if not files:
            return None
        command = self._command(files, task_id)
        if command is None:
            return None
        try:
            words = shlex.split(command)
        except ValueError:
            words = []
        script, arguments = (words[1], words[2:]) if len(words) >= 2 and _PYTHON.match(words[0].rsplit("/")[-1]) \
            else ("", [])
        script = script.removeprefix("$program/")
        if not script.endswith(".py") or script not in files or not all(_PLACE.match(a) for a in arguments):
            self.unmapped.append(f"task {task_id}: its program's command `{command}` is not `python SCRIPT.py` with "
                                 "$input, $output or $program arguments; its program was not put")
            return None
        if script != "score.py" or arguments != ["$input", "$output"]:
            if "score.py" in files:
                self.unmapped.append(f"task {task_id}: its program runs {script}, and Podium runs score.py, which it "
                                     "has for something else; rename one and import again")
                return None
            files = {**files, "score.py": _shim(command, script, arguments).encode()}
        return _zip_of(files)

    def _command(self, files: dict[str, bytes], task_id: str) -> str | None:
        """The program's command: its metadata's `command`, or running its score.py where it has no metadata."""
        metadata = files.get("metadata") or files.get("metadata.yaml")
        if metadata is not None:
            found = self.bundle.yaml(metadata, f"task {task_id}'s program metadata")
            if isinstance(found, dict) and isinstance(cast("dict[str, Any]", found).get("command"), str):
                return str(cast("dict[str, Any]", found)["command"])
        if "score.py" in files:
            return "python $program/score.py $input $output"
        self.unmapped.append(f"task {task_id}: its program has no metadata with a command and no score.py; its "
                             "program was not put")
        return None


# --- small pure pieces ---------------------------------------------------------------------------------------------


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BundleRefused(f"competition.yaml: {what} must be a list")
    return cast("list[Any]", value)


def _mapping(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BundleRefused(f"competition.yaml: {what} must be a mapping")
    return cast("dict[str, Any]", value)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _path(value: Any) -> str | None:
    return str(value).strip().removeprefix("./").rstrip("/") if value else None


def _moment(value: Any, what: str) -> datetime | None:
    """A bundle's date: YAML's own dates and times, ISO 8601, or Codabench's month-day-year; UTC unless it says."""
    if value is None or value == "" or value == "null":
        return None
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, date):
        found = datetime.combine(value, time())
    else:
        text = str(value).strip()
        found = _parsed(text)
        if found is None:
            raise BundleRefused(f"{what}: {text[:50]!r} is not a date (2026-01-31, 2026-01-31 12:00 or 1-31-2026)")
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _parsed(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for pattern in _DATE_FORMATS:
        try:
            return datetime.strptime(text, pattern)  # noqa: DTZ007 - the zone is set by the caller
        except ValueError:
            continue
    return None


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "-", name.lower()).strip("-_")[:56]


def _unique(slug: str, taken: set[str]) -> str:
    found, number = slug, 1
    while found in taken:
        number += 1
        found = f"{slug}-{number}"
    taken.add(found)
    return found


def _python_image(image: str) -> bool:
    """Whether a Docker image is a Python 3 one: python:3…, or CodaLab's legacy images for Python 3."""
    repository, _, tag = image.rsplit("/", 1)[-1].partition(":")
    if repository == "python":
        return not tag or tag.startswith("3")
    return repository in ("codalab-legacy", "codabench-legacy") and re.fullmatch(r"py3\d*", tag) is not None


def _zip_of(files: dict[str, bytes]) -> bytes:
    """A ZIP of the files, sorted, with fixed timestamps: the same files give the same bytes (and digest)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    return buffer.getvalue()


_SHIM = '''"""Written by `podium admin competition import-codabench`. The bundle runs `{command}`; Podium runs
`python score.py INPUT OUTPUT`, so this runs {script} with the arguments that command gives it."""

import runpy
import sys
from pathlib import Path

PROGRAM = Path(__file__).resolve().parent
PLACES = {{"$input": sys.argv[1], "$output": sys.argv[2], "$program": str(PROGRAM)}}
ARGUMENTS = {arguments!r}


def placed(argument):
    variable, _, rest = argument.partition("/")
    return PLACES[variable] + ("/" + rest if rest else "")


SCRIPT = PROGRAM / {script!r}
sys.argv = [str(SCRIPT), *(placed(argument) for argument in ARGUMENTS)]
sys.path.insert(0, str(SCRIPT.parent))
runpy.run_path(str(SCRIPT), run_name="__main__")
'''


def _shim(command: str, script: str, arguments: Iterable[str]) -> str:
    return _SHIM.format(command=command.replace('"""', "'''"), script=script, arguments=list(arguments))


class _HtmlText(HTMLParser):
    """An HTML page as plain Markdown: headings, paragraphs, list items and links kept; scripts, styles and every
    other tag dropped (Podium renders descriptions without any HTML)."""

    _BLOCKS = frozenset({"p", "div", "br", "ul", "ol", "table", "tr", "section", "pre", "blockquote", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.hidden += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in self._BLOCKS:
            self.parts.append("\n\n")
        elif tag == "a":
            self.links.append(dict(attrs).get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._BLOCKS or re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n")
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href.startswith(("http://", "https://")):
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def _markdown(text: str, path: str) -> str:
    if not path.lower().endswith((".html", ".htm")):
        return text.strip()
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
