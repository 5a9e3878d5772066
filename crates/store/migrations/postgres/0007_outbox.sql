-- E-mail is durable: a message is written here in the same transaction as the change it tells of, and a
-- delivery worker on any node claims it (one conditional update), sends it, and marks it delivered, or
-- tries again later, or gives up and keeps it for the account's admins to see.
CREATE TABLE outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    links TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at BIGINT,
    given_up_at BIGINT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE delivered_at IS NULL AND given_up_at IS NULL;
CREATE INDEX outbox_to ON outbox (to_address) WHERE given_up_at IS NOT NULL;
