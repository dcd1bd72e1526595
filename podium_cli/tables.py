"""How the CLI shows the platform's answers: rich tables of boards, submissions, rescore movements, imports and
counts. Everything that came from a participant (team names, reasons) is shown as plain text, never as markup."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from rich.console import Group
from rich.markdown import Markdown
from rich.padding import Padding
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from proto.competition import Competition, Task

STATUS_STYLES = {"scored": "green", "failed": "red", "rejected": "red", "expired": "yellow", "cancelled": "yellow",
                 "scoring": "cyan", "received": "cyan", "awaiting_upload": "dim"}


def score(value: float | None, precision: int = 4) -> str:
    return "—" if value is None else f"{value:.{precision}f}"


def when(value: str | None, *, seconds: bool = True) -> str:
    """An ISO timestamp from the API, in the reader's local time."""
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))
    except ValueError:
        return value


def rank_change(change: int | None) -> Text:
    if change is None:
        return Text("new", style="cyan")
    if change > 0:
        return Text(f"▲{change}", style="green")
    if change < 0:
        return Text(f"▼{-change}", style="red")
    return Text("·", style="dim")


def status(value: str) -> Text:
    return Text(value, style=STATUS_STYLES.get(value, ""))


def _order(sort: str | None) -> str:
    return "lower is better" if sort == "asc" else "higher is better"


def board_table(board: dict[str, Any], *, private: bool = False, highlight: str | None = None) -> Table:
    """A board (REST or live) as a table: one column per board column with its precision, the one that ranks marked
    `*` (a board of one column shows it as `score`)."""
    entries = (board.get("private") if private else board.get("public")) or []
    which = "private" if private else "public"
    columns = board.get("columns") or []
    ranked_by = f"ranked by {columns[0]['name']}, " if len(columns) > 1 else ""
    table = Table(title=f"{board['task_id']} — {which} leaderboard ({ranked_by}{_order(board.get('sort'))})",
                  title_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("Δ", justify="right")
    table.add_column("team", no_wrap=True)
    if len(columns) > 1:
        headers = [column["name"] + (" *" if column.get("primary") else "") for column in columns]
        values = [[column_value(entry, column) for column in columns] for entry in entries]
    else:
        headers = ["score"]
        values = [[score(entry["score"], columns[0].get("precision", 4) if columns else 4)] for entry in entries]
    for place, header in enumerate(headers):
        # A number is never cut short: on a narrow terminal the other columns give way.
        width = max([len(header), *(len(row[place]) for row in values)])
        table.add_column(Text(header), justify="right", no_wrap=True, min_width=width)
    table.add_column("submissions", justify="right")
    table.add_column("last submission", no_wrap=len(headers) == 1)
    for entry, row in zip(entries, values, strict=True):
        style = "bold" if highlight and entry["team_name"] == highlight else ""
        table.add_row(str(entry["rank"]), rank_change(entry.get("rank_change")), Text(entry["team_name"]), *row,
                      str(entry.get("submissions", "")), when(entry.get("last_submission_at")), style=style)
    if not entries:
        table.caption = "no scored submission yet"
    elif len(columns) > 1:
        table.caption = f"* ranks the board ({_order(columns[0].get('sort'))})"
    return table


def column_value(entry: dict[str, Any], column: dict[str, Any]) -> str:
    """A line's value of a board column, with the column's precision ("—" where the line has none)."""
    value = (entry.get("columns") or {}).get(column["name"])
    if value is None and column.get("primary"):
        value = entry.get("score")
    return score(value, column.get("precision", 4))


def submissions_table(submissions: list[dict[str, Any]]) -> Group:
    """One line per submission, then why each one that failed did: reasons are sentences, too long for a cell."""
    with_private = any(s.get("private_score") is not None for s in submissions)
    table = Table(title="Your submissions (newest first)", title_justify="left")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("task", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("public", justify="right", no_wrap=True, min_width=7)
    if with_private:
        table.add_column("private", justify="right", no_wrap=True, min_width=7)
    table.add_column("submitted", no_wrap=True)
    for s in submissions:
        cells = [str(s["id"]), s["task_id"], status(s["status"]), score(s.get("public_score"))]
        if with_private:
            cells.append(score(s.get("private_score")))
        table.add_row(*cells, when(s.get("timestamp"), seconds=False))
    if not submissions:
        table.caption = "none yet: `podium submit TASK FILE`"
    reasons = [Text.assemble(f"#{s['id']} ", status(s["status"]), f": {s['reason']}")
               for s in submissions if s.get("reason")]
    return Group(table, *reasons)


def time_left(moment: datetime, now: datetime) -> str:
    """How long until `moment`, as a person says it: "in 3 d 4 h", "in 25 min", "in under a minute"."""
    seconds = int((moment - now).total_seconds())
    if seconds < 60:
        return "in under a minute"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        return f"in {days} d {hours} h" if hours else f"in {days} d"
    if hours:
        return f"in {hours} h {minutes} min" if minutes else f"in {hours} h"
    return f"in {minutes} min"


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _zoned(moment: datetime) -> str:
    """A time in the reader's zone, with the zone's name (times carry their zone)."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def phase_now(task: dict[str, Any], now: datetime) -> Text:
    """Whether `task` (a TaskInfo) takes submissions now: its phase and the time left before it closes, "closed",
    "opens in …", archived, or why it takes none (no ground truth yet)."""
    if task.get("archived"):
        return Text("archived: read-only, it takes no more submissions", style="yellow")
    current, closes, opens = task.get("current_phase"), _moment(task.get("closes_at")), _moment(
        task.get("next_opens_at"))
    is_open = current is not None or not task.get("phases")
    if current is not None and closes is not None:
        state = Text.assemble(("open", "green"), f": phase {current['id']}, closes {_zoned(closes)} ",
                              (f"({time_left(closes, now)})", "bold"))
    elif is_open:
        state = Text.assemble(("open", "green"), ", no deadline")
    elif opens is not None:
        state = Text.assemble(("closed", "red"), f"; the next phase opens {_zoned(opens)} ",
                              (f"({time_left(opens, now)})", "bold"))
    else:
        state = Text.assemble(("closed", "red"), ": no phase opens again")
    if is_open and not task.get("accepting", True):  # open, yet refusing: e.g. no ground truth yet
        state.append(f"; but it takes no submissions now: {task.get('not_accepting_reason', '')}", style="yellow")
    return state


def _expected(task: dict[str, Any]) -> str:
    if task.get("expected_format"):
        return task["expected_format"]
    if task["kind"] == "cpu":
        names = task.get("sample_names") or []
        return (f"a ZIP of {len(names)} tensors {names[0]} … {names[-1]} (.npy, .pt or .safetensors), each of shape "
                f"{list(task.get('shape', []))}" if names else "a ZIP of result tensors")
    return f"an ONNX model taking [batch, {', '.join(map(str, task.get('shape', [])))}]"


def _quota(task: dict[str, Any]) -> str:
    quota = task["daily_quota"]
    left = task.get("quota_left")
    if left is None:
        return f"{quota} submissions a day per team"
    return f"{left} of {quota} submissions left today (UTC day)"


def task_view(tasks: list[dict[str, Any]], now: datetime) -> Group:
    """Each task as a section: its name, the host's description (Markdown), what to submit, how it is scored, its
    phase now and the time left, and the quota (left today, for a signed-in team)."""
    parts: list[Any] = []
    for task in tasks:
        aliases = f" (also {', '.join(task['aliases'])})" if task.get("aliases") else ""
        heading = Text.assemble((task["id"], "bold"), aliases, " — ", task["title"])
        if task.get("archived"):
            heading.append("  [archived]", style="yellow")
        parts.append(Rule(heading, align="left", style="dim"))
        if task.get("description"):
            parts.append(Padding(Markdown(task["description"]), (0, 0, 1, 2)))
        order = _order(task.get("sort", "desc"))
        for label, value in (("submit", Text(_expected(task))),
                             ("scored by", Text(f"{task['metric']} ({task['kind']}), {order}; at most "
                                                f"{task['max_upload_bytes'] / 1e6:g} MB per file")),
                             ("now", phase_now(task, now)), ("quota", Text(_quota(task)))):
            parts.append(Text.assemble(f"  {label + ':':<11}", value))
        columns = task.get("columns") or []
        if columns:
            parts.append(Text("  columns:"))
            parts += [task_column(column) for column in columns]
    return Group(*parts)


def task_column(column: dict[str, Any]) -> Text:
    """One board column of a task (a TaskColumn): its header, metric, direction, role, then what it measures."""
    roles = [role for role, on in (("ranks the board", column.get("primary")), ("breaks ties", column.get("tie_break")),
                                   ("hidden: hosts only", column.get("hidden"))) if on]
    facts = ", ".join([column["metric"], _order(column.get("direction")), *roles,
                       f"{column.get('precision', 4)} decimals"])
    return Text.assemble("    ", (column["header"], "bold"), f" ({facts}): ", Text(column.get("definition", ""),
                                                                                      style="dim"))


# How a diff line is marked: by the words of the platform's diff (submission_service's `competition.diff`).
CHANGE_MARKS = (("scoring identity", "!", "magenta"), (": added", "+", "green"), (": removed", "-", "red"))


def change_line(change: str, indent: str = "  ") -> Text:
    """One line of a competition diff, coloured and marked (for a terminal without colour) by what it does: `+`
    a task added, `-` removed, `!` a new scoring identity, `~` any other change."""
    sign, style = next(((sign, style) for marker, sign, style in CHANGE_MARKS if marker in change), ("~", "cyan"))
    return Text(f"{indent}{sign} {change}", style=style)


def _phase_cell(task: Task, now: datetime) -> str:
    if task.archived:
        return "archived"
    if not task.phases:
        return "open, no deadline"
    phase = task.phase_at(now)
    if phase is not None:
        return f"{phase.id}, closes {_zoned(phase.closes_at)}"
    upcoming = min((p for p in task.phases if p.opens_at > now), key=lambda p: p.opens_at, default=None)
    return f"closed; {upcoming.id} opens {_zoned(upcoming.opens_at)}" if upcoming else "closed"


def competition_table(document: dict[str, Any], now: datetime, *, current: bool = True) -> Table:
    """A CompetitionDocument (`GET /api/v1/admin/competition[/versions/N]`) as a summary, one row per task; the
    stale counts (scored submissions scored under an older definition) exist for the current version only."""
    competition = msgspec.convert(document["competition"], Competition)
    identities, stale = document.get("identities") or {}, document.get("stale") or {}
    title = (f"{competition.competition.name} — version {document['version']}, by {document['created_by']} at "
             f"{when(document['created_at'])}")
    table = Table(title=title, title_justify="left")
    for column in ("task", "title", "kind", "metric", "quota", "phase now / closes", "ground truth",
                   "scoring identity", "stale"):
        table.add_column(column, no_wrap=column != "title",
                         justify="right" if column in ("quota", "stale") else "left")
    for task in competition.tasks:
        truth = Text(task.ground_truth_sha256[:12]) if task.has_ground_truth else Text("none yet", style="yellow")
        count = stale.get(task.id, 0)
        table.add_row(task.id, Text(task.title), task.kind, task.metric, f"{task.daily_quota}/day",
                      _phase_cell(task, now), truth, identities.get(task.id, task.scorer_version),
                      Text(str(count), style="yellow" if count else "") if current else "—",
                      style="dim" if task.archived else "")
    if not competition.tasks:
        table.caption = "no task yet: `podium admin competition apply FILE.toml`"
    elif not current:
        table.caption = "stale counts are shown for the current version only"
    return table


def history_table(versions: list[dict[str, Any]]) -> Table:
    """The competition's versions, newest first: who made each, when, and what it changed."""
    table = Table(title="Competition versions (newest first)", title_justify="left", show_lines=True)
    table.add_column("version", justify="right", no_wrap=True)
    table.add_column("when", no_wrap=True)
    table.add_column("by", no_wrap=True)
    table.add_column("changes")
    for version in versions:
        lines = [change_line(change, indent="") for change in version.get("changes") or ()]
        changes = Text("\n").join(lines) if lines else Text("—", style="dim")
        table.add_row(str(version["version"]), when(version["created_at"]), Text(version["created_by"]), changes)
    if not versions:
        table.caption = "no version yet"
    return table


def movements_table(movements: list[dict[str, Any]]) -> Table:
    """Who moved in a rescore: old → new rank and score, the movers first."""
    table = Table(title="Who moved", title_justify="left")
    table.add_column("team", no_wrap=True)
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("change", justify="right")

    def moved(m: dict[str, Any]) -> bool:
        return m["old_rank"] != m["new_rank"] or m["old_score"] != m["new_score"]

    def rank(value: int | None) -> str:
        return "—" if value is None else str(value)

    for m in sorted(movements, key=lambda m: (not moved(m), m["new_rank"] or 10**9, m["team_name"])):
        if m["old_rank"] is not None and m["new_rank"] is not None:
            change = rank_change(m["old_rank"] - m["new_rank"])
        elif m["new_rank"] is None:
            change = Text("left the board", style="red")
        else:
            change = Text("new", style="cyan")
        table.add_row(Text(m["team_name"]), f"{rank(m['old_rank'])} → {rank(m['new_rank'])}",
                      f"{score(m['old_score'])} → {score(m['new_score'])}", change,
                      style="" if moved(m) else "dim")
    return table


def import_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"Import: {report['created']} created, {report['refused']} refused", title_justify="left")
    table.add_column("line", justify="right")
    table.add_column("team", no_wrap=True)
    table.add_column("result")
    table.add_column("team id", justify="right")
    for row in report.get("rows", []):
        result = Text("created", style="green") if row["status"] == "created" else \
            Text(f"refused: {row.get('reason', '')}", style="red")
        table.add_row(str(row["line"]), Text(row["name"]), result, str(row.get("team_id") or ""))
    return table


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(counts: list[int]) -> str:
    top = max(counts, default=0)
    return "".join(SPARK[0] if not top else SPARK[min(len(SPARK) - 1, round(c / top * (len(SPARK) - 1)))]
                   for c in counts)


def stats_view(stats: dict[str, Any], boards: list[dict[str, Any]]) -> Group:
    """`GET /api/v1/admin/stats` (accounts, Q&A, submissions, queues) and each task's board, as tables."""
    counts = Table(title="Counts", title_justify="left", show_header=False)
    counts.add_column("what")
    counts.add_column("count", justify="right")
    for key, value in stats.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            counts.add_row(key.replace("_", " "), str(value))
    parts: list[Any] = [counts]
    submissions = stats.get("submissions")
    if isinstance(submissions, dict):
        parts += _submission_stats(submissions)
    table = Table(title="Boards", title_justify="left")
    for column in ("task", "teams", "best public", "private revealed"):
        table.add_column(column, no_wrap=True, justify="left" if column == "task" else "right")
    for board in boards:
        table.add_row(board["task"], str(board["teams_on_board"]), score(board["best_score"]),
                      "yes" if board["private_revealed"] else "no")
    parts.append(table)
    return Group(*parts)


def _submission_stats(stats: dict[str, Any]) -> list[Any]:
    by_status = stats.get("by_status") or {}
    outcome = ", ".join(f"{name} {count}" for name, count in sorted(by_status.items()))
    lines: list[Any] = [Text.assemble(("Submissions: ", "bold"), f"{stats.get('submissions', 0)}"
                                      + (f" ({outcome})" if outcome else ""))]
    hours = [c.get("count", 0) for c in stats.get("per_hour") or []]
    if hours:
        lines.append(Text(f"  last {len(hours)} h: {sparkline(hours)}  (peak {max(hours)}/h)"))
    median, p95 = stats.get("scoring_time_median_s"), stats.get("scoring_time_p95_s")
    if median is not None:
        lines.append(Text(f"  scoring time: median {median:.2f} s, p95 {(p95 or 0):.2f} s"))
    by_task = stats.get("by_task") or {}
    if by_task:
        statuses = sorted({name for counts in by_task.values() for name in counts})
        table = Table(title="Submissions by task", title_justify="left")
        table.add_column("task", no_wrap=True)
        for name in statuses:
            table.add_column(name, justify="right")
        for task, task_counts in sorted(by_task.items()):
            table.add_row(task, *(str(task_counts.get(name, 0)) for name in statuses))
        lines.append(table)
    reasons = stats.get("failure_reasons") or []
    if reasons:
        lines.append(Text("Most frequent failure reasons:", style="bold"))
        lines += [Text(f"  {r.get('count', 0):>5}  {r.get('key', '')}") for r in reasons[:5]]
    queues = stats.get("queues") or []
    if queues:
        table = Table(title="Scorer queues", title_justify="left")
        for column in ("kind", "queued", "in flight", "redelivered", "workers", "per min", "avg scoring"):
            table.add_column(column, justify="left" if column == "kind" else "right", no_wrap=True)
        for q in queues:
            average = q.get("average_scoring_s")
            table.add_row(q.get("kind", ""), str(q.get("queued", 0)), str(q.get("in_flight", 0)),
                          str(q.get("redeliveries", 0)), str(q.get("workers_alive", 0)),
                          f"{q.get('throughput_per_min', 0):.1f}", "—" if average is None else f"{average:.2f} s")
        lines.append(table)
    return lines


def questions_table(questions: list[dict[str, Any]]) -> Group:
    """The hosts' announcements (nothing to answer), then the questions with their answers, each newest first."""
    announcements = [q for q in questions if q.get("is_announcement")]
    asked = [q for q in questions if not q.get("is_announcement")]
    parts: list[Any] = []
    if announcements:
        table = Table(title="Announcements (newest first)", title_justify="left", show_lines=True)
        table.add_column("id", justify="right")
        table.add_column("from", no_wrap=True)
        table.add_column("when", no_wrap=True)
        table.add_column("announcement")
        for a in announcements:
            table.add_row(str(a["id"]), Text(a.get("author_name", "")), when(a.get("created_at"), seconds=False),
                          Text(a["title"], style="bold") + Text("\n" + a["content"]))
        parts.append(table)
    if asked:
        table = Table(title="Questions (newest first)", title_justify="left", show_lines=True)
        table.add_column("id", justify="right")
        table.add_column("from", no_wrap=True)
        table.add_column("question")
        table.add_column("answer")
        for q in asked:
            question = Text(q["title"], style="bold") + Text("\n" + q["content"])
            answer = Text(q["answer"]) if q.get("answer") else Text("not answered yet", style="dim")
            table.add_row(str(q["id"]), Text(q.get("author_name", "")), question, answer)
        parts.append(table)
    return Group(*(parts or [Text("No questions or announcements yet.", style="dim")]))
