-- The messaging context: conversations between two users, their messages and read receipts,
-- and the users (with their roles) identity's events told us about.

CREATE TABLE known_users (
    user_id    UUID PRIMARY KEY,
    role       TEXT NOT NULL,
    -- When identity said so: an older event never overwrites a newer one.
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE conversations (
    id               UUID PRIMARY KEY,
    started_by       UUID NOT NULL,
    -- The pair in canonical order: one conversation per pair of users.
    user_low         UUID NOT NULL,
    user_high        UUID NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    last_message_id  UUID,
    last_activity_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT conversations_pair UNIQUE (user_low, user_high),
    CHECK (user_low < user_high)
);

CREATE TABLE conversation_participants (
    conversation_id      UUID NOT NULL REFERENCES conversations (id),
    user_id              UUID NOT NULL,
    -- The conversation's last activity as a time-ordered key (its last message's id, else its
    -- own id), copied here so "my conversations, newest activity first" is one index range.
    activity_key         UUID NOT NULL,
    last_activity_at     TIMESTAMPTZ NOT NULL,
    -- Archived for this participant only.
    archived_at          TIMESTAMPTZ,
    -- Read up to and including this message.
    last_read_message_id UUID,
    last_read_at         TIMESTAMPTZ,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_participants_by_activity ON conversation_participants (user_id, activity_key DESC);

CREATE TABLE messages (
    id              UUID PRIMARY KEY,
    conversation_id UUID NOT NULL REFERENCES conversations (id),
    sender_id       UUID NOT NULL,
    -- NULL once deleted (a tombstone).
    content         TEXT,
    sent_at         TIMESTAMPTZ NOT NULL,
    edited_at       TIMESTAMPTZ,
    deleted_at      TIMESTAMPTZ,
    CHECK ((content IS NULL) = (deleted_at IS NOT NULL))
);
-- A conversation's messages, newest first (ids are time-ordered); also unread counts.
CREATE INDEX messages_by_conversation ON messages (conversation_id, id DESC);

CREATE TABLE message_read_receipts (
    message_id      UUID NOT NULL REFERENCES messages (id),
    reader_id       UUID NOT NULL,
    conversation_id UUID NOT NULL,
    read_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (message_id, reader_id)
);
