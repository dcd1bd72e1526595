-- Failed logins per account name, shared by every auth_service replica: after too many within a window, logins for
-- that name are refused (429) until the window ends, before any password hash is computed. Unknown names are counted
-- the same way (no answer tells which names exist). The name is kept as the SHA-256 of lower(name) (the same
-- folding as the account lookup): a name of any length fits the index, and a password typed into the name field is
-- not kept in clear.
CREATE TABLE login_failures (
    name_digest bytea PRIMARY KEY,
    -- Attempts counted in the window (those still checking their password included), at most the limit + 1.
    attempts integer NOT NULL,
    window_started timestamptz NOT NULL
);
-- Rows whose window has passed are deleted by the failures that follow (see login_failures.prune).
CREATE INDEX login_failures_window ON login_failures (window_started);
