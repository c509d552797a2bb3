-- The notification context: notifications and their delivery log, users' preferences, phone
-- numbers and push devices, and what other contexts' events told us (contacts, tutors' users,
-- unread messages, how far each participant has read each conversation).

CREATE TABLE notifications (
    id              BLOB PRIMARY KEY,
    recipient_id    BLOB NOT NULL,
    kind            TEXT NOT NULL,
    channel         TEXT NOT NULL,
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts        INTEGER NOT NULL,
    -- Pending deliveries: when the next attempt is due (also the dispatcher's lease).
    next_attempt_at TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    read_at         TEXT
);
-- A user's in-app notifications, newest first (ids are time-ordered).
CREATE INDEX notifications_in_app ON notifications (recipient_id, id DESC) WHERE channel = 'IN_APP';
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status = 'PENDING';

CREATE TABLE notification_delivery_log (
    notification_id BLOB NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    at              TEXT NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN ('SENT', 'RETRY', 'FAILED')),
    error           TEXT,
    PRIMARY KEY (notification_id, attempt)
);

CREATE TABLE notification_preferences (
    user_id    BLOB NOT NULL,
    kind       TEXT NOT NULL,
    channel    TEXT NOT NULL,
    enabled    INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, kind, channel)
);

CREATE TABLE notification_settings (
    user_id      BLOB PRIMARY KEY,
    -- E.164, for SMS.
    phone_number TEXT,
    updated_at   TEXT NOT NULL
);

CREATE TABLE push_devices (
    token         TEXT PRIMARY KEY,
    user_id       BLOB NOT NULL,
    registered_at TEXT NOT NULL
);
CREATE INDEX push_devices_by_user ON push_devices (user_id);

-- identity's users as its events describe them.
CREATE TABLE contacts (
    user_id      BLOB PRIMARY KEY,
    email        TEXT NOT NULL,
    first_name   TEXT NOT NULL,
    last_name    TEXT NOT NULL,
    locale       TEXT NOT NULL,
    time_zone    TEXT NOT NULL,
    notify_email INTEGER NOT NULL,
    notify_push  INTEGER NOT NULL,
    notify_sms   INTEGER NOT NULL
);

-- The user account behind a tutor profile (booking's and review's events name the profile).
CREATE TABLE tutor_users (
    tutor_id BLOB PRIMARY KEY,
    user_id  BLOB NOT NULL
);

-- Messages not yet read by a recipient, until their notification is due.
CREATE TABLE pending_messages (
    message_id      BLOB NOT NULL,
    recipient_id    BLOB NOT NULL,
    conversation_id BLOB NOT NULL,
    sender_id       BLOB NOT NULL,
    preview         TEXT NOT NULL,
    sent_at         TEXT NOT NULL,
    due_at          TEXT NOT NULL,
    PRIMARY KEY (message_id, recipient_id)
);
CREATE INDEX pending_messages_due ON pending_messages (due_at);
CREATE INDEX pending_messages_by_reader ON pending_messages (recipient_id, conversation_id, message_id);

-- How far each participant has read each conversation (the newest message id read).
CREATE TABLE message_reads (
    conversation_id BLOB NOT NULL,
    reader_id       BLOB NOT NULL,
    message_id      BLOB NOT NULL,
    PRIMARY KEY (conversation_id, reader_id)
);
