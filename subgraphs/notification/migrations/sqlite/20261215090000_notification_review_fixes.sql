-- Review fixes: messages edited or deleted after they were sent.

-- What happened to a message after it was sent (messaging's MessageEdited / MessageDeleted).
-- Kept as a tombstone, so a MessageSent redelivered or overtaken by the change is not stored
-- with its old text. DELETED wins over EDITED.
CREATE TABLE message_changes (
    message_id BLOB PRIMARY KEY,
    change     TEXT NOT NULL CHECK (change IN ('EDITED', 'DELETED')),
    at         TEXT NOT NULL
);

-- An edited message's preview is dropped (the event carries no new text): notified as edited.
ALTER TABLE pending_messages ADD COLUMN edited INTEGER NOT NULL DEFAULT 0;
