//! The notification domain: what a notification is (type, channel, status, delivery attempts),
//! which channels a recipient gets (preferences over identity's opt-ins, and whether an address
//! exists), the retry policy, and the value objects users give (phone numbers, device tokens).
//! Pure: no database, HTTP or GraphQL here.

use std::time::Duration;

use chrono::{DateTime, Utc};
pub use kernel::UserId;
use uuid::Uuid;

/// A rule of the domain was broken; the message is fit for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("`{0}` is not a phone number in E.164 form, e.g. +4915112345678")]
    InvalidPhoneNumber(String),
    #[error("a push device token is 8 to {MAX_TOKEN_CHARS} visible ASCII characters without spaces")]
    InvalidDeviceToken,
    #[error("each (type, channel) pair may appear once; {0} {1} is repeated")]
    DuplicatePreference(&'static str, &'static str),
    #[error("give between 1 and {0} preferences")]
    PreferenceCount(usize),
    #[error("only in-app notifications are read in the app; this one went by {0}")]
    NotInApp(&'static str),
    #[error("this notification is not yours")]
    NotTheRecipient,
}

pub const MAX_TOKEN_CHARS: usize = 4096;

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == raw)
            }
        }
    };
}

named_enum!(
    /// What a notification is about; one template each.
    Kind {
        Welcome = "WELCOME",
        BookingRequested = "BOOKING_REQUESTED",
        BookingConfirmed = "BOOKING_CONFIRMED",
        BookingCancelled = "BOOKING_CANCELLED",
        BookingCompleted = "BOOKING_COMPLETED",
        PaymentReceived = "PAYMENT_RECEIVED",
        PaymentFailed = "PAYMENT_FAILED",
        RefundIssued = "REFUND_ISSUED",
        NewMessage = "NEW_MESSAGE",
        ReviewPosted = "REVIEW_POSTED",
        TutorVerified = "TUTOR_VERIFIED",
    }
);

named_enum!(
    /// How a notification reaches its recipient.
    Channel {
        Email = "EMAIL",
        Push = "PUSH",
        Sms = "SMS",
        InApp = "IN_APP",
    }
);

named_enum!(
    /// PENDING until a channel accepted it (SENT) or delivery gave up (FAILED).
    Status {
        Pending = "PENDING",
        Sent = "SENT",
        Failed = "FAILED",
    }
);

named_enum!(
    /// What one delivery attempt came to.
    Outcome {
        Sent = "SENT",
        /// Failed for now; another attempt follows.
        Retry = "RETRY",
        Failed = "FAILED",
    }
);

/// A notification for one recipient on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: Uuid,
    pub recipient: UserId,
    pub kind: Kind,
    pub channel: Channel,
    pub title: String,
    pub body: String,
    pub status: Status,
    /// Delivery attempts made so far.
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
}

/// One row of a notification's delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub notification_id: Uuid,
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub outcome: Outcome,
    pub error: Option<String>,
}

/// Why a channel did not take a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryFailure {
    /// Worth another attempt (timeout, 5xx, connection refused, SMTP 4xx).
    Transient(String),
    /// Another attempt cannot help (4xx, SMTP 5xx, no address).
    Permanent(String),
}

/// When and how often failed deliveries are tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The pause after the first failure; doubled after each further one.
    pub base: Duration,
    /// The longest pause.
    pub cap: Duration,
}

impl RetryPolicy {
    /// The pause after the `failed`-th failed attempt (1-based): `base · 2^(failed-1)`, capped.
    pub fn backoff(&self, failed: u32) -> Duration {
        let factor = 2u32.saturating_pow(failed.saturating_sub(1));
        self.base.checked_mul(factor).unwrap_or(self.cap).min(self.cap)
    }
}

impl Notification {
    /// A new notification; in-app ones are delivered by being stored (SENT at once).
    pub fn new(
        recipient: UserId,
        kind: Kind,
        channel: Channel,
        rendered: (String, String),
        now: DateTime<Utc>,
    ) -> Self {
        let in_app = channel == Channel::InApp;
        Self {
            id: Uuid::now_v7(),
            recipient,
            kind,
            channel,
            title: rendered.0,
            body: rendered.1,
            status: if in_app { Status::Sent } else { Status::Pending },
            attempts: u32::from(in_app),
            next_attempt_at: (!in_app).then_some(now),
            last_error: None,
            created_at: now,
            sent_at: in_app.then_some(now),
            read_at: None,
        }
    }

    /// Records the outcome of the next attempt and returns its log row. A transient failure
    /// schedules another attempt unless this was the last one the policy allows.
    pub fn record_attempt(
        &mut self,
        result: Result<(), DeliveryFailure>,
        policy: &RetryPolicy,
        now: DateTime<Utc>,
    ) -> Attempt {
        self.attempts += 1;
        let (outcome, error) = match result {
            Ok(()) => (Outcome::Sent, None),
            Err(DeliveryFailure::Transient(e)) if self.attempts < policy.max_attempts => (Outcome::Retry, Some(e)),
            Err(DeliveryFailure::Transient(e) | DeliveryFailure::Permanent(e)) => (Outcome::Failed, Some(e)),
        };
        match outcome {
            Outcome::Sent => {
                self.status = Status::Sent;
                self.sent_at = Some(now);
                self.next_attempt_at = None;
            }
            Outcome::Retry => {
                let pause = chrono::Duration::from_std(policy.backoff(self.attempts)).unwrap_or(chrono::Duration::MAX);
                self.next_attempt_at = Some(now + pause);
            }
            Outcome::Failed => {
                self.status = Status::Failed;
                self.next_attempt_at = None;
            }
        }
        self.last_error.clone_from(&error);
        Attempt { notification_id: self.id, attempt: self.attempts, at: now, outcome, error }
    }

    /// The recipient reads it (in the app); reading twice keeps the first time.
    pub fn mark_read(&mut self, reader: UserId, now: DateTime<Utc>) -> Result<bool, DomainError> {
        if reader != self.recipient {
            return Err(DomainError::NotTheRecipient);
        }
        if self.channel != Channel::InApp {
            return Err(DomainError::NotInApp(self.channel.as_str()));
        }
        if self.read_at.is_some() {
            return Ok(false);
        }
        self.read_at = Some(now);
        Ok(true)
    }
}

/// What notification knows about a user from identity's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub user_id: UserId,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub locale: String,
    pub time_zone: String,
    /// identity's opt-ins: the defaults of the channels a user has not set per type.
    pub notify_email: bool,
    pub notify_push: bool,
    pub notify_sms: bool,
}

impl Contact {
    pub fn name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name).trim().to_owned()
    }
}

/// A user's explicit choice for one (type, channel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preference {
    pub kind: Kind,
    pub channel: Channel,
    pub enabled: bool,
}

/// Everything that decides where a user's notifications go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    /// `None` until identity's events told us about the user.
    pub contact: Option<Contact>,
    pub preferences: Vec<Preference>,
    pub phone_number: Option<String>,
    pub push_devices: usize,
}

impl Reach {
    /// The default for a channel the user has not set: identity's opt-ins (email and push on,
    /// SMS off, as identity's own defaults); in-app always on.
    pub fn default_for(&self, channel: Channel) -> bool {
        let contact = self.contact.as_ref();
        match channel {
            Channel::InApp => true,
            Channel::Email => contact.is_none_or(|c| c.notify_email),
            Channel::Push => contact.is_none_or(|c| c.notify_push),
            Channel::Sms => contact.is_some_and(|c| c.notify_sms),
        }
    }

    /// Whether the user wants `kind` on `channel` (an explicit preference, else the default).
    pub fn wants(&self, kind: Kind, channel: Channel) -> bool {
        self.preferences
            .iter()
            .find(|p| p.kind == kind && p.channel == channel)
            .map_or_else(|| self.default_for(channel), |p| p.enabled)
    }

    /// The channels a notification of `kind` goes out on: wanted, and with somewhere to go
    /// (a device for push, a phone number for SMS; an email address may still arrive from
    /// identity, so email does not wait for it here).
    pub fn channels(&self, kind: Kind) -> Vec<Channel> {
        Channel::ALL
            .iter()
            .copied()
            .filter(|&c| self.wants(kind, c))
            .filter(|&c| match c {
                Channel::Push => self.push_devices > 0,
                Channel::Sms => self.phone_number.is_some(),
                Channel::Email | Channel::InApp => true,
            })
            .collect()
    }
}

/// A phone number in E.164 form: `+`, a country code not starting with 0, 8 to 15 digits in all
/// (spaces, dashes, dots and parentheses are dropped first).
pub fn phone_number(raw: &str) -> Result<String, DomainError> {
    let cleaned: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
    let digits = cleaned.strip_prefix('+').unwrap_or("");
    let valid =
        (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0');
    if valid { Ok(cleaned) } else { Err(DomainError::InvalidPhoneNumber(raw.chars().take(40).collect())) }
}

/// A push provider's device token (APNs, FCM and the like: opaque, printable, no spaces).
pub fn device_token(raw: &str) -> Result<String, DomainError> {
    let token = raw.trim();
    let n = token.chars().count();
    let valid = (8..=MAX_TOKEN_CHARS).contains(&n) && token.chars().all(|c| c.is_ascii_graphic());
    if valid { Ok(token.to_owned()) } else { Err(DomainError::InvalidDeviceToken) }
}

/// Checks a batch of preference changes: 1 to (types × channels) entries, each pair once.
pub fn preference_changes(changes: &[Preference]) -> Result<(), DomainError> {
    let max = Kind::ALL.len() * Channel::ALL.len();
    if changes.is_empty() || changes.len() > max {
        return Err(DomainError::PreferenceCount(max));
    }
    for (i, p) in changes.iter().enumerate() {
        if changes[..i].iter().any(|q| q.kind == p.kind && q.channel == p.channel) {
            return Err(DomainError::DuplicatePreference(p.kind.as_str(), p.channel.as_str()));
        }
    }
    Ok(())
}

/// An unread message waiting for its delay before the recipient hears about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMessage {
    pub message_id: Uuid,
    pub recipient: UserId,
    pub conversation_id: Uuid,
    pub sender: UserId,
    /// Empty once the message was edited: the notification must not show the old text.
    pub preview: String,
    /// Edited after it was sent (messaging's event carries no new text).
    pub edited: bool,
    pub sent_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// Due messages grouped per (recipient, conversation), oldest first within a group: one
/// notification per group says "n new messages", not one per message.
pub fn group_due(mut due: Vec<PendingMessage>) -> Vec<Vec<PendingMessage>> {
    due.sort_by_key(|m| (m.recipient, m.conversation_id, m.message_id));
    let mut groups: Vec<Vec<PendingMessage>> = Vec::new();
    for message in due {
        match groups.last_mut() {
            Some(g) if g[0].recipient == message.recipient && g[0].conversation_id == message.conversation_id => {
                g.push(message);
            }
            _ => groups.push(vec![message]),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy { max_attempts: 3, base: Duration::from_secs(10), cap: Duration::from_secs(25) }
    }

    fn email(now: DateTime<Utc>) -> Notification {
        Notification::new(UserId::new(), Kind::Welcome, Channel::Email, ("t".into(), "b".into()), now)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy();
        assert_eq!(p.backoff(1), Duration::from_secs(10));
        assert_eq!(p.backoff(2), Duration::from_secs(20));
        assert_eq!(p.backoff(3), Duration::from_secs(25));
        assert_eq!(p.backoff(60), Duration::from_secs(25), "no overflow");
    }

    #[test]
    fn transient_failures_are_retried_until_the_last_attempt_then_fail() {
        let now = Utc::now();
        let mut n = email(now);
        assert_eq!((n.status, n.attempts, n.next_attempt_at), (Status::Pending, 0, Some(now)));
        let first = n.record_attempt(Err(DeliveryFailure::Transient("503".into())), &policy(), now);
        assert_eq!((first.attempt, first.outcome), (1, Outcome::Retry));
        assert_eq!(n.next_attempt_at, Some(now + chrono::Duration::seconds(10)));
        let second = n.record_attempt(Err(DeliveryFailure::Transient("503".into())), &policy(), now);
        assert_eq!(second.outcome, Outcome::Retry);
        let third = n.record_attempt(Err(DeliveryFailure::Transient("503".into())), &policy(), now);
        assert_eq!((third.outcome, n.status, n.next_attempt_at), (Outcome::Failed, Status::Failed, None));
        assert_eq!(n.last_error.as_deref(), Some("503"));
    }

    #[test]
    fn a_permanent_failure_fails_at_once_and_success_sends() {
        let now = Utc::now();
        let mut n = email(now);
        let attempt = n.record_attempt(Err(DeliveryFailure::Permanent("400".into())), &policy(), now);
        assert_eq!((attempt.outcome, n.status, n.attempts), (Outcome::Failed, Status::Failed, 1));
        let mut n = email(now);
        n.record_attempt(Ok(()), &policy(), now);
        assert_eq!((n.status, n.sent_at, n.last_error), (Status::Sent, Some(now), None));
    }

    #[test]
    fn in_app_notifications_are_sent_when_stored_and_read_once_by_their_recipient() {
        let now = Utc::now();
        let mut n = Notification::new(UserId::new(), Kind::Welcome, Channel::InApp, ("t".into(), "b".into()), now);
        assert_eq!((n.status, n.attempts, n.next_attempt_at), (Status::Sent, 1, None));
        assert_eq!(n.mark_read(UserId::new(), now), Err(DomainError::NotTheRecipient));
        assert_eq!(n.mark_read(n.recipient, now), Ok(true));
        assert_eq!(n.mark_read(n.recipient, now + chrono::Duration::seconds(5)), Ok(false));
        assert_eq!(n.read_at, Some(now), "the first read is kept");
        let mut e = email(now);
        assert_eq!(e.mark_read(e.recipient, now), Err(DomainError::NotInApp("EMAIL")));
    }

    fn contact(email: bool, push: bool, sms: bool) -> Contact {
        Contact {
            user_id: UserId::new(),
            email: "a@example.org".into(),
            first_name: "Ada".into(),
            last_name: "L".into(),
            locale: "en".into(),
            time_zone: "UTC".into(),
            notify_email: email,
            notify_push: push,
            notify_sms: sms,
        }
    }

    #[test]
    fn channels_follow_preferences_over_identitys_opt_ins_and_need_an_address() {
        let mut reach = Reach { contact: Some(contact(true, true, true)), ..Reach::default() };
        assert_eq!(reach.channels(Kind::Welcome), vec![Channel::Email, Channel::InApp], "no device, no phone");
        reach.push_devices = 1;
        reach.phone_number = Some("+4915112345678".into());
        assert_eq!(reach.channels(Kind::Welcome), Channel::ALL.to_vec());
        reach.contact = Some(contact(false, true, false));
        assert_eq!(reach.channels(Kind::Welcome), vec![Channel::Push, Channel::InApp]);
        reach.preferences = vec![
            Preference { kind: Kind::Welcome, channel: Channel::Email, enabled: true },
            Preference { kind: Kind::Welcome, channel: Channel::InApp, enabled: false },
        ];
        assert_eq!(reach.channels(Kind::Welcome), vec![Channel::Email, Channel::Push]);
        assert_eq!(reach.channels(Kind::NewMessage), vec![Channel::Push, Channel::InApp], "per type");
        let unknown = Reach::default();
        assert_eq!(unknown.channels(Kind::Welcome), vec![Channel::Email, Channel::InApp], "identity's defaults");
    }

    #[test]
    fn phone_numbers_and_tokens_are_checked() {
        assert_eq!(phone_number("+49 151 1234-5678"), Ok("+4915112345678".into()));
        assert!(phone_number("0151 12345678").is_err(), "no country code");
        assert!(phone_number("+0151123456").is_err());
        assert!(phone_number("+12").is_err());
        assert!(phone_number("+1234567890123456").is_err(), "16 digits");
        assert_eq!(device_token("  abcdefgh1234 "), Ok("abcdefgh1234".into()));
        assert!(device_token("short").is_err());
        assert!(device_token("has a space inside").is_err());
    }

    #[test]
    fn preference_batches_are_bounded_and_unique() {
        let p = Preference { kind: Kind::Welcome, channel: Channel::Sms, enabled: true };
        assert!(preference_changes(&[p]).is_ok());
        assert_eq!(preference_changes(&[]), Err(DomainError::PreferenceCount(44)));
        assert_eq!(preference_changes(&[p, p]), Err(DomainError::DuplicatePreference("WELCOME", "SMS")));
    }

    #[test]
    fn due_messages_group_per_recipient_and_conversation() {
        let (a, b) = (UserId::new(), UserId::new());
        let conversation = Uuid::now_v7();
        let message = |recipient| PendingMessage {
            message_id: Uuid::now_v7(),
            recipient,
            conversation_id: conversation,
            sender: UserId::new(),
            preview: "hi".into(),
            edited: false,
            sent_at: Utc::now(),
            due_at: Utc::now(),
        };
        let groups = group_due(vec![message(a), message(b), message(a)]);
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 3);
        assert_eq!(groups.len(), 2);
        assert!(groups.iter().all(|g| g.iter().all(|m| m.recipient == g[0].recipient)));
    }
}
