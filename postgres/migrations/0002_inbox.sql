-- Durable idempotency (the inbox): which events each consumer has handled, or is handling
-- under a lease. Keyed as courier's pipeline keys events.
CREATE TABLE courier.inbox (
    subscription  text        NOT NULL,
    event_source  text        NOT NULL,
    event_id      text        NOT NULL,
    state         text        NOT NULL CHECK (state IN ('in_progress', 'completed')),
    locked_until  timestamptz,                      -- the lease of an in-progress claim
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription, event_source, event_id)
);

CREATE INDEX inbox_updated ON courier.inbox (updated_at);
