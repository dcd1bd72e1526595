-- The last lines of the scorer's log about each submission, for its team to read after the fact.
CREATE TABLE job_logs (
    id            bigserial PRIMARY KEY,
    submission_id bigint      NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    logged_at     timestamptz NOT NULL,
    level         text        NOT NULL,
    line          text        NOT NULL
);

CREATE INDEX job_logs_by_submission ON job_logs (submission_id, id);
