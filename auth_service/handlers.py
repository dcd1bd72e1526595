"""One method per auth operation: check who asks, call the rules and the store modules (`accounts`, `qa`,
`refresh_tokens`, `login_failures`: the SQL lives there), answer. Each refusal is a `Refused` with the HTTP status
and a reason; the gateway turns it into a problem response. The handlers object is built from the service's Deps
(`auth_service.app.wire`) and reaches the subscribers through FastStream's context."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from faststream.nats import NatsRouter

from auth_service import accounts, login_failures, qa, refresh_tokens, rules
from auth_service.csv_import import CsvRefused, CsvRowRefused, parse_teams_csv
from auth_service.login_failures import LoginLimit
from auth_service.passwords import hash_password, verify_password
from auth_service.token_versions import RevokedFamilies, TokenVersions
from auth_service.tokens import (
    SigningKey,
    TokenPolicy,
    issue_access_token,
    new_refresh_token,
    now_utc,
    refresh_digest,
)
from podium_runtime.connections import PgConnection
from podium_runtime.rpc import Method, Refused, rpc_methods_router
from proto import identity as ops
from proto.rpc import Operation, Principal

BAD_LOGIN = "Incorrect team name or password"
TOO_MANY_FAILURES = (
    "too many failed logins for this name; logins for it are refused for {seconds} s (see Retry-After), whoever "
    "sends them, the right password included"
)
REFRESH_REFUSED = "refresh token is invalid, used, expired or revoked; log in again"
REFRESH_REUSED = (
    "refresh token was already used: a copy of it may be in other hands, so every token of this login (refresh and "
    "access tokens) is now revoked; log in again"
)


def _check(fn, *args):  # noqa: ANN001, ANN202 — a tiny adapter from rule violations to 422s
    try:
        return fn(*args)
    except rules.RuleViolation as exc:
        raise Refused(422, str(exc)) from None


def _judge(errors: dict[str, str], field: str, fn, *args):  # noqa: ANN001, ANN202 — one field of a form
    """The rule's cleaned value, or None with the violation noted under `field`."""
    try:
        return fn(*args)
    except rules.RuleViolation as exc:
        errors[field] = str(exc)
        return None


def _is_valid_name(name: str) -> bool:
    try:
        rules.team_name(name)
    except rules.RuleViolation:
        return False
    return True


def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise Refused(403, "Admin privileges required")


def _account_id(text: str | int) -> int:
    try:
        return int(text)
    except ValueError:
        raise Refused(404, "Team not found") from None


@dataclass
class AuthHandlers:
    policy: TokenPolicy
    default_max_size: int
    login_limit: LoginLimit
    pool: asyncpg.Pool
    key: SigningKey
    versions: TokenVersions
    revoked_families: RevokedFamilies
    clock: Callable[[], datetime] = now_utc

    # --- tokens ------------------------------------------------------------------------------

    async def _issue(self, conn: PgConnection, row: asyncpg.Record, family_id: str) -> ops.TokenPair:
        now = now_utc()
        access = issue_access_token(
            self.key, self.policy, account_id=str(row["id"]), name=row["name"], role=row["role"],
            version=row["token_version"], family=family_id, now=now,
        )
        refresh, digest = new_refresh_token()
        await refresh_tokens.add(conn, digest=digest, account_id=row["id"], token_version=row["token_version"],
                                 family_id=family_id, expires_at=now + self.policy.refresh_ttl)
        return ops.TokenPair(
            access_token=access, refresh_token=refresh, expires_in=int(self.policy.access_ttl.total_seconds()),
            account_id=str(row["id"]), role=row["role"], token_version=row["token_version"],
        )

    async def login(self, request: ops.LoginRequest) -> ops.TokenPair:
        name, now = request.name.strip(), self.clock()
        async with self.pool.acquire() as conn:
            # Counted (for known and unknown names alike) before the costly password check, which a name over its
            # limit never reaches.
            attempts, window_started = await login_failures.count_attempt(conn, name, now, self.login_limit)
            wait = self.login_limit.retry_after(attempts, window_started, now)
            if wait is not None:
                raise Refused(429, TOO_MANY_FAILURES.format(seconds=wait), retry_after=wait)
            row = await accounts.by_name(conn, name)
            valid = await verify_password(row["password_hash"] if row else None, request.password)
            if row is None or not valid or row["disabled"]:
                await login_failures.prune(conn, now, self.login_limit.window)
                raise Refused(401, BAD_LOGIN)
            await login_failures.forget(conn, name)
            return await self._issue(conn, row, refresh_tokens.new_family())

    async def refresh(self, request: ops.RefreshRequest) -> ops.TokenPair:
        digest = refresh_digest(request.refresh_token)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                # Single use: a refresh token is spent by the refresh that presents it (rotation).
                stored = await refresh_tokens.spend(conn, digest)
                if stored is not None:
                    row = await accounts.by_id(conn, stored["account_id"])
                    if row is None or row["disabled"] or row["token_version"] != stored["token_version"]:
                        raise Refused(401, REFRESH_REFUSED)
                    return await self._issue(conn, row, stored["family_id"])
                reused = await refresh_tokens.revoke_family_of_spent(conn, digest)
            if reused is None:
                raise Refused(401, REFRESH_REFUSED)
            await self.revoked_families.publish(reused["family_id"], str(reused["account_id"]))
            # The family goes back to the gateway that asked, so that it refuses the login's tokens at once.
            raise Refused(401, REFRESH_REUSED, revoked_family=reused["family_id"])

    async def account_rules(self, _request: ops.RulesRequest) -> ops.AccountRules:
        return ops.AccountRules(password_min_length=rules.MIN_PASSWORD_LENGTH,
                                password_max_length=rules.MAX_PASSWORD_LENGTH, name_max_length=rules.MAX_NAME_LENGTH,
                                team_max_size=rules.MAX_TEAM_SIZE, default_team_max_size=self.default_max_size)

    async def jwks(self, _request: ops.JwksRequest) -> ops.Jwks:
        return ops.Jwks(keys=[self.key.public_jwk()], issuer=self.policy.issuer, audience=self.policy.audience)

    # --- teams -------------------------------------------------------------------------------

    async def _visible_team(self, conn: PgConnection, actor: Principal, team_id: int, *, lock: bool = False):
        # Another team's id answers exactly like a missing one: 404, never 403 (no existence oracle).
        if not actor.is_admin and str(team_id) != actor.account_id:
            raise Refused(404, "Team not found")
        row = await accounts.by_id(conn, team_id, for_update=lock)
        if row is None:
            raise Refused(404, "Team not found")
        return row

    async def me(self, _request: ops.MeRequest, actor: Principal) -> ops.TeamView:
        async with self.pool.acquire() as conn:
            row = await self._visible_team(conn, actor, _account_id(actor.account_id))
            return await accounts.view(conn, row)

    async def list_teams(self, request: ops.ListTeams, actor: Principal) -> ops.TeamList:
        async with self.pool.acquire() as conn:
            if actor.is_admin:
                return ops.TeamList(teams=await accounts.list_teams(conn, request.skip, min(request.limit, 1000)))
            own = await self._visible_team(conn, actor, _account_id(actor.account_id))
            return ops.TeamList(teams=[await accounts.view(conn, own)])

    async def get_team(self, request: ops.GetTeam, actor: Principal) -> ops.TeamView:
        async with self.pool.acquire() as conn:
            return await accounts.view(conn, await self._visible_team(conn, actor, request.team_id))

    async def create_team(self, request: ops.NewTeam, actor: Principal) -> ops.TeamView:
        _require_admin(actor)
        # Every field is judged, the name's availability first, and every problem is reported (in `errors`, by
        # field): a taken name is never hidden behind a short password.
        errors: dict[str, str] = {}
        name, taken = _judge(errors, "name", rules.team_name, request.name), None
        if name is not None:
            async with self.pool.acquire() as conn:
                taken = await accounts.name_refusal(conn, name)
            if taken is not None:
                errors["name"] = taken.detail
        max_size = _judge(errors, "max_size", rules.max_size, request.max_size or self.default_max_size)
        members = _judge(errors, "members", rules.members, request.members, max_size or self.default_max_size)
        password = _judge(errors, "password", rules.password, request.password)
        if errors:
            raise Refused(409 if taken is not None else 422, "; ".join(errors.values()),
                          errors=[{"key": key, "message": message} for key, message in errors.items()])
        # `_judge` answers None only with the field's violation noted in `errors`: none was, so none is None.
        assert name is not None and max_size is not None and members is not None and password is not None
        password_hash = await hash_password(password)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await accounts.create(
                    conn, name=name, password_hash=password_hash, role="team", members=members, max_size=max_size,
                    actor=actor.name,
                )
            await self._publish_version(row)
            return await accounts.view(conn, row)

    async def update_team(self, request: ops.UpdateTeam, actor: Principal) -> ops.TeamView:
        if not actor.is_admin and (request.max_size is not None or request.disabled is not None):
            raise Refused(403, "only an admin may change a team's size limit or disable it")
        name = _check(rules.team_name, request.name) if request.name is not None else None
        password_hash = None
        if request.password is not None:
            password_hash = await hash_password(_check(rules.password, request.password))
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await self._visible_team(conn, actor, request.team_id, lock=True)
                max_size = _check(rules.max_size, request.max_size) if request.max_size is not None else None
                members = None
                if request.members is not None:
                    members = _check(rules.members, request.members, max_size or row["max_size"])
                row = await accounts.update(
                    conn, row, name=name, password_hash=password_hash, members=members, max_size=max_size,
                    disabled=request.disabled, actor=actor.name,
                )
            await self._publish_version(row)
            return await accounts.view(conn, row)

    async def delete_team(self, request: ops.DeleteTeam, actor: Principal) -> ops.Deleted:
        _require_admin(actor)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._visible_team(conn, actor, request.team_id, lock=True)
            if row["role"] == "admin":
                raise Refused(403, "Cannot delete admin account")
            await accounts.delete(conn, row, actor=actor.name)
        await self._publish(str(row["id"]), None)
        return ops.Deleted(message=f"Team {row['name']} deleted")

    async def import_teams(self, request: ops.ImportTeamsCsv, actor: Principal) -> ops.ImportReport:
        _require_admin(actor)
        try:
            parsed = parse_teams_csv(request.csv, self.default_max_size)
        except CsvRefused as exc:
            raise Refused(400, str(exc)) from None
        teams = [row for row in parsed if not isinstance(row, CsvRowRefused)]
        hashes = await asyncio.gather(*(hash_password(team.password) for team in teams))
        report: dict[int, ops.ImportRow] = {}
        async with self.pool.acquire() as conn:
            for row in parsed:
                if isinstance(row, CsvRowRefused):
                    # A row refused for its password (say) whose name is also taken: the name comes first.
                    taken = await accounts.name_refusal(conn, row.name) if _is_valid_name(row.name) else None
                    reason = f"{taken.detail}; {row.reason}" if taken is not None else row.reason
                    report[row.line] = ops.ImportRow(line=row.line, name=row.name, status="refused", reason=reason)
        created = []
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                for team, password_hash in zip(teams, hashes, strict=True):
                    try:
                        row = await accounts.create(
                            conn, name=team.name, password_hash=password_hash, role="team", members=team.members,
                            max_size=team.max_size or self.default_max_size, actor=actor.name,
                        )
                    except Refused as exc:
                        report[team.line] = ops.ImportRow(line=team.line, name=team.name, status="refused",
                                                          reason=exc.detail)
                        continue
                    created.append(row)
                    report[team.line] = ops.ImportRow(line=team.line, name=team.name, status="created",
                                                      team_id=row["id"])
        for row in created:
            await self._publish_version(row)
        rows = [report[line] for line in sorted(report)]
        refused = [r for r in rows if r.status == "refused"]
        return ops.ImportReport(
            created=len(created), refused=len(refused), rows=rows,
            teams=[r.name for r in rows if r.status == "created"],
            errors=[f"Row {r.line}: {r.name + ': ' if r.name else ''}{r.reason}" for r in refused],
        )

    async def stats(self, _request: ops.StatsRequest, actor: Principal) -> ops.IdentityStats:
        _require_admin(actor)
        async with self.pool.acquire() as conn:
            return ops.IdentityStats(**await accounts.counts(conn), **await qa.counts(conn))

    async def reconcile_revocations(self) -> None:
        """The token versions bucket holds every live account's version, and the revoked families bucket every family
        revoked while its access tokens may live: at start, and again after JetStream's store was wiped with the
        buckets in it (PostgreSQL is the truth)."""
        async with self.pool.acquire() as conn:
            live = await accounts.live_token_versions(conn)
            # An access token lives access_ttl from its issue, so at most that long after its family's revocation
            # (plus a minute for clocks that differ between replicas).
            revoked = await refresh_tokens.revoked_since(conn, self.policy.access_ttl + timedelta(minutes=1))
        await self.versions.reconcile(live)
        await self.revoked_families.reconcile(revoked)

    async def restore(self, wiped: frozenset[str]) -> None:
        await self.reconcile_revocations()

    async def _publish_version(self, row: asyncpg.Record) -> None:
        live = row["role"] in ("team", "admin") and not row["disabled"]
        await self._publish(str(row["id"]), row["token_version"] if live else None)

    async def _publish(self, account_id: str, version: int | None) -> None:
        await self.versions.publish(account_id, version)

    # --- Q&A ---------------------------------------------------------------------------------

    async def list_questions(self, request: ops.ListQuestions, actor: Principal) -> ops.QuestionList:
        async with self.pool.acquire() as conn:
            return ops.QuestionList(
                questions=await qa.list_visible(conn, actor, request.skip, min(request.limit, 500))
            )

    async def get_question(self, request: ops.GetQuestion, actor: Principal) -> ops.QuestionView:
        async with self.pool.acquire() as conn:
            row = await qa.get_visible(conn, actor, request.question_id)
            if row is None:
                raise Refused(404, "Question not found")
            return qa.view(row)

    async def post_question(self, request: ops.PostQuestion, actor: Principal) -> ops.QuestionView:
        if request.announcement:
            _require_admin(actor)
        title, content = _text(request.title, "title", 200), _text(request.content, "content", 10_000)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                question_id = await qa.post(conn, actor, title, content, request.announcement)
            row = await qa.get_visible(conn, actor, question_id)
            assert row is not None
            return qa.view(row)

    async def update_question(self, request: ops.UpdateQuestion, actor: Principal) -> ops.QuestionView:
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                row = await qa.get_visible(conn, actor, request.question_id, for_update=True)
                if row is None:
                    raise Refused(404, "Question not found")
                if not actor.is_admin:
                    if str(row["account_id"]) != actor.account_id:
                        raise Refused(404, "Question not found")
                    if request.answer is not None or request.hidden is not None:
                        raise Refused(403, "only an admin may answer or hide a question")
                    if row["answer"] is not None:
                        raise Refused(409, "an answered question can no longer be edited; ask a new one")
                await qa.update(
                    conn, row, answered_by=actor.name,
                    title=_text(request.title, "title", 200) if request.title is not None else None,
                    content=_text(request.content, "content", 10_000) if request.content is not None else None,
                    answer=_text(request.answer, "answer", 10_000) if request.answer is not None else None,
                    hidden=request.hidden,
                )
            updated = await qa.get_visible(conn, actor, request.question_id)
            assert updated is not None
            return qa.view(updated)

    async def delete_question(self, request: ops.DeleteQuestion, actor: Principal) -> ops.Deleted:
        """Admins delete any question; the asking team its own while unanswered (an answer others may rely on
        stays unless an admin removes it)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await qa.get_visible(conn, actor, request.question_id, for_update=True)
            if row is None or (not actor.is_admin and str(row["account_id"]) != actor.account_id):
                raise Refused(404, "Question not found")
            if not actor.is_admin and row["answer"] is not None:
                raise Refused(409, "an answered question can only be deleted by an admin")
            await qa.delete(conn, row, actor.name)
        return ops.Deleted(message=f"Question {request.question_id} deleted")

    async def delete_answer(self, request: ops.DeleteAnswer, actor: Principal) -> ops.QuestionView:
        _require_admin(actor)
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                # One answer per question: an answer's id is its question's.
                row = await qa.get_visible(conn, actor, request.answer_id, for_update=True)
                if row is None or row["answer"] is None:
                    raise Refused(404, "Answer not found")
                await qa.remove_answer(conn, row, actor.name)
            updated = await qa.get_visible(conn, actor, request.answer_id)
            assert updated is not None
            return qa.view(updated)


OPERATIONS: dict[Operation, Method] = {
    ops.LOGIN: AuthHandlers.login, ops.REFRESH: AuthHandlers.refresh, ops.JWKS: AuthHandlers.jwks,
    ops.ME: AuthHandlers.me, ops.RULES: AuthHandlers.account_rules,
    ops.LIST_TEAMS: AuthHandlers.list_teams, ops.GET_TEAM: AuthHandlers.get_team,
    ops.CREATE_TEAM: AuthHandlers.create_team, ops.UPDATE_TEAM: AuthHandlers.update_team,
    ops.DELETE_TEAM: AuthHandlers.delete_team, ops.IMPORT_TEAMS: AuthHandlers.import_teams,
    ops.STATS: AuthHandlers.stats, ops.LIST_QUESTIONS: AuthHandlers.list_questions,
    ops.GET_QUESTION: AuthHandlers.get_question, ops.POST_QUESTION: AuthHandlers.post_question,
    ops.UPDATE_QUESTION: AuthHandlers.update_question, ops.DELETE_QUESTION: AuthHandlers.delete_question,
    ops.DELETE_ANSWER: AuthHandlers.delete_answer,
}


def create_router(queue: str) -> NatsRouter:
    """The request/reply operations; the handlers arrive through FastStream's context (`wire`)."""
    return rpc_methods_router(queue, "handlers", OPERATIONS)


def _text(value: str, what: str, limit: int) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise Refused(422, f"{what} is empty")
    if len(cleaned) > limit:
        raise Refused(422, f"{what} is longer than {limit} characters")
    return cleaned


def access_policy(issuer: str, audience: str, access_ttl_s: int, refresh_ttl_s: int) -> TokenPolicy:
    return TokenPolicy(
        issuer=issuer, audience=audience, access_ttl=timedelta(seconds=access_ttl_s),
        refresh_ttl=timedelta(seconds=refresh_ttl_s),
    )
