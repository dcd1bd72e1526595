-- Rescores the board is waiting on, and the scorer versions activated when one completed (in order).
CREATE TABLE rescores (
    rescore_id     text PRIMARY KEY,
    task_id        text        NOT NULL,
    scorer_version text        NOT NULL,
    expected       bigint[]    NOT NULL,
    -- Later requests outrank earlier ones on the board, whatever order they complete in.
    requested_seq  bigint      NOT NULL,
    completed      boolean     NOT NULL DEFAULT false,
    movements      jsonb       NOT NULL DEFAULT '[]'::jsonb
);

CREATE TABLE active_versions (
    task_id        text    NOT NULL,
    scorer_version text    NOT NULL,
    activation     bigint  NOT NULL,
    PRIMARY KEY (task_id, scorer_version)
);

-- Failed outcomes count towards a rescore's completion (they never reach a board).
CREATE TABLE failed_outcomes (
    submission_id  bigint NOT NULL,
    scorer_version text   NOT NULL,
    PRIMARY KEY (submission_id, scorer_version)
);
