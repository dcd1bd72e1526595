-- The projection of the SCORES, TEAMS and BOARD streams. Each stream's last applied sequence is stored in the
-- same transaction as what it changed, so a redelivered or replayed event is a no-op.
CREATE TABLE applied (
    stream   text PRIMARY KEY,
    last_seq bigint NOT NULL
);

CREATE TABLE scores (
    submission_id  bigint      NOT NULL,
    scorer_version text        NOT NULL,
    team_id        text        NOT NULL,
    task_id        text        NOT NULL,
    phase_id       text        NOT NULL,
    public_score   double precision NOT NULL,
    private_score  double precision NOT NULL,
    submitted_at   timestamptz NOT NULL,
    PRIMARY KEY (submission_id, scorer_version)
);
CREATE INDEX scores_by_task ON scores (task_id, scorer_version);

CREATE TABLE teams (
    team_id           text PRIMARY KEY,
    name              text    NOT NULL,
    name_revision     integer NOT NULL,
    deleted           boolean NOT NULL DEFAULT false,
    hidden            boolean NOT NULL DEFAULT false,
    disqualified      boolean NOT NULL DEFAULT false,
    standing_revision integer NOT NULL DEFAULT 0
);

CREATE TABLE finals (
    team_id        text     NOT NULL,
    task_id        text     NOT NULL,
    submission_ids bigint[] NOT NULL,
    revision       integer  NOT NULL,
    PRIMARY KEY (team_id, task_id)
);

CREATE TABLE reveals (
    task_id  text PRIMARY KEY,
    revealed boolean NOT NULL,
    revision integer NOT NULL
);

-- Who did what to the boards, and when (from the BOARD stream; append-only).
CREATE TABLE audit (
    stream_seq  bigint PRIMARY KEY,
    action      text        NOT NULL,
    actor       text        NOT NULL,
    target      text        NOT NULL,
    detail      jsonb       NOT NULL,
    occurred_at timestamptz NOT NULL
);

-- Revision counters of the decisions this service records (not part of the projection: a rebuild keeps them,
-- so a new decision always outranks the replayed ones).
CREATE TABLE decision_revisions (
    decision text PRIMARY KEY,
    revision integer NOT NULL
);
