//! The identity domain: users, their e-mail, password policy, role and profile, and the rules
//! of sessions and refresh tokens. Pure: no database, HTTP or GraphQL here.

use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
pub use kernel::{Role, UserId};
use uuid::Uuid;

/// A rule of the domain was broken; the message is fit for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("`{0}` is not a valid e-mail address")]
    InvalidEmail(String),
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters long")]
    PasswordTooShort,
    #[error("the password must be at most {MAX_PASSWORD_CHARS} characters long")]
    PasswordTooLong,
    #[error("the password must not be the e-mail address")]
    PasswordIsEmail,
    #[error("the password is too common; choose another")]
    PasswordTooCommon,
    #[error("{field} must be between 1 and {max} characters")]
    InvalidName { field: &'static str, max: usize },
    #[error("the avatar URL must be an https:// URL of at most 2048 characters")]
    InvalidAvatarUrl,
    #[error("`{0}` is not a locale such as `en` or `pt-BR`")]
    InvalidLocale(String),
    #[error("`{0}` is not an IANA time zone such as `Europe/Paris`")]
    InvalidTimeZone(String),
    #[error("only STUDENT or TUTOR can be chosen at registration")]
    RoleNotSelfAssignable,
    #[error("the last admin cannot be demoted")]
    LastAdmin,
}

pub const MIN_PASSWORD_CHARS: usize = 10;
/// Bounds the work Argon2 does on attacker-chosen input.
pub const MAX_PASSWORD_CHARS: usize = 128;
pub const MAX_NAME_CHARS: usize = 100;

/// An e-mail address, trimmed and lower-cased: unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let normalized = raw.trim().to_lowercase();
        let invalid = || DomainError::InvalidEmail(raw.trim().chars().take(100).collect());
        let (local, domain) = normalized.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && domain.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok && normalized.len() <= 254 { Ok(Self(normalized)) } else { Err(invalid()) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A small built-in list of passwords too common to accept (all ≥ 10 characters, lower case).
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "12345678910",
    "123456789a",
    "0123456789",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "qwertyuiop",
    "qwerty1234",
    "qwerty123456",
    "password12",
    "password123",
    "password1234",
    "passw0rd123",
    "iloveyou12",
    "abcdefghij",
    "abc1234567",
    "aaaaaaaaaa",
    "1111111111",
    "0000000000",
    "9876543210",
    "letmein123",
    "welcome123",
    "admin12345",
    "administrator",
    "football12",
    "baseball12",
    "superman12",
    "princess12",
    "sunshine12",
    "dragon1234",
    "monkey1234",
    "trustno1234",
    "changeme123",
    "qazwsxedcrfv",
    "asdfghjkl1",
    "zaq12wsxcde",
    "starwars12",
    "pokemon123",
    "whatever12",
    "computer12",
    "internet12",
    "michael123",
    "jennifer12",
    "liverpool1",
    "chocolate1",
    "basketball",
    "mustang123",
    "shadow1234",
    "master1234",
    "edustream123",
    "tutoring123",
    "student123",
    "teacher123",
    "passwordpassword",
    "qwertyqwerty",
];

/// Checks a new password against the policy: length, not the e-mail, not a common password.
pub fn check_password_policy(candidate: &str, email: &Email) -> Result<(), DomainError> {
    let chars = candidate.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(DomainError::PasswordTooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(DomainError::PasswordTooLong);
    }
    let lowered = candidate.trim().to_lowercase();
    let local_part = email.as_str().split('@').next().unwrap_or_default();
    if lowered == email.as_str() || lowered == local_part {
        return Err(DomainError::PasswordIsEmail);
    }
    if COMMON_PASSWORDS.contains(&lowered.as_str()) {
        return Err(DomainError::PasswordTooCommon);
    }
    Ok(())
}

/// A first or last name: trimmed, 1–100 characters, no control characters.
pub fn parse_name(raw: &str, field: &'static str) -> Result<String, DomainError> {
    let trimmed = raw.trim();
    let count = trimmed.chars().count();
    if count == 0 || count > MAX_NAME_CHARS || trimmed.chars().any(char::is_control) {
        return Err(DomainError::InvalidName { field, max: MAX_NAME_CHARS });
    }
    Ok(trimmed.to_owned())
}

/// An avatar URL: https only, with a host, no whitespace.
pub fn parse_avatar_url(raw: &str) -> Result<String, DomainError> {
    let trimmed = raw.trim();
    let rest = trimmed.strip_prefix("https://").ok_or(DomainError::InvalidAvatarUrl)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_ok = !host.is_empty() && !host.starts_with('@') && !host.contains(' ');
    if !host_ok || trimmed.len() > 2048 || trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(DomainError::InvalidAvatarUrl);
    }
    Ok(trimmed.to_owned())
}

/// A BCP 47 tag in its common shape: a 2–3 letter language, then 2–8 character subtags.
pub fn parse_locale(raw: &str) -> Result<String, DomainError> {
    let trimmed = raw.trim();
    let mut parts = trimmed.split(['-', '_']);
    let language = parts.next().unwrap_or_default();
    let language_ok = (2..=3).contains(&language.len()) && language.chars().all(|c| c.is_ascii_alphabetic());
    let subtags: Vec<&str> = parts.collect();
    let subtags_ok = subtags.len() <= 3
        && subtags.iter().all(|s| (2..=8).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()));
    if !(language_ok && subtags_ok) {
        return Err(DomainError::InvalidLocale(trimmed.chars().take(40).collect()));
    }
    let mut tag = language.to_ascii_lowercase();
    for subtag in subtags {
        tag.push('-');
        // Region subtags are written in capitals (pt-BR), others as given.
        if subtag.len() == 2 { tag.push_str(&subtag.to_ascii_uppercase()) } else { tag.push_str(subtag) }
    }
    Ok(tag)
}

/// An IANA time zone name, checked against the tz database.
pub fn parse_time_zone(raw: &str) -> Result<String, DomainError> {
    let trimmed = raw.trim();
    chrono_tz::Tz::from_str(trimmed)
        .map(|tz| tz.name().to_owned())
        .map_err(|_| DomainError::InvalidTimeZone(trimmed.chars().take(60).collect()))
}

/// Which channels the user accepts notifications on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotificationOptIns {
    pub email: bool,
    pub push: bool,
    pub sms: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub locale: String,
    pub time_zone: String,
    pub notifications: NotificationOptIns,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            locale: "en".into(),
            time_zone: "UTC".into(),
            notifications: NotificationOptIns { email: true, push: true, sms: false },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub first_name: String,
    pub last_name: String,
    pub avatar_url: Option<String>,
    pub preferences: Preferences,
}

/// The `User` aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub role: Role,
    pub profile: Profile,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What registration asks for, already validated.
#[derive(Debug, Clone)]
pub struct Registration {
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
    pub role: Role,
}

impl Registration {
    /// Validates the input of `register`, including the password policy.
    pub fn parse(
        email: &str,
        password: &str,
        first_name: &str,
        last_name: &str,
        role: Option<Role>,
    ) -> Result<Self, DomainError> {
        let email = Email::parse(email)?;
        check_password_policy(password, &email)?;
        let role = role.unwrap_or(Role::Student);
        if role == Role::Admin {
            return Err(DomainError::RoleNotSelfAssignable);
        }
        Ok(Self {
            email,
            first_name: parse_name(first_name, "firstName")?,
            last_name: parse_name(last_name, "lastName")?,
            role,
        })
    }

    pub fn into_user(self, now: DateTime<Utc>) -> User {
        // Microseconds: what both databases keep, so a stored user equals the one created.
        let now = now.trunc_subsecs(6);
        User {
            id: UserId::new(),
            email: self.email,
            role: self.role,
            profile: Profile {
                first_name: self.first_name,
                last_name: self.last_name,
                avatar_url: None,
                preferences: Preferences::default(),
            },
            created_at: now,
            updated_at: now,
        }
    }
}

/// A partial update of the profile; `None` leaves a value as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChanges {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `Some(None)` removes the avatar.
    pub avatar_url: Option<Option<String>>,
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub notify_email: Option<bool>,
    pub notify_push: Option<bool>,
    pub notify_sms: Option<bool>,
}

impl User {
    /// Applies validated changes; returns whether anything changed.
    pub fn update_profile(&mut self, changes: ProfileChanges, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let mut next = self.profile.clone();
        if let Some(name) = changes.first_name {
            next.first_name = parse_name(&name, "firstName")?;
        }
        if let Some(name) = changes.last_name {
            next.last_name = parse_name(&name, "lastName")?;
        }
        if let Some(avatar) = changes.avatar_url {
            next.avatar_url = avatar.as_deref().map(parse_avatar_url).transpose()?;
        }
        if let Some(locale) = changes.locale {
            next.preferences.locale = parse_locale(&locale)?;
        }
        if let Some(zone) = changes.time_zone {
            next.preferences.time_zone = parse_time_zone(&zone)?;
        }
        let opt_ins = &mut next.preferences.notifications;
        opt_ins.email = changes.notify_email.unwrap_or(opt_ins.email);
        opt_ins.push = changes.notify_push.unwrap_or(opt_ins.push);
        opt_ins.sms = changes.notify_sms.unwrap_or(opt_ins.sms);
        let changed = next != self.profile;
        if changed {
            self.profile = next;
            self.updated_at = now.trunc_subsecs(6);
        }
        Ok(changed)
    }
}

/// Whether `previous` may become `next` given how many admins exist now.
pub fn check_role_change(previous: Role, next: Role, admin_count: i64) -> Result<(), DomainError> {
    if previous == Role::Admin && next != Role::Admin && admin_count <= 1 {
        return Err(DomainError::LastAdmin);
    }
    Ok(())
}

/// A sign-in session: the family of refresh tokens issued from one login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A refresh token as stored: only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub id: Uuid,
    pub session_id: Uuid,
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// What presenting a refresh token leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshDecision {
    /// Valid: issue a new pair and mark this one used.
    Rotate,
    /// Already used: someone replays it; revoke the whole family.
    Reuse,
    Expired,
    Revoked,
}

pub fn decide_refresh(token: &RefreshToken, session: &Session, now: DateTime<Utc>) -> RefreshDecision {
    if session.revoked_at.is_some() {
        RefreshDecision::Revoked
    } else if token.used_at.is_some() {
        RefreshDecision::Reuse
    } else if token.expires_at <= now {
        RefreshDecision::Expired
    } else {
        RefreshDecision::Rotate
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn email() -> Email {
        Email::parse("Ada.Lovelace@Example.org").expect("valid")
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(email().as_str(), "ada.lovelace@example.org");
        assert_eq!(Email::parse("  a@b.co ").map(|e| e.0), Ok("a@b.co".into()));
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in ["", "plain", "a@b", "@b.co", "a@.co", "a..b@c.co", "a@b..co", "a b@c.co", "a@-b.co"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_password_policy_refuses_short_common_and_email_passwords() {
        assert_eq!(check_password_policy("short", &email()), Err(DomainError::PasswordTooShort));
        assert_eq!(check_password_policy("Password123", &email()), Err(DomainError::PasswordTooCommon));
        assert_eq!(check_password_policy("ADA.LOVELACE@example.org", &email()), Err(DomainError::PasswordIsEmail));
        assert_eq!(check_password_policy(&"x".repeat(129), &email()), Err(DomainError::PasswordTooLong));
        assert_eq!(check_password_policy("correct horse battery", &email()), Ok(()));
    }

    #[test]
    fn nobody_registers_as_admin() {
        let result = Registration::parse("a@b.co", "correct horse battery", "A", "B", Some(Role::Admin));
        assert!(matches!(result, Err(DomainError::RoleNotSelfAssignable)));
        let student = Registration::parse("a@b.co", "correct horse battery", " Ada ", "B", None).expect("valid");
        assert_eq!((student.role, student.first_name.as_str()), (Role::Student, "Ada"));
    }

    #[test]
    fn profile_updates_validate_every_field() {
        let registration = Registration::parse("a@b.co", "correct horse battery", "A", "B", None).expect("valid");
        let mut user = registration.into_user(Utc::now());
        let bad_avatar = ProfileChanges { avatar_url: Some(Some("http://x.co/a.png".into())), ..Default::default() };
        assert_eq!(user.update_profile(bad_avatar, Utc::now()), Err(DomainError::InvalidAvatarUrl));
        let bad_zone = ProfileChanges { time_zone: Some("Mars/Olympus".into()), ..Default::default() };
        assert!(matches!(user.update_profile(bad_zone, Utc::now()), Err(DomainError::InvalidTimeZone(_))));
        let good = ProfileChanges {
            avatar_url: Some(Some("https://cdn.example.org/a.png".into())),
            time_zone: Some("Europe/Paris".into()),
            locale: Some("pt_br".into()),
            notify_sms: Some(true),
            ..Default::default()
        };
        assert_eq!(user.update_profile(good, Utc::now()), Ok(true));
        assert_eq!(user.profile.preferences.locale, "pt-BR");
        assert_eq!(user.profile.preferences.time_zone, "Europe/Paris");
        assert!(user.profile.preferences.notifications.sms);
        assert_eq!(user.update_profile(ProfileChanges::default(), Utc::now()), Ok(false));
    }

    #[test]
    fn the_last_admin_stays_admin() {
        assert_eq!(check_role_change(Role::Admin, Role::Student, 1), Err(DomainError::LastAdmin));
        assert_eq!(check_role_change(Role::Admin, Role::Student, 2), Ok(()));
        assert_eq!(check_role_change(Role::Student, Role::Admin, 0), Ok(()));
    }

    #[test]
    fn a_used_refresh_token_is_a_reuse() {
        let now = Utc::now();
        let session = Session { id: Uuid::now_v7(), user_id: UserId::new(), created_at: now, revoked_at: None };
        let mut token = RefreshToken {
            id: Uuid::now_v7(),
            session_id: session.id,
            token_hash: "h".into(),
            created_at: now,
            expires_at: now + Duration::days(1),
            used_at: None,
        };
        assert_eq!(decide_refresh(&token, &session, now), RefreshDecision::Rotate);
        token.used_at = Some(now);
        assert_eq!(decide_refresh(&token, &session, now), RefreshDecision::Reuse);
        token.used_at = None;
        assert_eq!(decide_refresh(&token, &session, now + Duration::days(2)), RefreshDecision::Expired);
        let revoked = Session { revoked_at: Some(now), ..session };
        assert_eq!(decide_refresh(&token, &revoked, now), RefreshDecision::Revoked);
    }
}
