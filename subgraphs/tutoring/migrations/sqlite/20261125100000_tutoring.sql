-- The tutoring context: tutor profiles and their parts, and projections of other contexts' events.

-- Users as identity's events describe them (roles decide who may create a profile).
CREATE TABLE known_users (
    user_id    BLOB PRIMARY KEY,
    role       TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name  TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);

CREATE TABLE tutor_profiles (
    id                    BLOB PRIMARY KEY,
    user_id               BLOB NOT NULL UNIQUE,
    bio                   TEXT NOT NULL,
    time_zone             TEXT NOT NULL,
    instant_booking       INTEGER NOT NULL,
    verified              INTEGER NOT NULL DEFAULT 0,
    currency              TEXT,
    lowest_hourly_minor   INTEGER,
    rating_count          INTEGER NOT NULL DEFAULT 0,
    rating_sum            INTEGER NOT NULL DEFAULT 0,
    -- The average in hundredths (0 without reviews): the RATING sort key.
    rating_rank           INTEGER NOT NULL DEFAULT 0,
    has_availability      INTEGER NOT NULL DEFAULT 0,
    -- Lower-case bio, subjects and the tutor's name: what `text` searches.
    search_text           TEXT NOT NULL,
    availability_revision INTEGER NOT NULL DEFAULT 0,
    pricing_revision      INTEGER NOT NULL DEFAULT 0,
    version               INTEGER NOT NULL,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
CREATE INDEX tutor_profiles_by_rating ON tutor_profiles (rating_rank DESC, id DESC);
CREATE INDEX tutor_profiles_by_price ON tutor_profiles (lowest_hourly_minor, id) WHERE lowest_hourly_minor IS NOT NULL;
CREATE INDEX tutor_profiles_verified ON tutor_profiles (verified, id DESC);
CREATE INDEX tutor_profiles_verified_by_rating ON tutor_profiles (verified, rating_rank DESC, id DESC);

CREATE TABLE tutor_subjects (
    tutor_id BLOB NOT NULL REFERENCES tutor_profiles (id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    level    TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (tutor_id, name)
);
CREATE INDEX tutor_subjects_by_name ON tutor_subjects (name, tutor_id);

CREATE TABLE tutor_availability (
    tutor_id     BLOB NOT NULL REFERENCES tutor_profiles (id) ON DELETE CASCADE,
    weekday      INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_minute INTEGER NOT NULL,
    end_minute   INTEGER NOT NULL,
    CHECK (start_minute >= 0 AND end_minute <= 1440 AND start_minute < end_minute),
    PRIMARY KEY (tutor_id, weekday, start_minute)
);

CREATE TABLE tutor_time_off (
    tutor_id  BLOB NOT NULL REFERENCES tutor_profiles (id) ON DELETE CASCADE,
    starts_at TEXT NOT NULL,
    ends_at   TEXT NOT NULL,
    CHECK (starts_at < ends_at),
    PRIMARY KEY (tutor_id, starts_at)
);

CREATE TABLE tutor_pricing_options (
    id           BLOB PRIMARY KEY,
    tutor_id     BLOB NOT NULL REFERENCES tutor_profiles (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    sessions     INTEGER NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    position     INTEGER NOT NULL
);
CREATE INDEX tutor_pricing_options_by_tutor ON tutor_pricing_options (tutor_id);

CREATE TABLE certifications (
    id       BLOB PRIMARY KEY,
    tutor_id BLOB NOT NULL REFERENCES tutor_profiles (id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    issuer   TEXT NOT NULL,
    year     INTEGER NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX certifications_by_tutor ON certifications (tutor_id);

CREATE TABLE education (
    id          BLOB PRIMARY KEY,
    tutor_id    BLOB NOT NULL REFERENCES tutor_profiles (id) ON DELETE CASCADE,
    institution TEXT NOT NULL,
    degree      TEXT NOT NULL,
    field       TEXT NOT NULL,
    start_year  INTEGER NOT NULL,
    end_year    INTEGER
);
CREATE INDEX education_by_tutor ON education (tutor_id);

-- One row per review (from review's events): the latest revision decides whether it counts.
CREATE TABLE tutor_ratings (
    review_id BLOB PRIMARY KEY,
    tutor_id  BLOB NOT NULL,
    rating    INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    counted   INTEGER NOT NULL,
    revision  INTEGER NOT NULL
);
CREATE INDEX tutor_ratings_by_tutor ON tutor_ratings (tutor_id);

-- Slots held by bookings (from booking's events); a cancelled booking stays as a tombstone.
CREATE TABLE booked_slots (
    booking_id BLOB PRIMARY KEY,
    tutor_id   BLOB NOT NULL,
    starts_at  TEXT NOT NULL,
    ends_at    TEXT NOT NULL,
    active     INTEGER NOT NULL
);
CREATE INDEX booked_slots_by_tutor ON booked_slots (tutor_id, starts_at) WHERE active;
