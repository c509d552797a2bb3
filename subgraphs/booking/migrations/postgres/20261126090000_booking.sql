-- The booking context: bookings (the slot each holds is exclusive per tutor and per student,
-- enforced by exclusion constraints), their snapshots, and projections of identity's users and
-- tutoring's tutors.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE bookings (
    id                UUID PRIMARY KEY,
    student_id        UUID NOT NULL,
    tutor_id          UUID NOT NULL,
    tutor_user_id     UUID NOT NULL,
    starts_at         TIMESTAMPTZ NOT NULL,
    ends_at           TIMESTAMPTZ NOT NULL,
    subject           TEXT NOT NULL,
    pricing_option_id UUID NOT NULL,
    amount_minor      BIGINT NOT NULL CHECK (amount_minor >= 0),
    currency          TEXT NOT NULL,
    status            TEXT NOT NULL,
    paid              BOOLEAN NOT NULL,
    accepted          BOOLEAN NOT NULL,
    meeting_url       TEXT,
    payment_due_at    TIMESTAMPTZ NOT NULL,
    cancelled_by      TEXT,
    cancel_reason     TEXT,
    cancelled_at      TIMESTAMPTZ,
    refund_minor      BIGINT,
    refunded_minor    BIGINT NOT NULL DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    confirmed_at      TIMESTAMPTZ,
    completed_at      TIMESTAMPTZ,
    version           BIGINT NOT NULL,
    CHECK (ends_at > starts_at),
    CONSTRAINT bookings_tutor_overlap EXCLUDE USING gist (tutor_id WITH =, tstzrange(starts_at, ends_at) WITH &&)
        WHERE (status IN ('PENDING', 'CONFIRMED')),
    CONSTRAINT bookings_student_overlap EXCLUDE USING gist (student_id WITH =, tstzrange(starts_at, ends_at) WITH &&)
        WHERE (status IN ('PENDING', 'CONFIRMED'))
);
CREATE INDEX bookings_by_student ON bookings (student_id, starts_at, id);
CREATE INDEX bookings_by_tutor_user ON bookings (tutor_user_id, starts_at, id);
CREATE INDEX bookings_by_tutor ON bookings (tutor_id, starts_at, id);
-- The sweeper's work: pending and confirmed bookings by their deadlines.
CREATE INDEX bookings_open ON bookings (status, payment_due_at) WHERE status IN ('PENDING', 'CONFIRMED');

CREATE TABLE booking_snapshots (
    booking_id      UUID PRIMARY KEY REFERENCES bookings (id) ON DELETE CASCADE,
    tutor_name      TEXT,
    tutor_email     TEXT,
    student_name    TEXT,
    student_email   TEXT,
    original_amount BIGINT NOT NULL,
    currency        TEXT NOT NULL
);

CREATE TABLE known_users (
    user_id    UUID PRIMARY KEY,
    email      TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name  TEXT NOT NULL
);

-- Tutors as tutoring's events describe them; each part carries the revision it came with.
CREATE TABLE known_tutors (
    tutor_id              UUID PRIMARY KEY,
    user_id               UUID,
    instant_booking       BOOLEAN NOT NULL DEFAULT FALSE,
    profile_version       BIGINT NOT NULL DEFAULT 0,
    time_zone             TEXT,
    weekly                TEXT NOT NULL DEFAULT '[]',
    time_off              TEXT NOT NULL DEFAULT '[]',
    availability_revision BIGINT NOT NULL DEFAULT 0,
    currency              TEXT,
    options               TEXT NOT NULL DEFAULT '[]',
    pricing_revision      BIGINT NOT NULL DEFAULT 0
);
