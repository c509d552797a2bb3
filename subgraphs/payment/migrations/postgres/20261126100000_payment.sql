-- The payment context: one payment per booking, its refunds, the append-only ledger, tutors'
-- payouts, and the provider's webhook events already applied.

CREATE TABLE payments (
    id                  UUID PRIMARY KEY,
    -- One payment per booking: a redelivered BookingRequested finds it there.
    booking_id          UUID NOT NULL UNIQUE,
    payer_id            UUID NOT NULL,
    tutor_id            UUID NOT NULL,
    tutor_user_id       UUID NOT NULL,
    amount_minor        BIGINT NOT NULL CHECK (amount_minor > 0),
    currency            TEXT NOT NULL,
    refunded_minor      BIGINT NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor),
    status              TEXT NOT NULL,
    failure_reason      TEXT,
    intent_id           TEXT NOT NULL UNIQUE,
    -- The saga's correlation id (from BookingRequested): events the webhooks cause continue it.
    correlation_id      UUID NOT NULL,
    -- The method of the charge attempt (NULL: no charge attempted yet).
    payment_method      TEXT,
    -- What booking told us: OPEN, CANCELLED (with what it granted) or COMPLETED.
    booking_state       TEXT NOT NULL,
    cancel_paid         BOOLEAN,
    cancel_refund_minor BIGINT,
    settled_at          TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
-- The tutor id ↔ user id mapping `Tutor.payouts` checks.
CREATE INDEX payments_by_tutor ON payments (tutor_id);

CREATE TABLE refunds (
    id                 UUID PRIMARY KEY,
    payment_id         UUID NOT NULL REFERENCES payments (id),
    booking_id         UUID NOT NULL,
    kind               TEXT NOT NULL,
    amount_minor       BIGINT NOT NULL CHECK (amount_minor > 0),
    currency           TEXT NOT NULL,
    status             TEXT NOT NULL,
    -- `refund-<booking id>` for the cancellation's refund (one per booking), `refund-<id>` otherwise.
    idempotency_key    TEXT NOT NULL UNIQUE,
    provider_refund_id TEXT UNIQUE,
    created_at         TIMESTAMPTZ NOT NULL,
    processed_at       TIMESTAMPTZ
);
CREATE INDEX refunds_by_payment ON refunds (payment_id);
-- The dispatcher's work: refunds the provider has not acknowledged yet.
CREATE INDEX refunds_undispatched ON refunds (id) WHERE provider_refund_id IS NULL;

CREATE TABLE tutor_payouts (
    id            UUID PRIMARY KEY,
    tutor_id      UUID NOT NULL,
    tutor_user_id UUID NOT NULL,
    amount_minor  BIGINT NOT NULL CHECK (amount_minor > 0),
    currency      TEXT NOT NULL,
    status        TEXT NOT NULL,
    period_start  TIMESTAMPTZ NOT NULL,
    period_end    TIMESTAMPTZ NOT NULL,
    transfer_id   TEXT UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    completed_at  TIMESTAMPTZ
);
-- `payouts` (a user's, newest first; ids are time-ordered) and `Tutor.payouts`.
CREATE INDEX tutor_payouts_by_user ON tutor_payouts (tutor_user_id, id DESC);
CREATE INDEX tutor_payouts_by_tutor ON tutor_payouts (tutor_id, id DESC);

-- Append-only. `reference` names what an entry accounts for, so nothing is counted twice.
CREATE TABLE ledger_entries (
    id            UUID PRIMARY KEY,
    reference     TEXT NOT NULL UNIQUE,
    booking_id    UUID NOT NULL,
    payment_id    UUID NOT NULL REFERENCES payments (id),
    tutor_id      UUID NOT NULL,
    tutor_user_id UUID NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('CHARGE', 'REFUND', 'TUTOR_EARNING', 'PLATFORM_FEE')),
    amount_minor  BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    -- Set once, when a payout takes the entry (no foreign key: the payout is inserted after it sums its entries)
    payout_id     UUID,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX ledger_unpaid_earnings ON ledger_entries (tutor_user_id, created_at)
    WHERE kind = 'TUTOR_EARNING' AND payout_id IS NULL;

-- Provider webhook events already applied (a replay finds its id here and changes nothing).
CREATE TABLE stripe_webhooks_log (
    event_id    TEXT PRIMARY KEY,
    event_type  TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);
