-- The review context: reviews, their flags, and the bookings booking's events told us are completed.

CREATE TABLE completed_bookings (
    booking_id   UUID PRIMARY KEY,
    tutor_id     UUID NOT NULL,
    student_id   UUID NOT NULL,
    completed_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE reviews (
    id           UUID PRIMARY KEY,
    -- One review per booking, deleted ones included (a tombstone).
    booking_id   UUID NOT NULL UNIQUE,
    tutor_id     UUID NOT NULL,
    student_id   UUID NOT NULL,
    rating       SMALLINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment      TEXT,
    status       TEXT NOT NULL,
    revision     BIGINT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    edited_at    TIMESTAMPTZ,
    moderated_at TIMESTAMPTZ
);
-- `Tutor.reviews`: a tutor's published reviews, newest first (ids are time-ordered).
CREATE INDEX reviews_by_tutor ON reviews (tutor_id, id DESC) WHERE status = 'PUBLISHED';

CREATE TABLE review_flags (
    review_id  UUID NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL,
    reason     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (review_id, user_id)
);
