-- Teams and admins are accounts: one name space, so one login route serves both (as in MLS-GOAT).
CREATE TABLE accounts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('team', 'admin')),
    password_hash text        NOT NULL,
    -- Bumped on password change, disable and delete: every token carrying an older version is refused.
    token_version integer     NOT NULL DEFAULT 1,
    -- Grows by one per change, giving each team.* event its own Msg-Id.
    revision      integer     NOT NULL DEFAULT 1,
    max_size      integer     NOT NULL DEFAULT 5 CHECK (max_size BETWEEN 1 AND 100),
    disabled      boolean     NOT NULL DEFAULT false,
    deleted_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Names are unique among live accounts, compared case-insensitively ("Alpha" and "alpha" are one team).
CREATE UNIQUE INDEX accounts_name_live ON accounts (lower(name)) WHERE deleted_at IS NULL;

CREATE TABLE members (
    account_id bigint  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    position   integer NOT NULL,
    name       text    NOT NULL,
    email      text    NOT NULL DEFAULT '',
    PRIMARY KEY (account_id, position)
);

CREATE TABLE refresh_tokens (
    digest        text PRIMARY KEY,
    account_id    bigint      NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_version integer     NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);

-- The JWT signing key, shared by every auth_service replica (unless one is given by setting).
CREATE TABLE signing_keys (
    kid         text PRIMARY KEY,
    private_pem text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE questions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id      bigint      NOT NULL REFERENCES accounts (id),
    title           text        NOT NULL,
    content         text        NOT NULL,
    is_announcement boolean     NOT NULL DEFAULT false,
    answer          text,
    answered_by     text,
    answered_at     timestamptz,
    hidden          boolean     NOT NULL DEFAULT false,
    revision        integer     NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX questions_newest ON questions (created_at DESC);
