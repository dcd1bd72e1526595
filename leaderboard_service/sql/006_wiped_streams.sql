-- When JetStream's store is wiped, a stream starts again at sequence 1. `base` is the last sequence applied from
-- the stream's earlier life, so message n of the new one is position base + n: after everything already applied,
-- and the audit trail's keys stay unique.
ALTER TABLE applied ADD COLUMN base bigint NOT NULL DEFAULT 0;

-- Streams whose earlier history was lost with a wiped store: a rebuild from the streams would lose what the
-- projection still has, so it is refused unless the host accepts that (not part of the projection: a rebuild
-- keeps it).
CREATE TABLE lost_history (
    stream   text PRIMARY KEY,
    lost_at  timestamptz NOT NULL DEFAULT now(),
    last_seq bigint      NOT NULL
);
