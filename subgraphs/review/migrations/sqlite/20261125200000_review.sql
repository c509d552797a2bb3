-- The review context: reviews, their flags, and the bookings booking's events told us are completed.

CREATE TABLE completed_bookings (
    booking_id   BLOB PRIMARY KEY,
    tutor_id     BLOB NOT NULL,
    student_id   BLOB NOT NULL,
    completed_at TEXT NOT NULL
);

CREATE TABLE reviews (
    id           BLOB PRIMARY KEY,
    -- One review per booking, deleted ones included (a tombstone).
    booking_id   BLOB NOT NULL UNIQUE,
    tutor_id     BLOB NOT NULL,
    student_id   BLOB NOT NULL,
    rating       INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment      TEXT,
    status       TEXT NOT NULL,
    revision     INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    edited_at    TEXT,
    moderated_at TEXT
);
-- `Tutor.reviews`: a tutor's published reviews, newest first (ids are time-ordered).
CREATE INDEX reviews_by_tutor ON reviews (tutor_id, id DESC) WHERE status = 'PUBLISHED';

CREATE TABLE review_flags (
    review_id  BLOB NOT NULL REFERENCES reviews (id) ON DELETE CASCADE,
    user_id    BLOB NOT NULL,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (review_id, user_id)
);
