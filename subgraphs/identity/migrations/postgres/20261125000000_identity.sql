-- The identity context's tables. Applied migrations are immutable: add a new file to change them.
CREATE TABLE users (
    id            UUID PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('STUDENT', 'TUTOR', 'ADMIN')),
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
-- E-mails are stored normalised (lower case); the index keeps them unique case-insensitively anyway.
CREATE UNIQUE INDEX users_email_unique ON users (lower(email));
CREATE INDEX users_admins ON users (role) WHERE role = 'ADMIN';

CREATE TABLE user_profiles (
    user_id      UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    first_name   TEXT NOT NULL,
    last_name    TEXT NOT NULL,
    avatar_url   TEXT,
    locale       TEXT NOT NULL,
    time_zone    TEXT NOT NULL,
    notify_email BOOLEAN NOT NULL,
    notify_push  BOOLEAN NOT NULL,
    notify_sms   BOOLEAN NOT NULL
);

CREATE TABLE user_sessions (
    id         UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    revoked_reason TEXT
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);

CREATE TABLE refresh_tokens (
    id         UUID PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES user_sessions (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
