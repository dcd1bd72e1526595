-- Submissions cancelled before their outcome: a score that still arrives for one never counts.
CREATE TABLE cancelled (
    submission_id bigint PRIMARY KEY
);
