-- A submission can be cancelled by its team or an admin while it waits or is being scored; when scoring
-- started is kept so the queue's ETA can use how long recent jobs really took.
ALTER TABLE submissions DROP CONSTRAINT submissions_status_check;
ALTER TABLE submissions ADD CONSTRAINT submissions_status_check CHECK (status IN
    ('awaiting_upload', 'received', 'scoring', 'scored', 'failed', 'rejected', 'expired', 'cancelled'));
ALTER TABLE submissions ADD COLUMN cancelled_by text;
ALTER TABLE submissions ADD COLUMN scoring_started_at timestamptz;
