-- The transactional outbox: messages written in the application's own transaction,
-- published later by the relay. Pending: sent_at and failed_at both NULL.
CREATE TABLE courier.outbox (
    id              bigserial PRIMARY KEY,
    destination     text        NOT NULL,           -- 'topic:NAME' or 'queue:NAME'
    ordering_key    text,                           -- the message's group_id: published in id order per key
    body            bytea       NOT NULL,
    content_type    text,
    attributes      jsonb       NOT NULL DEFAULT '{}',
    message_id      text,
    correlation_id  text,
    dedup_id        text,
    delay_ms        bigint,
    time_to_live_ms bigint,
    reply_to        text,
    enqueued_at     timestamptz NOT NULL DEFAULT now(),
    available_at    timestamptz NOT NULL DEFAULT now(), -- later after a failed attempt (backoff)
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    sent_at         timestamptz,
    failed_at       timestamptz                     -- given up: kept, never cleaned, for an operator
);

CREATE INDEX outbox_pending ON courier.outbox (id)
    WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX outbox_pending_by_key ON courier.outbox (ordering_key, id)
    WHERE sent_at IS NULL AND failed_at IS NULL AND ordering_key IS NOT NULL;
CREATE INDEX outbox_sent ON courier.outbox (sent_at)
    WHERE sent_at IS NOT NULL;

-- Wakes listening relays when a transaction that wrote to the outbox commits (NOTIFY is
-- delivered on commit only, and once per transaction for equal payloads).
CREATE FUNCTION courier.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('courier_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON courier.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION courier.outbox_notify();
