-- An idempotency key belongs to whoever sent it. The same key from another
-- requester is another action, so nobody can claim a key ahead of someone
-- else; the same requester reusing a key for another org or kind is refused
-- by the server (actions::request).
ALTER TABLE actions DROP CONSTRAINT actions_idempotency_key_key;
ALTER TABLE actions ADD CONSTRAINT actions_requester_key UNIQUE (requested_by, idempotency_key);
