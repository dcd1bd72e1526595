-- Every board column's value of a score, by the column's header, on each split (`ScoreComputed.public_columns` and
-- `private_columns`): a board ranks by the task's primary and tie-break columns from these, so a host who makes
-- another computed column primary re-sorts the board without a rescore. Empty for a score from before columns, whose
-- one value is the primary's (public_score, private_score). A value that is not a finite number is stored as null.
ALTER TABLE scores ADD COLUMN public_columns jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE scores ADD COLUMN private_columns jsonb NOT NULL DEFAULT '{}'::jsonb;
