-- The audit trail grows from board decisions to every admin action (teams, rescores, cancellations, Q&A
-- moderation), read from several streams: an entry is keyed by its stream and sequence.
ALTER TABLE audit ADD COLUMN stream text NOT NULL DEFAULT 'BOARD';
ALTER TABLE audit DROP CONSTRAINT audit_pkey;
ALTER TABLE audit ADD PRIMARY KEY (stream, stream_seq);
CREATE INDEX audit_by_time ON audit (occurred_at DESC);
