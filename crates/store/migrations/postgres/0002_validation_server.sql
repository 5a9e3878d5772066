-- The Yubico Validation Protocol server: the nonce that came with a key's last accepted OTP (so the same
-- OTP and nonce again is REPLAYED_REQUEST, not REPLAYED_OTP), and a name for each protocol client.
ALTER TABLE yubikeys ADD COLUMN last_nonce TEXT;
ALTER TABLE yubico_clients ADD COLUMN name TEXT NOT NULL DEFAULT '';
