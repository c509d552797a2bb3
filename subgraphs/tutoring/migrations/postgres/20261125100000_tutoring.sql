-- The tutoring context: tutor profiles and their parts, and projections of other contexts' events.

-- Trigram indexes make `text` search (ILIKE '%…%') indexed.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Users as identity's events describe them (roles decide who may create a profile).
CREATE TABLE known_users (
    user_id    UUID PRIMARY KEY,
    role       TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name  TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE tutor_profiles (
    id                    UUID PRIMARY KEY,
    user_id               UUID NOT NULL UNIQUE,
    bio                   TEXT NOT NULL,
    time_zone             TEXT NOT NULL,
    instant_booking       BOOLEAN NOT NULL,
    verified              BOOLEAN NOT NULL DEFAULT FALSE,
    currency              TEXT,
    lowest_hourly_minor   BIGINT,
    rating_count          BIGINT NOT NULL DEFAULT 0,
    rating_sum            BIGINT NOT NULL DEFAULT 0,
    -- The average in hundredths (0 without reviews): the RATING sort key.
    rating_rank           BIGINT NOT NULL DEFAULT 0,
    has_availability      BOOLEAN NOT NULL DEFAULT FALSE,
    -- Lower-case bio, subjects and the tutor's name: what `text` searches.
    search_text           TEXT NOT NULL,
    availability_revision BIGINT NOT NULL DEFAULT 0,
    pricing_revision      BIGINT NOT NULL DEFAULT 0,
    version               BIGINT NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX tutor_profiles_by_rating ON tutor_profiles (rating_rank DESC, id DESC);
CREATE INDEX tutor_profiles_by_price ON tutor_profiles (lowest_hourly_minor, id) WHERE lowest_hourly_minor IS NOT NULL;
CREATE INDEX tutor_profiles_verified ON tutor_profiles (verified, id DESC);
CREATE INDEX tutor_profiles_verified_by_rating ON tutor_profiles (verified, rating_rank DESC, id DESC);
CREATE INDEX tutor_profiles_text ON tutor_profiles USING gin (search_text gin_trgm_ops);

CREATE TABLE tutor_subjects (
    tutor_id UUID NOT NULL REFERENCES tutor_profiles (id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    level    TEXT NOT NULL,
    position INT NOT NULL,
    PRIMARY KEY (tutor_id, name)
);
CREATE INDEX tutor_subjects_by_name ON tutor_subjects (name, tutor_id);

CREATE TABLE tutor_availability (
    tutor_id     UUID NOT NULL REFERENCES tutor_profiles (id) ON DELETE CASCADE,
    weekday      SMALLINT NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_minute SMALLINT NOT NULL,
    end_minute   SMALLINT NOT NULL,
    CHECK (start_minute >= 0 AND end_minute <= 1440 AND start_minute < end_minute),
    PRIMARY KEY (tutor_id, weekday, start_minute)
);

CREATE TABLE tutor_time_off (
    tutor_id  UUID NOT NULL REFERENCES tutor_profiles (id) ON DELETE CASCADE,
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at   TIMESTAMPTZ NOT NULL,
    CHECK (starts_at < ends_at),
    PRIMARY KEY (tutor_id, starts_at)
);

CREATE TABLE tutor_pricing_options (
    id           UUID PRIMARY KEY,
    tutor_id     UUID NOT NULL REFERENCES tutor_profiles (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    sessions     INT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    position     INT NOT NULL
);
CREATE INDEX tutor_pricing_options_by_tutor ON tutor_pricing_options (tutor_id);

CREATE TABLE certifications (
    id       UUID PRIMARY KEY,
    tutor_id UUID NOT NULL REFERENCES tutor_profiles (id) ON DELETE CASCADE,
    name     TEXT NOT NULL,
    issuer   TEXT NOT NULL,
    year     INT NOT NULL,
    verified BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX certifications_by_tutor ON certifications (tutor_id);

CREATE TABLE education (
    id          UUID PRIMARY KEY,
    tutor_id    UUID NOT NULL REFERENCES tutor_profiles (id) ON DELETE CASCADE,
    institution TEXT NOT NULL,
    degree      TEXT NOT NULL,
    field       TEXT NOT NULL,
    start_year  INT NOT NULL,
    end_year    INT
);
CREATE INDEX education_by_tutor ON education (tutor_id);

-- One row per review (from review's events): the latest revision decides whether it counts.
CREATE TABLE tutor_ratings (
    review_id UUID PRIMARY KEY,
    tutor_id  UUID NOT NULL,
    rating    SMALLINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    counted   BOOLEAN NOT NULL,
    revision  BIGINT NOT NULL
);
CREATE INDEX tutor_ratings_by_tutor ON tutor_ratings (tutor_id);

-- Slots held by bookings (from booking's events); a cancelled booking stays as a tombstone.
CREATE TABLE booked_slots (
    booking_id UUID PRIMARY KEY,
    tutor_id   UUID NOT NULL,
    starts_at  TIMESTAMPTZ NOT NULL,
    ends_at    TIMESTAMPTZ NOT NULL,
    active     BOOLEAN NOT NULL
);
CREATE INDEX booked_slots_by_tutor ON booked_slots (tutor_id, starts_at) WHERE active;
