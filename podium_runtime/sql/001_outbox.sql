-- The transactional outbox: a service writes its domain change and the event that announces it in one
-- transaction; the relay publishes unpublished rows with their Nats-Msg-Id and stamps published_at.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    subject      text        NOT NULL,
    msg_id       text        NOT NULL,
    payload      bytea       NOT NULL,
    headers      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text
);

CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
