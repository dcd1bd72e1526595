-- When each JetStream stream this service reads or writes was created, as last seen: a different time means the
-- stream was created again (JetStream's store was wiped), and the service restores what it keeps on the bus.
CREATE TABLE stream_epochs (
    stream  text PRIMARY KEY,
    created text NOT NULL
);
