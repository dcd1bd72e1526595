-- One row per submission; its status follows the upload, then the score events of its scorer version.
CREATE TABLE submissions (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id           bigint      NOT NULL,
    task_id           text        NOT NULL,
    phase_id          text        NOT NULL,
    kind              text        NOT NULL CHECK (kind IN ('cpu', 'gpu')),
    filename          text        NOT NULL,
    object_key        text        NOT NULL UNIQUE,
    status            text        NOT NULL CHECK (status IN
                          ('awaiting_upload', 'received', 'scoring', 'scored', 'failed', 'rejected', 'expired')),
    scorer_version    text        NOT NULL,
    declared_size     bigint      NOT NULL,
    declared_sha256   text        NOT NULL DEFAULT '',
    size_bytes        bigint,
    sha256            text,
    public_score      double precision,
    private_score     double precision,
    metrics           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    details_key       text,
    reason            text,
    quota_day         date        NOT NULL,
    quota_refunded    boolean     NOT NULL DEFAULT false,
    upload_expires_at timestamptz NOT NULL,
    republished       integer     NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    received_at       timestamptz,
    scored_at         timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX submissions_by_team ON submissions (team_id, created_at DESC);
CREATE INDEX submissions_open ON submissions (status, updated_at) WHERE status IN ('awaiting_upload', 'received', 'scoring');

-- Accepted submissions per team, task and UTC day: the quota is one atomic upsert on this row.
CREATE TABLE quota_usage (
    team_id bigint  NOT NULL,
    task_id text    NOT NULL,
    day     date    NOT NULL,
    used    integer NOT NULL CHECK (used >= 0),
    PRIMARY KEY (team_id, task_id, day)
);

-- Every score outcome, by scorer version (a rescore adds rows; the old ones stay).
CREATE TABLE scores (
    submission_id  bigint      NOT NULL REFERENCES submissions (id),
    scorer_version text        NOT NULL,
    outcome        text        NOT NULL CHECK (outcome IN ('computed', 'failed')),
    public_score   double precision,
    private_score  double precision,
    metrics        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    details_key    text,
    reason         text,
    infrastructure boolean     NOT NULL DEFAULT false,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, scorer_version)
);
