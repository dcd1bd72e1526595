-- The competition as data: every version a host applied (or the seed), immutable. The highest is current.
CREATE TABLE competition_versions (
    version     integer     PRIMARY KEY CHECK (version > 0),
    document    jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text        NOT NULL,
    changes     jsonb       NOT NULL DEFAULT '[]'
);

-- A host's ground-truth upload: a presigned PUT to a staging key, checked against the task by `complete`.
CREATE TABLE ground_truth_uploads (
    id           text        PRIMARY KEY,
    task_id      text        NOT NULL,
    staging_key  text        NOT NULL,
    size_bytes   bigint      NOT NULL,
    sha256       text        NOT NULL DEFAULT '',
    started_by   text        NOT NULL,
    expires_at   timestamptz NOT NULL,
    completed_at timestamptz
);

-- The competition version a submission was accepted under (its scorer uses this version or a newer one).
ALTER TABLE submissions ADD COLUMN competition_version integer NOT NULL DEFAULT 0;

-- What each score was computed under: the competition version, the task's scoring identity, the ground truth.
ALTER TABLE scores ADD COLUMN competition_version integer NOT NULL DEFAULT 0;
ALTER TABLE scores ADD COLUMN identity text NOT NULL DEFAULT '';
ALTER TABLE scores ADD COLUMN ground_truth_sha256 text NOT NULL DEFAULT '';
CREATE INDEX scores_identity ON scores (submission_id, identity) WHERE outcome = 'computed';
