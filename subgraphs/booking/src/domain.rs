//! The booking aggregate and its policies, pure: the status machine, the tutor's calendar as
//! booking knows it (from tutoring's events), pricing, the refund policy and the conflict check.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
pub use kernel::events::booking::CancelledBy;
pub use kernel::{BookingId, Currency, Money, Role, TutorId, UserId};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("a session lasts 15 to 240 minutes, in steps of 15")]
    InvalidDuration,
    #[error("a session starts on a whole minute")]
    UnalignedStart,
    #[error("a session can only be booked in the future")]
    InThePast,
    #[error("`{field}` must be 1 to {max} characters")]
    InvalidText { field: &'static str, max: usize },
    #[error("the slot is outside the tutor's availability")]
    OutsideAvailability,
    #[error("the tutor is on time off then")]
    TimeOff,
    #[error("the tutor has no pricing option {0}")]
    UnknownPricingOption(Uuid),
    #[error("you cannot book yourself")]
    OwnBooking,
    #[error("the tutor already has a booking at that time")]
    TutorBusy,
    #[error("you already have a booking at that time")]
    StudentBusy,
    #[error("only the booking's {0} can do that")]
    NotParticipant(&'static str),
    #[error("a {from} booking cannot be {action}")]
    Transition { from: Status, action: &'static str },
    #[error("the session has not ended yet")]
    NotEnded,
    #[error("amount overflow")]
    Overflow,
}

/// `PENDING → CONFIRMED → COMPLETED`, `PENDING → CANCELLED`, `CONFIRMED → CANCELLED → REFUNDED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Confirmed,
    Completed,
    Cancelled,
    Refunded,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Confirmed => "CONFIRMED",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
            Self::Refunded => "REFUNDED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Confirmed, Self::Completed, Self::Cancelled, Self::Refunded]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// Whether the booking holds its slot (for the tutor and the student).
    pub fn holds_slot(self) -> bool {
        matches!(self, Self::Pending | Self::Confirmed)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub fn cancelled_by_str(by: CancelledBy) -> &'static str {
    match by {
        CancelledBy::Student => "STUDENT",
        CancelledBy::Tutor => "TUTOR",
        CancelledBy::System => "SYSTEM",
    }
}

pub fn parse_cancelled_by(raw: &str) -> Option<CancelledBy> {
    [CancelledBy::Student, CancelledBy::Tutor, CancelledBy::System].into_iter().find(|b| cancelled_by_str(*b) == raw)
}

/// What was true of the parties when the booking was made (names and emails from identity's
/// events, the price tutoring published): kept even if they change later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub tutor_name: Option<String>,
    pub tutor_email: Option<String>,
    pub student_name: Option<String>,
    pub student_email: Option<String>,
    pub original_price: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    pub by: CancelledBy,
    pub reason: String,
    pub at: DateTime<Utc>,
    /// What the refund policy grants (zero when nothing was paid).
    pub refund: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub id: BookingId,
    pub student_id: UserId,
    pub tutor_id: TutorId,
    pub tutor_user_id: UserId,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub subject: String,
    pub pricing_option_id: Uuid,
    pub price: Money,
    pub status: Status,
    /// Payment reported the charge succeeded.
    pub paid: bool,
    /// The tutor accepted (at once for instant-booking tutors).
    pub accepted: bool,
    pub meeting_url: Option<String>,
    /// An unpaid pending booking is cancelled at this instant.
    pub payment_due_at: DateTime<Utc>,
    pub cancellation: Option<Cancellation>,
    /// What payment reports refunded so far.
    pub refunded_minor: i64,
    pub snapshot: Snapshot,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Optimistic-concurrency version, +1 per change.
    pub version: i64,
}

/// A student's request, validated by [`Booking::request`].
#[derive(Debug, Clone)]
pub struct Request {
    pub student_id: UserId,
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: i64,
    pub subject: String,
    pub pricing_option_id: Uuid,
}

/// What changed, for the caller to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Nothing,
    Updated,
    Confirmed,
    Cancelled,
    Completed,
    Refunded,
}

impl Booking {
    /// A new pending booking of `tutor`'s slot; the calendar and price come from tutoring's
    /// events. The caller still has to make sure the slot is free ([`BookingConflictChecker`]
    /// and the database).
    pub fn request(
        request: Request,
        tutor: &TutorCalendar,
        snapshot: impl FnOnce(Money) -> Snapshot,
        payment_timeout: Duration,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        if !(15..=240).contains(&request.duration_minutes) || request.duration_minutes % 15 != 0 {
            return Err(DomainError::InvalidDuration);
        }
        if request.starts_at.timestamp_subsec_nanos() != 0 || request.starts_at.timestamp() % 60 != 0 {
            return Err(DomainError::UnalignedStart);
        }
        if request.starts_at <= now {
            return Err(DomainError::InThePast);
        }
        if request.student_id == tutor.user_id {
            return Err(DomainError::OwnBooking);
        }
        let subject = text("subject", &request.subject, 100)?;
        let ends_at = request.starts_at + Duration::minutes(request.duration_minutes);
        tutor.admits(request.starts_at, ends_at)?;
        let price = tutor.price(request.pricing_option_id, request.duration_minutes)?;
        Ok(Self {
            id: BookingId::new(),
            student_id: request.student_id,
            tutor_id: tutor.tutor_id,
            tutor_user_id: tutor.user_id,
            starts_at: request.starts_at,
            ends_at,
            subject,
            pricing_option_id: request.pricing_option_id,
            price,
            status: Status::Pending,
            paid: false,
            accepted: tutor.instant_booking,
            meeting_url: None,
            // Never later than the session itself.
            payment_due_at: (now + payment_timeout).min(request.starts_at),
            cancellation: None,
            refunded_minor: 0,
            snapshot: snapshot(price),
            created_at: now,
            updated_at: now,
            confirmed_at: None,
            completed_at: None,
            version: 1,
        })
    }

    pub fn duration_minutes(&self) -> i64 {
        (self.ends_at - self.starts_at).num_minutes()
    }

    /// Participants and admins see a booking; nobody else.
    pub fn visible_to(&self, user: UserId, role: Role) -> bool {
        role == Role::Admin || user == self.student_id || user == self.tutor_user_id
    }

    fn touch(&mut self, now: DateTime<Utc>) {
        self.updated_at = now;
        self.version += 1;
    }

    fn confirm_if_ready(&mut self, meeting_base: &str, now: DateTime<Utc>) -> Change {
        if self.status == Status::Pending && self.paid && self.accepted {
            self.status = Status::Confirmed;
            self.meeting_url = Some(format!("{}/{}", meeting_base.trim_end_matches('/'), self.id));
            self.confirmed_at = Some(now);
            Change::Confirmed
        } else {
            Change::Updated
        }
    }

    /// Payment succeeded. A booking cancelled meanwhile stays cancelled (payment refunds a
    /// charge that arrives after the cancellation).
    pub fn payment_succeeded(&mut self, meeting_base: &str, now: DateTime<Utc>) -> Change {
        if self.status != Status::Pending || self.paid {
            return Change::Nothing;
        }
        self.paid = true;
        self.touch(now);
        self.confirm_if_ready(meeting_base, now)
    }

    /// Payment failed: the booking is cancelled, nothing to refund.
    pub fn payment_failed(&mut self, reason: &str, now: DateTime<Utc>) -> Change {
        if self.status != Status::Pending || self.paid {
            return Change::Nothing;
        }
        self.cancel_with(CancelledBy::System, format!("payment failed: {reason}"), now)
    }

    /// The tutor accepts a pending booking; it is confirmed once paid.
    pub fn accept(&mut self, by: UserId, meeting_base: &str, now: DateTime<Utc>) -> Result<Change, DomainError> {
        self.require_tutor(by)?;
        if self.status != Status::Pending {
            return Err(DomainError::Transition { from: self.status, action: "confirmed" });
        }
        if self.accepted {
            return Ok(Change::Nothing);
        }
        self.accepted = true;
        self.touch(now);
        Ok(self.confirm_if_ready(meeting_base, now))
    }

    /// The tutor declines a pending booking: cancelled, a payment already made is refunded in full.
    pub fn decline(&mut self, by: UserId, reason: &str, now: DateTime<Utc>) -> Result<Change, DomainError> {
        self.require_tutor(by)?;
        if self.status != Status::Pending {
            return Err(DomainError::Transition { from: self.status, action: "declined" });
        }
        let reason = text("reason", reason, 500)?;
        Ok(self.cancel_with(CancelledBy::Tutor, reason, now))
    }

    /// Either party calls the booking off; the refund policy prices it.
    pub fn cancel(&mut self, by: UserId, reason: &str, now: DateTime<Utc>) -> Result<Change, DomainError> {
        let party = if by == self.student_id {
            CancelledBy::Student
        } else if by == self.tutor_user_id {
            CancelledBy::Tutor
        } else {
            return Err(DomainError::NotParticipant("student or tutor"));
        };
        if !self.status.holds_slot() {
            return Err(DomainError::Transition { from: self.status, action: "cancelled" });
        }
        let reason = text("reason", reason, 500)?;
        Ok(self.cancel_with(party, reason, now))
    }

    fn cancel_with(&mut self, by: CancelledBy, reason: String, now: DateTime<Utc>) -> Change {
        let refund = RefundCalculator::refund(self.price, self.paid, by, self.starts_at, now);
        self.status = Status::Cancelled;
        self.cancellation = Some(Cancellation { by, reason, at: now, refund });
        self.touch(now);
        Change::Cancelled
    }

    /// The tutor marks the session done once it has ended.
    pub fn complete(&mut self, by: UserId, now: DateTime<Utc>) -> Result<Change, DomainError> {
        self.require_tutor(by)?;
        if self.status != Status::Confirmed {
            return Err(DomainError::Transition { from: self.status, action: "completed" });
        }
        if now < self.ends_at {
            return Err(DomainError::NotEnded);
        }
        Ok(self.mark_completed(now))
    }

    fn mark_completed(&mut self, now: DateTime<Utc>) -> Change {
        self.status = Status::Completed;
        self.completed_at = Some(now);
        self.touch(now);
        Change::Completed
    }

    /// Payment refunded `total_minor` so far: a cancelled booking with a refund due is refunded.
    pub fn refunded(&mut self, total_minor: i64, now: DateTime<Utc>) -> Change {
        if total_minor <= self.refunded_minor {
            return Change::Nothing;
        }
        self.refunded_minor = total_minor;
        self.touch(now);
        if self.status == Status::Cancelled {
            self.status = Status::Refunded;
            return Change::Refunded;
        }
        Change::Updated
    }

    /// What time alone decides: an unpaid booking past its payment deadline is cancelled, a paid
    /// one the tutor never accepted is cancelled (refunded in full) when the session starts, a
    /// confirmed one is completed `auto_complete_after` its end.
    pub fn on_time_passed(&mut self, auto_complete_after: Duration, now: DateTime<Utc>) -> Change {
        match self.status {
            Status::Pending if !self.paid && now >= self.payment_due_at => {
                self.cancel_with(CancelledBy::System, "payment not received in time".into(), now)
            }
            Status::Pending if self.paid && !self.accepted && now >= self.starts_at => {
                self.cancel_with(CancelledBy::System, "the tutor did not confirm in time".into(), now)
            }
            Status::Confirmed if now >= self.ends_at + auto_complete_after => self.mark_completed(now),
            _ => Change::Nothing,
        }
    }

    fn require_tutor(&self, by: UserId) -> Result<(), DomainError> {
        if by == self.tutor_user_id { Ok(()) } else { Err(DomainError::NotParticipant("tutor")) }
    }
}

/// Trimmed text of 1..=max characters.
pub fn text(field: &'static str, raw: &str, max: usize) -> Result<String, DomainError> {
    let value = raw.trim();
    let n = value.chars().count();
    if n == 0 || n > max { Err(DomainError::InvalidText { field, max }) } else { Ok(value.to_owned()) }
}

/// The cancellation refund policy: the tutor (or the system) calling a booking off refunds all
/// that was paid; a student gets everything back 24 h or more before the start, half between
/// 2 h and 24 h, nothing under 2 h. Nothing paid, nothing refunded. Half rounds down to the
/// minor unit.
#[derive(Debug, Clone, Copy)]
pub struct RefundCalculator;

impl RefundCalculator {
    pub fn refund(price: Money, paid: bool, by: CancelledBy, starts_at: DateTime<Utc>, now: DateTime<Utc>) -> Money {
        let amount = if !paid {
            0
        } else {
            match by {
                CancelledBy::Tutor | CancelledBy::System => price.amount_minor,
                CancelledBy::Student => {
                    let notice = starts_at - now;
                    if notice >= Duration::hours(24) {
                        price.amount_minor
                    } else if notice >= Duration::hours(2) {
                        price.amount_minor / 2
                    } else {
                        0
                    }
                }
            }
        };
        Money::new(amount, price.currency)
    }
}

/// Two bookings conflict when they share the tutor or the student and their sessions overlap
/// while both hold their slot. The database enforces the same rule (an exclusion constraint on
/// PostgreSQL; SQLite checks inside a serialised write transaction); this gives the clear error.
#[derive(Debug, Clone, Copy)]
pub struct BookingConflictChecker;

/// An existing booking as the checker needs it.
#[derive(Debug, Clone, Copy)]
pub struct Held {
    pub tutor_id: TutorId,
    pub student_id: UserId,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl BookingConflictChecker {
    pub fn check(new: &Booking, existing: &[Held]) -> Result<(), DomainError> {
        let overlapping = |h: &&Held| h.starts_at < new.ends_at && new.starts_at < h.ends_at;
        let mut overlaps = existing.iter().filter(overlapping);
        match overlaps.clone().find(|h| h.tutor_id == new.tutor_id) {
            Some(_) => Err(DomainError::TutorBusy),
            None if overlaps.any(|h| h.student_id == new.student_id) => Err(DomainError::StudentBusy),
            None => Ok(()),
        }
    }
}

/// A recurring weekly window in the tutor's zone: ISO weekday and minutes since local midnight,
/// `[start, end)`, `end` up to 1440.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub weekday: u32,
    pub start_minute: u32,
    pub end_minute: u32,
}

impl Window {
    /// From tutoring's published `HH:MM` strings.
    pub fn parse(weekday: u8, start: &str, end: &str) -> Option<Self> {
        let minutes = |raw: &str| {
            let (h, m) = raw.split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        };
        let window = Self { weekday: u32::from(weekday), start_minute: minutes(start)?, end_minute: minutes(end)? };
        ((1..=7).contains(&window.weekday) && window.start_minute < window.end_minute).then_some(window)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceOption {
    pub id: Uuid,
    /// One-hour sessions the amount buys: 1 for hourly options.
    pub sessions: i64,
    pub amount_minor: i64,
}

/// What booking knows of a tutor from tutoring's events.
#[derive(Debug, Clone)]
pub struct TutorCalendar {
    pub tutor_id: TutorId,
    pub user_id: UserId,
    pub instant_booking: bool,
    pub time_zone: Tz,
    pub weekly: Vec<Window>,
    pub time_off: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    pub currency: Option<Currency>,
    pub options: Vec<PriceOption>,
}

impl TutorCalendar {
    /// Whether `[starts_at, ends_at)` lies inside the tutor's weekly windows (in the tutor's
    /// zone, daylight saving included; windows that touch, such as Monday until 24:00 and
    /// Tuesday from 00:00, count as one) and outside every time off.
    pub fn admits(&self, starts_at: DateTime<Utc>, ends_at: DateTime<Utc>) -> Result<(), DomainError> {
        let local_day = starts_at.with_timezone(&self.time_zone).date_naive();
        let mut open: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        // A session lasts at most 4 hours: the windows of the days around its start decide.
        for day in [local_day.pred_opt(), Some(local_day), local_day.succ_opt()].into_iter().flatten() {
            for w in self.weekly.iter().filter(|w| w.weekday == day.weekday().number_from_monday()) {
                let from = local_instant(self.time_zone, day, w.start_minute);
                let to = local_instant(self.time_zone, day, w.end_minute);
                if let (Some(from), Some(to)) = (from, to)
                    && from < to
                {
                    open.push((from, to));
                }
            }
        }
        open.sort();
        let mut covered_until = starts_at;
        for (from, to) in open {
            if from <= covered_until && to > covered_until {
                covered_until = to;
            }
        }
        if covered_until < ends_at {
            return Err(DomainError::OutsideAvailability);
        }
        if self.time_off.iter().any(|(a, b)| *a < ends_at && starts_at < *b) {
            return Err(DomainError::TimeOff);
        }
        Ok(())
    }

    /// The price of `minutes` under a pricing option: the option's hourly rate (a package's
    /// amount spread over its sessions) times the duration, rounded half up to the minor unit.
    pub fn price(&self, option: Uuid, minutes: i64) -> Result<Money, DomainError> {
        let found = self.options.iter().find(|o| o.id == option);
        let (Some(found), Some(currency)) = (found, self.currency) else {
            return Err(DomainError::UnknownPricingOption(option));
        };
        let divisor = 60 * found.sessions.max(1);
        let amount = found
            .amount_minor
            .checked_mul(minutes)
            .and_then(|n| n.checked_add(divisor / 2))
            .map(|n| n / divisor)
            .ok_or(DomainError::Overflow)?;
        Ok(Money::new(amount, currency))
    }
}

/// `minute` minutes after local midnight of `day` in `tz` (1440 = the next midnight). A time
/// the clocks skip resolves to the first instant after the gap; a repeated one to the first.
fn local_instant(tz: Tz, day: NaiveDate, minute: u32) -> Option<DateTime<Utc>> {
    let (day, minute) = if minute >= 1440 { (day.succ_opt()?, minute - 1440) } else { (day, minute) };
    let naive = day.and_hms_opt(minute / 60, minute % 60, 0)?;
    let resolve = |naive| match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => None,
    };
    resolve(naive).or_else(|| {
        // Inside a gap: the first valid local time after it (gaps are at most a few hours).
        (1..=4 * 60).find_map(|m| resolve(naive + Duration::minutes(m)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(n: i64) -> Money {
        Money::new(n, Currency::parse("EUR").expect("currency"))
    }

    fn at(raw: &str) -> DateTime<Utc> {
        raw.parse().expect("instant")
    }

    fn calendar(tz: Tz) -> TutorCalendar {
        TutorCalendar {
            tutor_id: TutorId::new(),
            user_id: UserId::new(),
            instant_booking: false,
            time_zone: tz,
            // Mondays 09:00–12:00 and Sundays 01:00–04:00 local.
            weekly: vec![
                Window::parse(1, "09:00", "12:00").expect("window"),
                Window::parse(7, "01:00", "04:00").expect("window"),
                Window::parse(5, "22:00", "24:00").expect("window"),
            ],
            time_off: vec![(at("2027-01-11T08:00:00Z"), at("2027-01-11T20:00:00Z"))],
            currency: Currency::parse("EUR").ok(),
            options: vec![
                PriceOption { id: Uuid::from_u128(1), sessions: 1, amount_minor: 4000 },
                PriceOption { id: Uuid::from_u128(2), sessions: 10, amount_minor: 35_001 },
            ],
        }
    }

    fn request(cal: &TutorCalendar, starts_at: &str, minutes: i64) -> Result<Booking, DomainError> {
        let request = Request {
            student_id: UserId::new(),
            starts_at: at(starts_at),
            duration_minutes: minutes,
            subject: " maths ".into(),
            pricing_option_id: Uuid::from_u128(1),
        };
        let snapshot = |price| Snapshot {
            tutor_name: None,
            tutor_email: None,
            student_name: None,
            student_email: None,
            original_price: price,
        };
        Booking::request(request, cal, snapshot, Duration::minutes(30), at("2027-01-01T00:00:00Z"))
    }

    #[test]
    fn a_slot_must_lie_in_a_local_window_and_outside_time_off() {
        let paris = calendar(chrono_tz::Europe::Paris);
        // Monday 2027-01-04 09:00 Paris = 08:00 UTC.
        assert!(request(&paris, "2027-01-04T08:00:00Z", 60).is_ok());
        assert_eq!(request(&paris, "2027-01-04T07:30:00Z", 60).err(), Some(DomainError::OutsideAvailability));
        assert_eq!(request(&paris, "2027-01-04T10:30:00Z", 60).err(), Some(DomainError::OutsideAvailability));
        assert!(request(&paris, "2027-01-04T10:00:00Z", 60).is_ok());
        // The next Monday is time off.
        assert_eq!(request(&paris, "2027-01-11T08:00:00Z", 60).err(), Some(DomainError::TimeOff));
        // Friday 22:00–24:00 local runs to midnight; Saturday has no window.
        assert!(request(&paris, "2027-01-08T22:00:00Z", 60).is_ok());
        assert_eq!(request(&paris, "2027-01-08T22:30:00Z", 60).err(), Some(DomainError::OutsideAvailability));
        // Windows that touch across midnight hold one session (Sunday 00:00–01:00 is not open,
        // so add Saturday until midnight and Sunday from midnight).
        let mut weekend = calendar(chrono_tz::UTC);
        weekend.weekly = vec![
            Window::parse(6, "20:00", "24:00").expect("window"),
            Window::parse(7, "00:00", "02:00").expect("window"),
        ];
        assert!(request(&weekend, "2027-01-09T23:30:00Z", 60).is_ok());
        assert!(request(&weekend, "2027-01-09T23:00:00Z", 180).is_ok());
        assert_eq!(request(&weekend, "2027-01-10T01:30:00Z", 60).err(), Some(DomainError::OutsideAvailability));
    }

    #[test]
    fn windows_follow_daylight_saving_time() {
        let paris = calendar(chrono_tz::Europe::Paris);
        // Summer: Monday 2027-06-07 09:00 Paris = 07:00 UTC.
        assert!(request(&paris, "2027-06-07T07:00:00Z", 60).is_ok());
        assert_eq!(request(&paris, "2027-06-07T10:00:00Z", 60).err(), Some(DomainError::OutsideAvailability));
        // 2027-03-28 (Sunday) skips 02:00–03:00 in Paris: the 01:00–04:00 window is two hours long.
        assert!(request(&paris, "2027-03-28T00:00:00Z", 120).is_ok());
        assert_eq!(request(&paris, "2027-03-28T00:00:00Z", 180).err(), Some(DomainError::OutsideAvailability));
    }

    #[test]
    fn requests_are_validated() {
        let cal = calendar(chrono_tz::UTC);
        assert_eq!(request(&cal, "2027-01-04T09:00:00Z", 50).err(), Some(DomainError::InvalidDuration));
        assert_eq!(request(&cal, "2027-01-04T09:00:00Z", 300).err(), Some(DomainError::InvalidDuration));
        assert_eq!(request(&cal, "2027-01-04T09:00:30Z", 60).err(), Some(DomainError::UnalignedStart));
        assert_eq!(request(&cal, "2026-12-28T09:00:00Z", 60).err(), Some(DomainError::InThePast));
        let booking = request(&cal, "2027-01-04T09:00:00Z", 90).expect("valid");
        assert_eq!(booking.subject, "maths");
        assert_eq!(booking.price, eur(6000));
        assert_eq!(booking.payment_due_at, at("2027-01-01T00:30:00Z"));
        assert_eq!(booking.status, Status::Pending);
    }

    #[test]
    fn prices_round_half_up_and_packages_spread_over_their_sessions() {
        let cal = calendar(chrono_tz::UTC);
        assert_eq!(cal.price(Uuid::from_u128(1), 45), Ok(eur(3000)));
        // 35 001 / 10 sessions = 3 500.1 per hour → 3 500; 45 min → 2 625.075 → 2 625.
        assert_eq!(cal.price(Uuid::from_u128(2), 60), Ok(eur(3500)));
        assert_eq!(cal.price(Uuid::from_u128(2), 45), Ok(eur(2625)));
        assert_eq!(cal.price(Uuid::from_u128(9), 60), Err(DomainError::UnknownPricingOption(Uuid::from_u128(9))));
    }

    #[test]
    fn the_refund_policy() {
        let start = at("2027-01-10T12:00:00Z");
        let price = eur(5001);
        let refund = |by, now: &str, paid| RefundCalculator::refund(price, paid, by, start, at(now)).amount_minor;
        assert_eq!(refund(CancelledBy::Tutor, "2027-01-10T11:59:00Z", true), 5001);
        assert_eq!(refund(CancelledBy::System, "2027-01-10T11:59:00Z", true), 5001);
        assert_eq!(refund(CancelledBy::Student, "2027-01-09T12:00:00Z", true), 5001);
        assert_eq!(refund(CancelledBy::Student, "2027-01-09T12:00:01Z", true), 2500);
        assert_eq!(refund(CancelledBy::Student, "2027-01-10T10:00:00Z", true), 2500);
        assert_eq!(refund(CancelledBy::Student, "2027-01-10T10:00:01Z", true), 0);
        assert_eq!(refund(CancelledBy::Tutor, "2027-01-01T00:00:00Z", false), 0);
    }

    #[test]
    fn the_status_machine() {
        let cal = calendar(chrono_tz::UTC);
        let mut b = request(&cal, "2027-01-04T09:00:00Z", 60).expect("valid");
        let tutor = b.tutor_user_id;
        let now = at("2027-01-01T00:10:00Z");
        // Not instant: paid, then accepted → confirmed with a meeting URL.
        assert_eq!(b.payment_succeeded("https://meet.example/", now), Change::Updated);
        assert_eq!(b.payment_succeeded("https://meet.example/", now), Change::Nothing);
        assert_eq!(
            b.accept(b.student_id, "https://meet.example", now).err(),
            Some(DomainError::NotParticipant("tutor"))
        );
        assert_eq!(b.accept(tutor, "https://meet.example", now), Ok(Change::Confirmed));
        assert_eq!(b.meeting_url.as_deref(), Some(format!("https://meet.example/{}", b.id).as_str()));
        assert_eq!(b.complete(tutor, now).err(), Some(DomainError::NotEnded));
        assert!(matches!(b.decline(tutor, "busy", now), Err(DomainError::Transition { .. })));
        // Completed after the end; then nothing else.
        assert_eq!(b.complete(tutor, at("2027-01-04T10:00:00Z")), Ok(Change::Completed));
        assert!(matches!(b.cancel(tutor, "late", at("2027-01-04T10:00:00Z")), Err(DomainError::Transition { .. })));

        // Confirmed → cancelled by the student 3 h before → half → refunded.
        let mut b = request(&cal, "2027-01-04T09:00:00Z", 60).expect("valid");
        b.accepted = true;
        b.payment_succeeded("https://m", now);
        assert_eq!(b.status, Status::Confirmed);
        assert_eq!(b.cancel(b.student_id, "sick", at("2027-01-04T06:00:00Z")), Ok(Change::Cancelled));
        assert_eq!(b.cancellation.as_ref().map(|c| c.refund.amount_minor), Some(2000));
        assert_eq!(b.refunded(2000, now), Change::Refunded);
        assert_eq!(b.refunded(2000, now), Change::Nothing);
        assert_eq!(b.payment_succeeded("https://m", now), Change::Nothing);

        // Unpaid: a failed payment cancels without refund; a late success changes nothing.
        let mut b = request(&cal, "2027-01-04T09:00:00Z", 60).expect("valid");
        assert_eq!(b.payment_failed("card_declined", now), Change::Cancelled);
        assert_eq!(b.cancellation.as_ref().map(|c| (c.by, c.refund.amount_minor)), Some((CancelledBy::System, 0)));
        assert_eq!(b.payment_succeeded("https://m", now), Change::Nothing);
        assert_eq!(b.status, Status::Cancelled);
    }

    #[test]
    fn time_cancels_unpaid_and_unanswered_bookings_and_completes_sessions() {
        let cal = calendar(chrono_tz::UTC);
        let day = Duration::hours(24);
        let mut unpaid = request(&cal, "2027-01-04T09:00:00Z", 60).expect("valid");
        assert_eq!(unpaid.on_time_passed(day, at("2027-01-01T00:29:00Z")), Change::Nothing);
        assert_eq!(unpaid.on_time_passed(day, at("2027-01-01T00:30:00Z")), Change::Cancelled);

        let mut unanswered = request(&cal, "2027-01-04T09:00:00Z", 60).expect("valid");
        unanswered.payment_succeeded("https://m", at("2027-01-01T00:01:00Z"));
        assert_eq!(unanswered.on_time_passed(day, at("2027-01-02T00:00:00Z")), Change::Nothing);
        assert_eq!(unanswered.on_time_passed(day, at("2027-01-04T09:00:00Z")), Change::Cancelled);
        assert_eq!(unanswered.cancellation.map(|c| c.refund.amount_minor), Some(4000));

        let mut confirmed = request(&cal, "2027-01-04T09:00:00Z", 60).expect("valid");
        confirmed.accepted = true;
        confirmed.payment_succeeded("https://m", at("2027-01-01T00:01:00Z"));
        assert_eq!(confirmed.on_time_passed(day, at("2027-01-05T09:59:00Z")), Change::Nothing);
        assert_eq!(confirmed.on_time_passed(day, at("2027-01-05T10:00:00Z")), Change::Completed);
    }

    #[test]
    fn conflicts_with_the_tutor_or_the_student() {
        let cal = calendar(chrono_tz::UTC);
        let b = request(&cal, "2027-01-04T09:00:00Z", 60).expect("valid");
        let held = |tutor, student, s: &str, e: &str| Held {
            tutor_id: tutor,
            student_id: student,
            starts_at: at(s),
            ends_at: at(e),
        };
        let other_t = TutorId::new();
        let other_s = UserId::new();
        let adjacent = held(b.tutor_id, b.student_id, "2027-01-04T10:00:00Z", "2027-01-04T11:00:00Z");
        assert_eq!(BookingConflictChecker::check(&b, &[adjacent]), Ok(()));
        let tutor_busy = held(b.tutor_id, other_s, "2027-01-04T09:30:00Z", "2027-01-04T10:30:00Z");
        assert_eq!(BookingConflictChecker::check(&b, &[tutor_busy]), Err(DomainError::TutorBusy));
        let student_busy = held(other_t, b.student_id, "2027-01-04T08:30:00Z", "2027-01-04T09:15:00Z");
        assert_eq!(BookingConflictChecker::check(&b, &[student_busy]), Err(DomainError::StudentBusy));
    }
}
