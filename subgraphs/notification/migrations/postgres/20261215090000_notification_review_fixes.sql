-- Review fixes: messages edited or deleted after they were sent; contacts keep their newest
-- profile; an index for unread in-app notifications.

-- What happened to a message after it was sent (messaging's MessageEdited / MessageDeleted).
-- Kept as a tombstone, so a MessageSent redelivered or overtaken by the change is not stored
-- with its old text. DELETED wins over EDITED.
CREATE TABLE message_changes (
    message_id UUID PRIMARY KEY,
    change     TEXT NOT NULL CHECK (change IN ('EDITED', 'DELETED')),
    at         TIMESTAMPTZ NOT NULL
);

-- An edited message's preview is dropped (the event carries no new text): notified as edited.
ALTER TABLE pending_messages ADD COLUMN edited BOOLEAN NOT NULL DEFAULT FALSE;

-- When identity said what a contact holds (its event's occurredAt): an older profile update
-- arriving late does not overwrite a newer one. Rows from before: the epoch (any event wins).
ALTER TABLE contacts ADD COLUMN updated_at TIMESTAMPTZ NOT NULL DEFAULT '1970-01-01T00:00:00Z';

-- Unread in-app notifications: the unread count, the unread-only page (newest first) and
-- "mark all read" read only these rows.
CREATE INDEX notifications_unread_in_app ON notifications (recipient_id, id DESC)
    WHERE channel = 'IN_APP' AND read_at IS NULL;
