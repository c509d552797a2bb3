-- The identity context's tables. Applied migrations are immutable: add a new file to change them.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('STUDENT', 'TUTOR', 'ADMIN')),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email_unique ON users (email COLLATE NOCASE);
CREATE INDEX users_admins ON users (role) WHERE role = 'ADMIN';

CREATE TABLE user_profiles (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    first_name   TEXT NOT NULL,
    last_name    TEXT NOT NULL,
    avatar_url   TEXT,
    locale       TEXT NOT NULL,
    time_zone    TEXT NOT NULL,
    notify_email INTEGER NOT NULL,
    notify_push  INTEGER NOT NULL,
    notify_sms   INTEGER NOT NULL
);

CREATE TABLE user_sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_reason TEXT
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);

CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES user_sessions (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
