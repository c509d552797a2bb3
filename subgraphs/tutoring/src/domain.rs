//! The tutoring domain: tutor profiles (bio, subjects, certifications, education), the weekly
//! schedule and time off in the tutor's time zone, bookable slots, pricing and the rating
//! projection. Pure: no database, HTTP or GraphQL here.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
pub use kernel::{Currency, Money, ReviewId, Role, TutorId, UserId};
use uuid::Uuid;

/// A rule of the domain was broken; the message is fit for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("the bio must be at most {MAX_BIO_CHARS} characters")]
    BioTooLong,
    #[error("`{0}` is not a subject name (1–{MAX_SUBJECT_CHARS} letters, digits, spaces, `+#.-`)")]
    InvalidSubject(String),
    #[error("a tutor teaches between 1 and {MAX_SUBJECTS} subjects")]
    SubjectCount,
    #[error("the subject `{0}` is listed twice")]
    DuplicateSubject(String),
    #[error("`{0}` is not an IANA time zone such as `Europe/Paris`")]
    InvalidTimeZone(String),
    #[error("`{0}` is not a time of day HH:MM (00:00–24:00)")]
    InvalidTime(String),
    #[error("the weekly window {0} ends before it starts")]
    InvertedWindow(String),
    #[error("the weekly windows {0} and {1} overlap")]
    OverlappingWindows(String, String),
    #[error("at most {MAX_WINDOWS} weekly windows")]
    TooManyWindows,
    #[error("time off must end after it starts")]
    InvertedTimeOff,
    #[error("time off from {0} overlaps another period of time off")]
    OverlappingTimeOff(DateTime<Utc>),
    #[error("at most {MAX_TIME_OFF} periods of time off, each at most a year long")]
    TimeOffLimits,
    #[error("{0}")]
    InvalidPricing(&'static str),
    #[error("{field} must be between 1 and {max} characters")]
    InvalidText { field: &'static str, max: usize },
    #[error("{0}")]
    InvalidYear(&'static str),
    #[error("at most {0} entries of this kind")]
    TooManyEntries(usize),
    #[error("the range must end after it starts and span at most {MAX_SLOT_RANGE_DAYS} days")]
    InvalidRange,
    #[error("a session lasts 15 to 240 minutes, in steps of 15")]
    InvalidDuration,
}

pub const MAX_BIO_CHARS: usize = 2_000;
pub const MAX_SUBJECT_CHARS: usize = 60;
pub const MAX_SUBJECTS: usize = 20;
pub const MAX_WINDOWS: usize = 50;
pub const MAX_TIME_OFF: usize = 200;
pub const MAX_SLOT_RANGE_DAYS: i64 = 31;
pub const MAX_CERTIFICATIONS: usize = 30;
pub const MAX_EDUCATION: usize = 20;
/// One hundred thousand in major units: a typo guard, not a business limit.
pub const MAX_PRICE_MINOR: i64 = 10_000_000;

/// How far a tutor has taken a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Beginner,
    Intermediate,
    Advanced,
    Expert,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Beginner => "BEGINNER",
            Self::Intermediate => "INTERMEDIATE",
            Self::Advanced => "ADVANCED",
            Self::Expert => "EXPERT",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Beginner, Self::Intermediate, Self::Advanced, Self::Expert].into_iter().find(|l| l.as_str() == raw)
    }
}

/// A subject: its normalised name (trimmed, single spaces, lower case) and the level taught.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub name: String,
    pub level: Level,
}

impl Subject {
    pub fn new(raw: &str, level: Level) -> Result<Self, DomainError> {
        let name = normalize_subject(raw)?;
        Ok(Self { name, level })
    }
}

/// The form in which subjects are stored and searched.
pub fn normalize_subject(raw: &str) -> Result<String, DomainError> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_SUBJECT_CHARS
        && name.chars().all(|c| c.is_alphanumeric() || " +#.-".contains(c));
    if valid { Ok(name) } else { Err(DomainError::InvalidSubject(raw.trim().chars().take(80).collect())) }
}

pub fn validate_subjects(subjects: &[Subject]) -> Result<(), DomainError> {
    if subjects.is_empty() || subjects.len() > MAX_SUBJECTS {
        return Err(DomainError::SubjectCount);
    }
    for (i, s) in subjects.iter().enumerate() {
        if subjects[..i].iter().any(|o| o.name == s.name) {
            return Err(DomainError::DuplicateSubject(s.name.clone()));
        }
    }
    Ok(())
}

pub fn validate_bio(raw: &str) -> Result<String, DomainError> {
    let bio = raw.trim().to_owned();
    if bio.chars().count() > MAX_BIO_CHARS { Err(DomainError::BioTooLong) } else { Ok(bio) }
}

pub fn parse_time_zone(raw: &str) -> Result<Tz, DomainError> {
    raw.trim().parse::<Tz>().map_err(|_| DomainError::InvalidTimeZone(raw.trim().chars().take(64).collect()))
}

/// Trimmed text of 1..=max characters.
pub fn text(field: &'static str, raw: &str, max: usize) -> Result<String, DomainError> {
    let value = raw.trim();
    let n = value.chars().count();
    if n == 0 || n > max { Err(DomainError::InvalidText { field, max }) } else { Ok(value.to_owned()) }
}

/// A recurring window in the tutor's time zone: ISO weekday (1 = Monday … 7 = Sunday) and
/// minutes since local midnight, `[start, end)`; `end` may be 1440 (24:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WeeklyWindow {
    pub weekday: u8,
    pub start_minute: u16,
    pub end_minute: u16,
}

impl WeeklyWindow {
    pub fn parse(weekday: u8, start: &str, end: &str) -> Result<Self, DomainError> {
        if !(1..=7).contains(&weekday) {
            return Err(DomainError::InvalidTime(format!("weekday {weekday}")));
        }
        let window = Self { weekday, start_minute: parse_hhmm(start)?, end_minute: parse_hhmm(end)? };
        if window.end_minute <= window.start_minute {
            return Err(DomainError::InvertedWindow(window.to_string()));
        }
        Ok(window)
    }

    pub fn start_hhmm(&self) -> String {
        hhmm(self.start_minute)
    }

    pub fn end_hhmm(&self) -> String {
        hhmm(self.end_minute)
    }
}

impl std::fmt::Display for WeeklyWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let day = DAYS.get(usize::from(self.weekday.saturating_sub(1))).unwrap_or(&"?");
        write!(f, "{day} {}–{}", self.start_hhmm(), self.end_hhmm())
    }
}

fn parse_hhmm(raw: &str) -> Result<u16, DomainError> {
    let invalid = || DomainError::InvalidTime(raw.trim().chars().take(16).collect());
    let (h, m) = raw.trim().split_once(':').ok_or_else(invalid)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(invalid());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| invalid())?, m.parse().map_err(|_| invalid())?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(invalid());
    }
    Ok(h * 60 + m)
}

fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// Time off: a half-open UTC interval in which no slot is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOff {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// The tutor's schedule: weekly windows in `time_zone` and dated time off.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub time_zone: Tz,
    pub weekly: Vec<WeeklyWindow>,
    pub time_off: Vec<TimeOff>,
}

impl Schedule {
    /// Sorts and checks: no inverted or overlapping windows, no overlapping time off.
    pub fn new(time_zone: Tz, mut weekly: Vec<WeeklyWindow>, mut time_off: Vec<TimeOff>) -> Result<Self, DomainError> {
        if weekly.len() > MAX_WINDOWS {
            return Err(DomainError::TooManyWindows);
        }
        weekly.sort();
        for pair in weekly.windows(2) {
            if pair[0].weekday == pair[1].weekday && pair[1].start_minute < pair[0].end_minute {
                return Err(DomainError::OverlappingWindows(pair[0].to_string(), pair[1].to_string()));
            }
        }
        if time_off.len() > MAX_TIME_OFF {
            return Err(DomainError::TimeOffLimits);
        }
        for t in &time_off {
            if t.ends_at <= t.starts_at {
                return Err(DomainError::InvertedTimeOff);
            }
            if t.ends_at - t.starts_at > Duration::days(366) {
                return Err(DomainError::TimeOffLimits);
            }
        }
        time_off.sort();
        for pair in time_off.windows(2) {
            if pair[1].starts_at < pair[0].ends_at {
                return Err(DomainError::OverlappingTimeOff(pair[1].starts_at));
            }
        }
        Ok(Self { time_zone, weekly, time_off })
    }

    pub fn empty(time_zone: Tz) -> Self {
        Self { time_zone, weekly: Vec::new(), time_off: Vec::new() }
    }

    /// The bookable slots of `duration` in `[from, to)`: consecutive slots from the start of
    /// each weekly window, placed by the tutor's local clock (so a 09:00 window stays at 09:00
    /// across a DST change), minus time off, `taken` intervals (bookings) and the past.
    /// A local start that does not exist (the spring-forward gap) is skipped; an ambiguous
    /// one (fall back) takes its first occurrence.
    pub fn bookable_slots(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        duration_minutes: u16,
        taken: &[Interval],
        now: DateTime<Utc>,
    ) -> Result<Vec<Interval>, DomainError> {
        check_range(from, to)?;
        if !(15..=240).contains(&duration_minutes) || !duration_minutes.is_multiple_of(15) {
            return Err(DomainError::InvalidDuration);
        }
        let length = Duration::minutes(i64::from(duration_minutes));
        let tz = self.time_zone;
        let first_day = from.with_timezone(&tz).date_naive() - Duration::days(1);
        let last_day = to.with_timezone(&tz).date_naive() + Duration::days(1);
        let overlaps = |s: DateTime<Utc>, e: DateTime<Utc>, a: DateTime<Utc>, b: DateTime<Utc>| s < b && a < e;
        let mut slots = Vec::new();
        let mut day = first_day;
        while day <= last_day {
            let weekday = day.weekday().number_from_monday() as u8;
            for window in self.weekly.iter().filter(|w| w.weekday == weekday) {
                let mut minute = window.start_minute;
                while minute + duration_minutes <= window.end_minute {
                    if let Some(start) = local_instant(tz, day, minute) {
                        let end = start + length;
                        let free = start >= from
                            && end <= to
                            && start >= now
                            && !self.time_off.iter().any(|t| overlaps(start, end, t.starts_at, t.ends_at))
                            && !taken.iter().any(|(a, b)| overlaps(start, end, *a, *b));
                        if free {
                            slots.push((start, end));
                        }
                    }
                    minute += duration_minutes;
                }
            }
            day += Duration::days(1);
        }
        slots.sort();
        slots.dedup();
        Ok(slots)
    }

    /// Whether `[start, end)` is one of the slots the schedule offers (used before blocking a
    /// booked slot is possible: the slot must lie inside a weekly window and outside time off).
    pub fn covers(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        let tz = self.time_zone;
        let local_start = start.with_timezone(&tz);
        let day = local_start.date_naive();
        let weekday = day.weekday().number_from_monday() as u8;
        self.weekly.iter().filter(|w| w.weekday == weekday).any(|w| {
            let (Some(a), Some(b)) = (local_instant(tz, day, w.start_minute), local_instant(tz, day, w.end_minute))
            else {
                return false;
            };
            a <= start && end <= b
        }) && !self.time_off.iter().any(|t| start < t.ends_at && t.starts_at < end)
    }
}

pub fn check_range(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), DomainError> {
    if to <= from || to - from > Duration::days(MAX_SLOT_RANGE_DAYS) {
        return Err(DomainError::InvalidRange);
    }
    Ok(())
}

/// `minute` minutes after local midnight of `day` in `tz` (1440 = the next midnight).
fn local_instant(tz: Tz, day: NaiveDate, minute: u16) -> Option<DateTime<Utc>> {
    let (day, minute) = if minute >= 1440 { (day.succ_opt()?, minute - 1440) } else { (day, minute) };
    let naive = day.and_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0)?;
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

/// A half-open UTC interval `[start, end)`: a slot, a booking.
pub type Interval = (DateTime<Utc>, DateTime<Utc>);

/// What a pricing option sells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PricingKind {
    /// A price per one-hour session.
    Hourly,
    /// A price for `sessions` one-hour sessions.
    Package { sessions: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricingOption {
    pub id: Uuid,
    pub kind: PricingKind,
    pub amount_minor: i64,
}

impl PricingOption {
    /// The price of one hour under this option, rounded down (for search and sorting).
    pub fn hourly_minor(&self) -> i64 {
        match self.kind {
            PricingKind::Hourly => self.amount_minor,
            PricingKind::Package { sessions } => self.amount_minor / i64::from(sessions.max(1)),
        }
    }
}

/// The tutor's prices: one currency, 1–10 options, at most one hourly rate, one package per size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    pub currency: Currency,
    pub options: Vec<PricingOption>,
}

impl Pricing {
    pub fn new(currency: Currency, options: Vec<PricingOption>) -> Result<Self, DomainError> {
        if options.is_empty() || options.len() > 10 {
            return Err(DomainError::InvalidPricing("between 1 and 10 pricing options"));
        }
        for (i, option) in options.iter().enumerate() {
            if !(1..=MAX_PRICE_MINOR).contains(&option.amount_minor) {
                return Err(DomainError::InvalidPricing("a price is positive and at most 100000.00"));
            }
            match option.kind {
                PricingKind::Package { sessions } if !(2..=50).contains(&sessions) => {
                    return Err(DomainError::InvalidPricing("a package holds 2 to 50 sessions"));
                }
                _ => {}
            }
            if options[..i].iter().any(|o| o.kind == option.kind) {
                return Err(DomainError::InvalidPricing("one hourly rate and one package per number of sessions"));
            }
            if options[..i].iter().any(|o| o.id == option.id) {
                return Err(DomainError::InvalidPricing("an option id is listed twice"));
            }
        }
        Ok(Self { currency, options })
    }

    /// The lowest price of an hour over all options: what search filters and sorts by.
    pub fn lowest_hourly(&self) -> Money {
        let amount = self.options.iter().map(PricingOption::hourly_minor).min().unwrap_or(0);
        Money::new(amount, self.currency)
    }

    pub fn option(&self, id: Uuid) -> Option<&PricingOption> {
        self.options.iter().find(|o| o.id == id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certification {
    pub id: Uuid,
    pub name: String,
    pub issuer: String,
    pub year: i32,
    pub verified: bool,
}

impl Certification {
    pub fn new(name: &str, issuer: &str, year: i32, this_year: i32) -> Result<Self, DomainError> {
        if !(1950..=this_year).contains(&year) {
            return Err(DomainError::InvalidYear("a certification's year is between 1950 and this year"));
        }
        Ok(Self {
            id: Uuid::now_v7(),
            name: text("name", name, 200)?,
            issuer: text("issuer", issuer, 200)?,
            year,
            verified: false,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Education {
    pub id: Uuid,
    pub institution: String,
    pub degree: String,
    pub field: String,
    pub start_year: i32,
    pub end_year: Option<i32>,
}

impl Education {
    pub fn new(
        institution: &str,
        degree: &str,
        field: &str,
        start_year: i32,
        end_year: Option<i32>,
        this_year: i32,
    ) -> Result<Self, DomainError> {
        if !(1950..=this_year).contains(&start_year) {
            return Err(DomainError::InvalidYear("the start year is between 1950 and this year"));
        }
        if let Some(end) = end_year
            && !(start_year..=this_year + 10).contains(&end)
        {
            return Err(DomainError::InvalidYear("the end year is not before the start year"));
        }
        Ok(Self {
            id: Uuid::now_v7(),
            institution: text("institution", institution, 200)?,
            degree: text("degree", degree, 120)?,
            field: text("field", field, 120)?,
            start_year,
            end_year,
        })
    }
}

/// The rating as tutoring keeps it: integer sum and count of the counted reviews.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rating {
    pub count: i64,
    pub sum: i64,
}

impl Rating {
    /// The average to two decimals, as hundredths (450 = 4.50); `None` without reviews.
    pub fn average_hundredths(&self) -> Option<i64> {
        (self.count > 0).then(|| (self.sum * 100 + self.count / 2) / self.count)
    }
}

/// One review's part in a tutor's rating, as the projection keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewContribution {
    pub rating: u8,
    /// Whether it counts (published), or not (hidden, deleted).
    pub counted: bool,
    pub revision: i64,
}

/// Whether `incoming` replaces `current`: only a later revision does, so duplicates and events
/// arriving out of order leave the projection as the latest state says.
pub fn supersedes(current: Option<&ReviewContribution>, incoming: &ReviewContribution) -> bool {
    current.is_none_or(|c| incoming.revision > c.revision)
}

/// A tutor profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Tutor {
    pub id: TutorId,
    pub user_id: UserId,
    pub bio: String,
    pub subjects: Vec<Subject>,
    pub instant_booking: bool,
    pub verified: bool,
    pub schedule: Schedule,
    pub pricing: Option<Pricing>,
    pub certifications: Vec<Certification>,
    pub education: Vec<Education>,
    pub rating: Rating,
    pub availability_revision: i64,
    pub pricing_revision: i64,
    /// Increases with every save; a save from a stale copy is refused.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Who may create a tutor profile: users whose role is TUTOR.
pub fn may_create_profile(role: Role) -> bool {
    role == Role::Tutor
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("a valid instant")
    }

    #[test]
    fn subjects_are_normalised_and_checked() {
        assert_eq!(Subject::new("  Linear   ALGEBRA ", Level::Advanced).map(|s| s.name), Ok("linear algebra".into()));
        assert_eq!(Subject::new("C++", Level::Beginner).map(|s| s.name), Ok("c++".into()));
        assert!(Subject::new("", Level::Beginner).is_err());
        assert!(Subject::new("drop table;", Level::Beginner).is_err());
        let twice = [Subject::new("Maths", Level::Beginner), Subject::new("maths", Level::Expert)];
        let twice: Vec<Subject> = twice.into_iter().map(|s| s.expect("valid")).collect();
        assert_eq!(validate_subjects(&twice), Err(DomainError::DuplicateSubject("maths".into())));
        assert_eq!(validate_subjects(&[]), Err(DomainError::SubjectCount));
    }

    #[test]
    fn windows_refuse_inversion_and_overlap() {
        assert!(matches!(WeeklyWindow::parse(1, "12:00", "09:00"), Err(DomainError::InvertedWindow(_))));
        assert!(matches!(WeeklyWindow::parse(8, "09:00", "10:00"), Err(DomainError::InvalidTime(_))));
        assert!(matches!(WeeklyWindow::parse(1, "9:00", "10:00"), Err(DomainError::InvalidTime(_))));
        assert!(matches!(WeeklyWindow::parse(1, "24:30", "10:00"), Err(DomainError::InvalidTime(_))));
        let a = WeeklyWindow::parse(1, "09:00", "12:00").expect("valid");
        let b = WeeklyWindow::parse(1, "11:00", "13:00").expect("valid");
        let c = WeeklyWindow::parse(2, "11:00", "24:00").expect("valid");
        assert!(matches!(Schedule::new(Tz::UTC, vec![b, a], vec![]), Err(DomainError::OverlappingWindows(..))));
        assert!(Schedule::new(Tz::UTC, vec![a, c], vec![]).is_ok());
        let off = |s: &str, e: &str| TimeOff { starts_at: at(s), ends_at: at(e) };
        let overlapping = vec![
            off("2026-12-01T00:00:00Z", "2026-12-03T00:00:00Z"),
            off("2026-12-02T00:00:00Z", "2026-12-04T00:00:00Z"),
        ];
        assert!(matches!(Schedule::new(Tz::UTC, vec![], overlapping), Err(DomainError::OverlappingTimeOff(_))));
        let inverted = vec![off("2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z")];
        assert_eq!(Schedule::new(Tz::UTC, vec![], inverted), Err(DomainError::InvertedTimeOff));
    }

    #[test]
    fn slots_follow_the_local_clock_across_daylight_saving() {
        // Paris: UTC+1 until 2026-03-29 02:00 local, then UTC+2. Sundays 09:00–11:00.
        let paris: Tz = "Europe/Paris".parse().expect("zone");
        let schedule = Schedule::new(paris, vec![WeeklyWindow::parse(7, "09:00", "11:00").expect("valid")], vec![])
            .expect("valid");
        let now = at("2026-01-01T00:00:00Z");
        let slots = schedule
            .bookable_slots(at("2026-03-22T00:00:00Z"), at("2026-03-30T00:00:00Z"), 60, &[], now)
            .expect("valid range");
        let starts: Vec<String> = slots.iter().map(|(s, _)| s.to_rfc3339()).collect();
        assert_eq!(
            starts,
            [
                "2026-03-22T08:00:00+00:00",
                "2026-03-22T09:00:00+00:00",
                "2026-03-29T07:00:00+00:00",
                "2026-03-29T08:00:00+00:00"
            ]
        );
    }

    #[test]
    fn the_spring_forward_gap_has_no_slot_and_fall_back_takes_the_first_hour() {
        let paris: Tz = "Europe/Paris".parse().expect("zone");
        let now = at("2026-01-01T00:00:00Z");
        // Sunday 29 March 2026: 02:00–03:00 local does not exist.
        let gap = Schedule::new(paris, vec![WeeklyWindow::parse(7, "01:00", "04:00").expect("valid")], vec![])
            .expect("valid");
        let slots =
            gap.bookable_slots(at("2026-03-28T12:00:00Z"), at("2026-03-29T12:00:00Z"), 60, &[], now).expect("ok");
        let starts: Vec<String> = slots.iter().map(|(s, _)| s.to_rfc3339()).collect();
        assert_eq!(starts, ["2026-03-29T00:00:00+00:00", "2026-03-29T01:00:00+00:00"]);
        // Sunday 25 October 2026: 02:00–03:00 local happens twice; the first is UTC 00:00.
        let fold = Schedule::new(paris, vec![WeeklyWindow::parse(7, "02:00", "03:00").expect("valid")], vec![])
            .expect("valid");
        let slots =
            fold.bookable_slots(at("2026-10-24T12:00:00Z"), at("2026-10-25T12:00:00Z"), 60, &[], now).expect("ok");
        assert_eq!(slots, vec![(at("2026-10-25T00:00:00Z"), at("2026-10-25T01:00:00Z"))]);
    }

    #[test]
    fn time_off_bookings_and_the_past_remove_slots() {
        let schedule = Schedule::new(
            Tz::UTC,
            vec![WeeklyWindow::parse(1, "09:00", "12:00").expect("valid")],
            vec![TimeOff { starts_at: at("2026-12-07T09:30:00Z"), ends_at: at("2026-12-07T10:00:00Z") }],
        )
        .expect("valid");
        let taken = [(at("2026-12-07T11:00:00Z"), at("2026-12-07T12:00:00Z"))];
        let slots = schedule
            .bookable_slots(
                at("2026-12-07T00:00:00Z"),
                at("2026-12-08T00:00:00Z"),
                60,
                &taken,
                at("2026-12-01T00:00:00Z"),
            )
            .expect("valid");
        assert_eq!(slots, vec![(at("2026-12-07T10:00:00Z"), at("2026-12-07T11:00:00Z"))]);
        let later = schedule
            .bookable_slots(at("2026-12-07T00:00:00Z"), at("2026-12-08T00:00:00Z"), 60, &[], at("2026-12-07T10:30:00Z"))
            .expect("valid");
        assert_eq!(later, vec![(at("2026-12-07T11:00:00Z"), at("2026-12-07T12:00:00Z"))]);
        let inverted = schedule.bookable_slots(
            at("2026-12-08T00:00:00Z"),
            at("2026-12-07T00:00:00Z"),
            60,
            &[],
            at("2026-12-01T00:00:00Z"),
        );
        assert_eq!(inverted, Err(DomainError::InvalidRange));
        let odd = schedule.bookable_slots(
            at("2026-12-07T00:00:00Z"),
            at("2026-12-08T00:00:00Z"),
            50,
            &[],
            at("2026-12-01T00:00:00Z"),
        );
        assert_eq!(odd, Err(DomainError::InvalidDuration));
        assert!(schedule.covers(at("2026-12-07T10:00:00Z"), at("2026-12-07T11:00:00Z")));
        assert!(!schedule.covers(at("2026-12-07T09:00:00Z"), at("2026-12-07T10:00:00Z")), "time off");
        assert!(!schedule.covers(at("2026-12-07T11:30:00Z"), at("2026-12-07T12:30:00Z")), "past the window");
    }

    #[test]
    fn pricing_has_one_currency_and_sane_options() {
        let eur = Currency::parse("EUR").expect("valid");
        let hourly = PricingOption { id: Uuid::now_v7(), kind: PricingKind::Hourly, amount_minor: 4_000 };
        let package =
            PricingOption { id: Uuid::now_v7(), kind: PricingKind::Package { sessions: 10 }, amount_minor: 35_000 };
        let pricing = Pricing::new(eur, vec![hourly.clone(), package.clone()]).expect("valid");
        assert_eq!(pricing.lowest_hourly(), Money::new(3_500, eur));
        assert!(Pricing::new(eur, vec![]).is_err());
        let free = PricingOption { amount_minor: 0, ..hourly.clone() };
        assert!(Pricing::new(eur, vec![free]).is_err());
        let second_hourly = PricingOption { id: Uuid::now_v7(), ..hourly.clone() };
        assert!(Pricing::new(eur, vec![hourly, second_hourly]).is_err());
        let single = PricingOption { kind: PricingKind::Package { sessions: 1 }, ..package };
        assert!(Pricing::new(eur, vec![single]).is_err());
    }

    #[test]
    fn review_revisions_decide_what_the_rating_keeps() {
        let posted = ReviewContribution { rating: 4, counted: true, revision: 1 };
        let edited = ReviewContribution { rating: 2, counted: true, revision: 2 };
        assert!(supersedes(None, &posted));
        assert!(supersedes(Some(&posted), &edited));
        assert!(!supersedes(Some(&edited), &posted), "an older event arriving late changes nothing");
        assert!(!supersedes(Some(&edited), &edited), "a redelivered event changes nothing");
        assert_eq!(Rating { count: 3, sum: 13 }.average_hundredths(), Some(433));
        assert_eq!(Rating::default().average_hundredths(), None);
    }

    #[test]
    fn certifications_and_education_are_checked() {
        assert!(Certification::new("CELTA", "Cambridge", 2020, 2026).is_ok());
        assert!(Certification::new("CELTA", "Cambridge", 2030, 2026).is_err());
        assert!(Certification::new(" ", "Cambridge", 2020, 2026).is_err());
        assert!(Education::new("MIT", "BSc", "Physics", 2010, Some(2014), 2026).is_ok());
        assert!(Education::new("MIT", "BSc", "Physics", 2014, Some(2010), 2026).is_err());
    }
}
