-- The booking context: bookings (the slot each holds is exclusive per tutor and per student:
-- checked inside the serialised write transaction that inserts), their snapshots, and
-- projections of identity's users and tutoring's tutors.

CREATE TABLE bookings (
    id                BLOB PRIMARY KEY,
    student_id        BLOB NOT NULL,
    tutor_id          BLOB NOT NULL,
    tutor_user_id     BLOB NOT NULL,
    starts_at         TEXT NOT NULL,
    ends_at           TEXT NOT NULL,
    subject           TEXT NOT NULL,
    pricing_option_id BLOB NOT NULL,
    amount_minor      INTEGER NOT NULL CHECK (amount_minor >= 0),
    currency          TEXT NOT NULL,
    status            TEXT NOT NULL,
    paid              INTEGER NOT NULL,
    accepted          INTEGER NOT NULL,
    meeting_url       TEXT,
    payment_due_at    TEXT NOT NULL,
    cancelled_by      TEXT,
    cancel_reason     TEXT,
    cancelled_at      TEXT,
    refund_minor      INTEGER,
    refunded_minor    INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    confirmed_at      TEXT,
    completed_at      TEXT,
    version           INTEGER NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX bookings_by_student ON bookings (student_id, starts_at, id);
CREATE INDEX bookings_by_tutor_user ON bookings (tutor_user_id, starts_at, id);
CREATE INDEX bookings_by_tutor ON bookings (tutor_id, starts_at, id);
-- The sweeper's work: pending and confirmed bookings by their deadlines.
CREATE INDEX bookings_open ON bookings (status, payment_due_at) WHERE status IN ('PENDING', 'CONFIRMED');

CREATE TABLE booking_snapshots (
    booking_id      BLOB PRIMARY KEY REFERENCES bookings (id) ON DELETE CASCADE,
    tutor_name      TEXT,
    tutor_email     TEXT,
    student_name    TEXT,
    student_email   TEXT,
    original_amount INTEGER NOT NULL,
    currency        TEXT NOT NULL
);

CREATE TABLE known_users (
    user_id    BLOB PRIMARY KEY,
    email      TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name  TEXT NOT NULL
);

-- Tutors as tutoring's events describe them; each part carries the revision it came with.
CREATE TABLE known_tutors (
    tutor_id              BLOB PRIMARY KEY,
    user_id               BLOB,
    instant_booking       INTEGER NOT NULL DEFAULT 0,
    profile_version       INTEGER NOT NULL DEFAULT 0,
    time_zone             TEXT,
    weekly                TEXT NOT NULL DEFAULT '[]',
    time_off              TEXT NOT NULL DEFAULT '[]',
    availability_revision INTEGER NOT NULL DEFAULT 0,
    currency              TEXT,
    options               TEXT NOT NULL DEFAULT '[]',
    pricing_revision      INTEGER NOT NULL DEFAULT 0
);
