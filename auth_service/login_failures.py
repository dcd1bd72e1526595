"""A limit on failed logins per account name, independent of the client's address (which a client can change):
`LoginLimit` decides, the `auth.login_failures` table counts (shared by every replica).

An attempt is counted before its password is checked and forgotten when it succeeds, so that concurrent attempts
cannot all slip under the limit: at most `failures` argon2 verifications per name and window, whoever asks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from podium_runtime.connections import PgConnection

# lower() as in accounts.by_name: every spelling that finds an account counts against that account.
_NAME_DIGEST = "sha256(convert_to(lower($1), 'UTF8'))"


@dataclass(frozen=True)
class LoginLimit:
    """At most `failures` failed logins for one name within `window` (from the first of them); further attempts
    are refused until the window ends. A successful login starts afresh."""

    failures: int
    window: timedelta

    def retry_after(self, attempts: int, window_started: datetime, now: datetime) -> int | None:
        """None when the attempt (the `attempts`-th of its window, itself included) may check its password;
        otherwise the whole seconds until the window ends (at least 1)."""
        if attempts <= self.failures:
            return None
        return max(1, math.ceil((window_started + self.window - now).total_seconds()))


async def count_attempt(conn: PgConnection, name: str, now: datetime, limit: LoginLimit) -> tuple[int, datetime]:
    """Count an attempt for `name` at `now`: the attempts of its window so far (this one included, capped at the
    limit + 1) and when the window started. A window that has passed starts again at `now`."""
    row = await conn.fetchrow(
        f"""INSERT INTO auth.login_failures AS f (name_digest, attempts, window_started)
            VALUES ({_NAME_DIGEST}, 1, $2)
            ON CONFLICT (name_digest) DO UPDATE SET
                attempts = CASE WHEN f.window_started <= $2 - $3::interval THEN 1
                                ELSE least(f.attempts + 1, $4) END,
                window_started = CASE WHEN f.window_started <= $2 - $3::interval THEN $2 ELSE f.window_started END
            RETURNING attempts, window_started""",
        name, now, limit.window, limit.failures + 1,
    )
    assert row is not None  # an upsert (ON CONFLICT DO UPDATE, unconditional) returns its row: inserted or updated
    return row["attempts"], row["window_started"]


async def forget(conn: PgConnection, name: str) -> None:
    """A successful login: its name's count starts afresh."""
    await conn.execute(f"DELETE FROM auth.login_failures WHERE name_digest = {_NAME_DIGEST}", name)


async def prune(conn: PgConnection, now: datetime, window: timedelta) -> int:
    """Delete the rows whose window has passed (names tried once and never again); returns how many. Run after a
    failed login: rows are only created by attempts that go on to an argon2 verification, so this keeps pace."""
    deleted = await conn.execute("DELETE FROM auth.login_failures WHERE window_started <= $1", now - window)
    return int(deleted.split()[-1])
