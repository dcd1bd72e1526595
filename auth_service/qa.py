"""Questions, answers and announcements in the `auth` schema. Who sees what: an admin sees everything; a
team sees announcements, answered visible questions, and its own questions (answered or not)."""

from __future__ import annotations

import asyncpg

from auth_service.accounts import outbox
from podium_runtime.connections import PgConnection
from proto.events import QuestionChanged
from proto.identity import Answer, QuestionView
from proto.rpc import Principal

_SELECT = """
    SELECT q.id, q.account_id, q.title, q.content, q.is_announcement, q.answer, q.answered_by, q.answered_at,
           q.hidden, q.revision, q.created_at, q.updated_at, a.name AS author_name, a.role AS author_role
    FROM auth.questions q JOIN auth.accounts a ON a.id = q.account_id
"""
# $1 = the asking account's id; admins skip this filter.
_VISIBLE_TO_TEAM = "(q.account_id = $1 OR (NOT q.hidden AND (q.is_announcement OR q.answer IS NOT NULL)))"


def visible_to_all(row: asyncpg.Record) -> bool:
    return not row["hidden"] and (row["is_announcement"] or row["answer"] is not None)


def view(row: asyncpg.Record) -> QuestionView:
    answers = []
    if row["answer"] is not None:
        answers.append(
            Answer(
                id=row["id"],
                question_id=row["id"],
                content=row["answer"],
                author_name=row["answered_by"] or "",
                created_at=row["answered_at"],
                updated_at=row["answered_at"],
            )
        )
    return QuestionView(
        id=row["id"],
        team_id=row["account_id"],
        title=row["title"],
        content=row["content"],
        author_name=row["author_name"],
        author_is_admin=row["author_role"] == "admin",
        is_announcement=row["is_announcement"],
        is_answered=row["answer"] is not None,
        hidden=row["hidden"],
        answer=row["answer"],
        answered_by=row["answered_by"],
        answered_at=row["answered_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        answer_count=len(answers),
        latest_answers=answers,
    )


async def list_visible(conn: PgConnection, actor: Principal, skip: int, limit: int) -> list[QuestionView]:
    if actor.is_admin:
        rows = await conn.fetch(f"{_SELECT} ORDER BY q.created_at DESC, q.id DESC OFFSET $1 LIMIT $2", skip, limit)
    else:
        rows = await conn.fetch(
            f"{_SELECT} WHERE {_VISIBLE_TO_TEAM} ORDER BY q.created_at DESC, q.id DESC OFFSET $2 LIMIT $3",
            int(actor.account_id),
            skip,
            limit,
        )
    return [view(row) for row in rows]


async def get_visible(
    conn: PgConnection, actor: Principal, question_id: int, *, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF q" if for_update else ""
    if actor.is_admin:
        return await conn.fetchrow(f"{_SELECT} WHERE q.id = $1{lock}", question_id)
    return await conn.fetchrow(f"{_SELECT} WHERE q.id = $2 AND {_VISIBLE_TO_TEAM}{lock}", int(actor.account_id),
                               question_id)


async def _announce(conn: PgConnection, row: asyncpg.Record, change: str, actor: str) -> None:
    await outbox.add(
        conn,
        QuestionChanged(
            question_id=row["id"],
            team_id=row["account_id"],
            change=change,
            revision=row["revision"],
            visible_to_all=visible_to_all(row),
            actor=actor,
        ),
    )


async def post(conn: PgConnection, actor: Principal, title: str, content: str, announcement: bool) -> int:
    question_id: int = await conn.fetchval(
        "INSERT INTO auth.questions (account_id, title, content, is_announcement) VALUES ($1, $2, $3, $4) "
        "RETURNING id",
        int(actor.account_id),
        title,
        content,
        announcement,
    )
    row = await get_visible(conn, actor, question_id)
    assert row is not None
    await _announce(conn, row, "announced" if announcement else "posted", actor.name)
    return question_id


async def update(
    conn: PgConnection,
    row: asyncpg.Record,
    *,
    answered_by: str,
    title: str | None,
    content: str | None,
    answer: str | None,
    hidden: bool | None,
) -> None:
    await conn.execute(
        """UPDATE auth.questions SET
               title = coalesce($2, title),
               content = coalesce($3, content),
               answer = coalesce($4, answer),
               answered_by = CASE WHEN $4::text IS NULL THEN answered_by ELSE $5 END,
               answered_at = CASE WHEN $4::text IS NULL THEN answered_at ELSE now() END,
               hidden = coalesce($6, hidden),
               revision = revision + 1,
               updated_at = now()
           WHERE id = $1""",
        row["id"],
        title,
        content,
        answer,
        answered_by,
        hidden,
    )
    change = "answered" if answer is not None else ("hidden" if hidden else "shown" if hidden is False else "edited")
    updated = await conn.fetchrow(f"{_SELECT} WHERE q.id = $1", row["id"])
    assert updated is not None  # the caller holds the row FOR UPDATE in this transaction: no one has deleted it
    await _announce(conn, updated, change, answered_by)


async def delete(conn: PgConnection, row: asyncpg.Record, actor: str) -> None:
    """Delete a question (its answer with it); the event keeps who deleted which question, for the audit trail."""
    await conn.execute("DELETE FROM auth.questions WHERE id = $1", row["id"])
    await outbox.add(conn, QuestionChanged(
        question_id=row["id"], team_id=row["account_id"], change="deleted", revision=row["revision"] + 1,
        visible_to_all=visible_to_all(row), actor=actor))


async def remove_answer(conn: PgConnection, row: asyncpg.Record, actor: str) -> None:
    """Take a question's answer back: the question is unanswered again (and its team may edit it again)."""
    await conn.execute(
        "UPDATE auth.questions SET answer = NULL, answered_by = NULL, answered_at = NULL, revision = revision + 1, "
        "updated_at = now() WHERE id = $1",
        row["id"])
    updated = await conn.fetchrow(f"{_SELECT} WHERE q.id = $1", row["id"])
    assert updated is not None  # the caller holds the row FOR UPDATE in this transaction: no one has deleted it
    # Visible to all while it was answered: every client that saw the answer hears that it is gone.
    await outbox.add(conn, QuestionChanged(
        question_id=row["id"], team_id=row["account_id"], change="unanswered", revision=updated["revision"],
        visible_to_all=visible_to_all(row), actor=actor))


async def counts(conn: PgConnection) -> dict[str, int]:
    """Questions, unanswered and hidden ones, and announcements (the admin's statistics)."""
    row = await conn.fetchrow(
        """SELECT
             (SELECT count(*) FROM auth.questions WHERE NOT is_announcement) AS questions,
             (SELECT count(*) FROM auth.questions WHERE NOT is_announcement AND answer IS NULL)
                 AS unanswered_questions,
             (SELECT count(*) FROM auth.questions WHERE hidden) AS hidden_questions,
             (SELECT count(*) FROM auth.questions WHERE is_announcement) AS announcements"""
    )
    assert row is not None  # a SELECT without FROM always returns its one row
    return dict(row.items())
