-- The support console. Operators belong to no customer account: their rows hang off this reserved
-- account (id 0), which no search lists and no account page serves (role checks keep them apart).
INSERT INTO accounts (id, name, totp_enabled, yubikey_enabled, created_at)
VALUES (0, 'Keyward support', TRUE, TRUE, 0);

-- How to reach the person who asked, and each operator's record of how the policy was followed.
ALTER TABLE disable_requests ADD COLUMN contact TEXT NOT NULL DEFAULT '';
CREATE INDEX disable_requests_user ON disable_requests (user_id);
CREATE TABLE disable_approvals (
    request_id BIGINT NOT NULL REFERENCES disable_requests (id) ON DELETE CASCADE,
    operator_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    contacted TEXT NOT NULL,
    channel TEXT NOT NULL,
    confirmed TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (request_id, operator_id)
);

-- The account an event belongs to (covered by the event's hash), so an account's log is one query.
ALTER TABLE audit_events ADD COLUMN account_id BIGINT;
CREATE INDEX audit_events_account ON audit_events (account_id, seq);
