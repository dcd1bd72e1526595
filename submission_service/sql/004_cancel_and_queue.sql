-- A submission can be cancelled by its team or an admin while it waits or is being scored. When scoring
-- started and how long the scorer took (its own measure, from delivery to outcome) feed the queue's ETA.
ALTER TABLE submissions DROP CONSTRAINT submissions_status_check;
ALTER TABLE submissions ADD CONSTRAINT submissions_status_check CHECK (status IN
    ('awaiting_upload', 'received', 'scoring', 'scored', 'failed', 'rejected', 'expired', 'cancelled'));
ALTER TABLE submissions ADD COLUMN cancelled_by text;
ALTER TABLE submissions ADD COLUMN scoring_started_at timestamptz;
ALTER TABLE submissions ADD COLUMN scoring_ms double precision;
