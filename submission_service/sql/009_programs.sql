-- A host's scoring-program upload: a presigned PUT of the program (and of a sample submission to check it on) to
-- staging keys in the programs bucket, checked and applied by `complete`.
CREATE TABLE program_uploads (
    id                  text        PRIMARY KEY,
    task_id             text        NOT NULL,
    filename            text        NOT NULL,
    staging_key         text        NOT NULL,
    size_bytes          bigint      NOT NULL,
    sha256              text        NOT NULL DEFAULT '',
    sample_filename     text        NOT NULL DEFAULT '',
    sample_key          text        NOT NULL DEFAULT '',
    sample_size_bytes   bigint      NOT NULL DEFAULT 0,
    sample_sha256       text        NOT NULL DEFAULT '',
    started_by          text        NOT NULL,
    expires_at          timestamptz NOT NULL,
    completed_at        timestamptz
);

-- A line of a scoring program's own output (stdout, stderr): the host reads it, the team never does.
ALTER TABLE job_logs ADD COLUMN host_only boolean NOT NULL DEFAULT false;
