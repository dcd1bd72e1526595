"""How the CLI shows the platform's answers: rich tables of boards, submissions, rescore movements, imports and
counts. Everything that came from a participant (team names, reasons) is shown as plain text, never as markup."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

STATUS_STYLES = {"scored": "green", "failed": "red", "rejected": "red", "expired": "yellow", "cancelled": "yellow",
                 "scoring": "cyan", "received": "cyan", "awaiting_upload": "dim"}


def score(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def when(value: str | None) -> str:
    """An ISO timestamp from the API, in the reader's local time, to the second."""
    if not value:
        return "—"
    try:
        return datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M:%S")
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


def board_table(board: dict[str, Any], *, private: bool = False, highlight: str | None = None) -> Table:
    entries = (board.get("private") if private else board.get("public")) or []
    which = "private" if private else "public"
    order = "higher is better" if board.get("sort", "desc") == "desc" else "lower is better"
    table = Table(title=f"{board['task_id']} — {which} leaderboard ({order})", title_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("Δ", justify="right")
    table.add_column("team", no_wrap=True)
    table.add_column("score", justify="right")
    table.add_column("submissions", justify="right")
    table.add_column("last submission", no_wrap=True)
    for entry in entries:
        style = "bold" if highlight and entry["team_name"] == highlight else ""
        table.add_row(str(entry["rank"]), rank_change(entry.get("rank_change")), Text(entry["team_name"]),
                      score(entry["score"]), str(entry.get("submissions", "")),
                      when(entry.get("last_submission_at")), style=style)
    if not entries:
        table.caption = "no scored submission yet"
    return table


def submissions_table(submissions: list[dict[str, Any]]) -> Table:
    table = Table(title="Your submissions (newest first)", title_justify="left")
    table.add_column("id", justify="right")
    table.add_column("task", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("public score", justify="right")
    table.add_column("private score", justify="right")
    table.add_column("submitted", no_wrap=True)
    table.add_column("file / reason")
    for s in submissions:
        table.add_row(str(s["id"]), s["task_id"], status(s["status"]), score(s.get("public_score")),
                      score(s.get("private_score")), when(s.get("timestamp")),
                      Text(s.get("reason") or s.get("filename") or ""))
    if not submissions:
        table.caption = "none yet: `podium submit TASK FILE`"
    return table


def tasks_table(tasks: list[dict[str, Any]]) -> Table:
    table = Table(title="Tasks", title_justify="left")
    for name in ("id", "aliases", "title", "kind", "metric", "daily quota", "max upload", "expects"):
        table.add_column(name)
    for task in tasks:
        if task["kind"] == "cpu":
            names = task.get("sample_names") or []
            expects = (f"ZIP of {len(names)} tensors {names[0]}…{names[-1]} (.npy/.pt/.safetensors), "
                       f"shape {list(task.get('shape', []))}" if names else "a ZIP of tensors")
        else:
            expects = f"ONNX model, input shape [batch, {', '.join(map(str, task.get('shape', [])))}]"
        table.add_row(task["id"], ", ".join(task.get("aliases", [])), Text(task["title"]), task["kind"],
                      task["metric"], str(task["daily_quota"]), f"{task['max_upload_bytes'] / 1e6:.0f} MB",
                      expects)
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


def counts_table(title: str, counts: dict[str, Any]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in counts.items():
        if key != "type":
            table.add_row(key.replace("_", " "), str(value))
    return table


def questions_table(questions: list[dict[str, Any]]) -> Table:
    table = Table(title="Questions and announcements (newest first)", title_justify="left", show_lines=True)
    table.add_column("id", justify="right")
    table.add_column("from", no_wrap=True)
    table.add_column("question")
    table.add_column("answer")
    for q in questions:
        author = "announcement" if q.get("is_announcement") else q.get("author_name", "")
        question = Text(q["title"], style="bold") + Text("\n" + q["content"])
        answer = Text(q["answer"]) if q.get("answer") else Text("not answered yet", style="dim")
        table.add_row(str(q["id"]), Text(author), question, answer)
    return table
