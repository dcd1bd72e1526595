-- Rescore requests: which submissions were published again, under which scorer version, by whom.
CREATE TABLE rescores (
    id             text PRIMARY KEY,
    task_id        text        NOT NULL,
    scorer_version text        NOT NULL UNIQUE,
    requested_by   text        NOT NULL,
    submission_ids bigint[]    NOT NULL,
    requested_at   timestamptz NOT NULL DEFAULT now()
);
