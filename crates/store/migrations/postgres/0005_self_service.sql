-- My security: recent sign-ins, and browsers remembered after a second factor (tokens stored hashed).
CREATE TABLE sign_ins (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    ip TEXT,
    factor TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sign_ins_user ON sign_ins (user_id, at);

CREATE TABLE remembered_browsers (
    token_hash BYTEA PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    proven_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX remembered_browsers_user ON remembered_browsers (user_id);

-- "Remember this browser": for how many days (1 to 30), or 0 for off.
ALTER TABLE accounts ADD COLUMN remember_days BIGINT NOT NULL DEFAULT 0;
