//! The notification texts: one minijinja template per type, embedded in the binary
//! (`templates/<type>.txt`: the first line is the title, the rest the body, plain text), and
//! the HTML layout of emails (`templates/email.html`, HTML-escaped: names and message previews
//! come from users).
//!
//! A template reads named values ([`Var`]): times are shown in the recipient's time zone, users
//! by their name as identity published it.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use kernel::Money;
use minijinja::{Environment, Value};

use crate::domain::{Contact, Kind, UserId};

/// A value an event gives a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Text(String),
    Int(i64),
    Flag(bool),
    /// Shown in the recipient's time zone.
    Time(DateTime<Utc>),
    Money(Money),
    /// Shown as the user's name (or `fallback` while identity has not told us the name).
    User {
        id: UserId,
        fallback: &'static str,
    },
}

/// The named values of one notification.
pub type Vars = Vec<(&'static str, Var)>;

fn file(kind: Kind) -> &'static str {
    match kind {
        Kind::Welcome => "welcome.txt",
        Kind::BookingRequested => "booking_requested.txt",
        Kind::BookingConfirmed => "booking_confirmed.txt",
        Kind::BookingCancelled => "booking_cancelled.txt",
        Kind::BookingCompleted => "booking_completed.txt",
        Kind::PaymentReceived => "payment_received.txt",
        Kind::PaymentFailed => "payment_failed.txt",
        Kind::RefundIssued => "refund_issued.txt",
        Kind::NewMessage => "new_message.txt",
        Kind::ReviewPosted => "review_posted.txt",
        Kind::TutorVerified => "tutor_verified.txt",
    }
}

static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).build();
    env.set_syntax(syntax.expect("the default delimiters are valid"));
    for (name, source) in SOURCES {
        env.add_template(name, source).expect("the embedded templates parse (checked by a test)");
    }
    env
});

const SOURCES: &[(&str, &str)] = &[
    ("welcome.txt", include_str!("../templates/welcome.txt")),
    ("booking_requested.txt", include_str!("../templates/booking_requested.txt")),
    ("booking_confirmed.txt", include_str!("../templates/booking_confirmed.txt")),
    ("booking_cancelled.txt", include_str!("../templates/booking_cancelled.txt")),
    ("booking_completed.txt", include_str!("../templates/booking_completed.txt")),
    ("payment_received.txt", include_str!("../templates/payment_received.txt")),
    ("payment_failed.txt", include_str!("../templates/payment_failed.txt")),
    ("refund_issued.txt", include_str!("../templates/refund_issued.txt")),
    ("new_message.txt", include_str!("../templates/new_message.txt")),
    ("review_posted.txt", include_str!("../templates/review_posted.txt")),
    ("tutor_verified.txt", include_str!("../templates/tutor_verified.txt")),
    // `.html`: minijinja escapes every value in it.
    ("email.html", include_str!("../templates/email.html")),
];

#[derive(Debug, thiserror::Error)]
#[error("rendering the {template} template: {source}")]
pub struct TemplateError {
    template: &'static str,
    source: minijinja::Error,
}

/// Money as people read it: `40.00 EUR` (two decimals; the currencies we take have them).
pub fn money(m: Money) -> String {
    let sign = if m.amount_minor < 0 { "-" } else { "" };
    let abs = m.amount_minor.unsigned_abs();
    format!("{sign}{}.{:02} {}", abs / 100, abs % 100, m.currency)
}

fn time(at: DateTime<Utc>, zone: Option<&str>) -> String {
    match zone.and_then(|z| z.parse::<chrono_tz::Tz>().ok()) {
        Some(tz) => at.with_timezone(&tz).format("%a %-d %b %Y, %H:%M (%Z)").to_string(),
        None => at.format("%a %-d %b %Y, %H:%M (UTC)").to_string(),
    }
}

/// Renders `kind` for `recipient`: (title, body).
pub fn render(
    kind: Kind,
    vars: &Vars,
    recipient: Option<&Contact>,
    people: &HashMap<UserId, Contact>,
) -> Result<(String, String), TemplateError> {
    let zone = recipient.map(|c| c.time_zone.as_str());
    let mut context: BTreeMap<String, Value> = BTreeMap::new();
    let name = recipient.map(|c| c.first_name.trim()).filter(|n| !n.is_empty()).unwrap_or("there");
    context.insert("name".into(), Value::from(name));
    for (key, var) in vars {
        let value = match var {
            Var::Text(text) => Value::from(text.as_str()),
            Var::Int(n) => Value::from(*n),
            Var::Flag(b) => Value::from(*b),
            Var::Time(at) => Value::from(time(*at, zone)),
            Var::Money(m) => Value::from(money(*m)),
            Var::User { id, fallback } => {
                Value::from(people.get(id).map(Contact::name).filter(|n| !n.is_empty()).unwrap_or((*fallback).into()))
            }
        };
        context.insert((*key).into(), value);
    }
    let template = file(kind);
    let fail = |source| TemplateError { template, source };
    let text = ENVIRONMENT.get_template(template).map_err(fail)?.render(Value::from(context)).map_err(fail)?;
    let (title, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    Ok((title.trim().to_owned(), body.trim().to_owned()))
}

/// The HTML part of an email: the title and the body's paragraphs, every value escaped.
pub fn email_html(title: &str, body: &str, locale: &str) -> Result<String, TemplateError> {
    let paragraphs: Vec<Value> = body.split("\n\n").map(str::trim).filter(|p| !p.is_empty()).map(Value::from).collect();
    let mut context: BTreeMap<String, Value> = BTreeMap::new();
    context.insert("title".into(), Value::from(title));
    context.insert("locale".into(), Value::from(locale));
    context.insert("paragraphs".into(), Value::from(paragraphs));
    let fail = |source| TemplateError { template: "email.html", source };
    ENVIRONMENT.get_template("email.html").map_err(fail)?.render(Value::from(context)).map_err(fail)
}

#[cfg(test)]
mod tests {
    use kernel::Currency;

    use super::*;

    fn contact(first: &str, zone: &str) -> Contact {
        Contact {
            user_id: UserId::new(),
            email: "x@example.org".into(),
            first_name: first.into(),
            last_name: "Tester".into(),
            locale: "en".into(),
            time_zone: zone.into(),
            notify_email: true,
            notify_push: true,
            notify_sms: false,
        }
    }

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").expect("EUR"))
    }

    #[test]
    fn every_type_renders_a_title_and_a_body() {
        let student = contact("Sam", "UTC");
        let tutor = contact("Tia", "Europe/Berlin");
        let people: HashMap<UserId, Contact> =
            [(student.user_id, student.clone()), (tutor.user_id, tutor.clone())].into();
        let at = "2030-01-02T15:00:00Z".parse().expect("time");
        let vars: Vars = vec![
            ("role", Var::Text("STUDENT".into())),
            ("audience", Var::Text("tutor".into())),
            ("student", Var::User { id: student.user_id, fallback: "a student" }),
            ("tutor", Var::User { id: tutor.user_id, fallback: "your tutor" }),
            ("subject", Var::Text("maths".into())),
            ("starts_at", Var::Time(at)),
            ("payment_due_at", Var::Time(at)),
            ("minutes", Var::Int(60)),
            ("price", Var::Money(eur(4000))),
            ("meeting_url", Var::Text("https://meet.example/1".into())),
            ("cancelled_by", Var::Text("student".into())),
            ("reason", Var::Text("ill".into())),
            ("refund", Var::Money(eur(4000))),
            ("amount", Var::Money(eur(4000))),
            ("total", Var::Money(eur(4000))),
            ("sender", Var::User { id: student.user_id, fallback: "someone" }),
            ("preview", Var::Text("see you".into())),
            ("count", Var::Int(2)),
            ("rating", Var::Int(5)),
        ];
        for &kind in Kind::ALL {
            let (title, body) = render(kind, &vars, Some(&tutor), &people).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert!(!title.is_empty() && body.starts_with("Hi Tia,"), "{kind:?}: {title} / {body}");
        }
        let (title, body) = render(Kind::BookingConfirmed, &vars, Some(&tutor), &people).expect("renders");
        assert_eq!(title, "Session with Sam Tester confirmed");
        assert!(body.contains("Wed 2 Jan 2030, 16:00 (CET)"), "in the tutor's zone: {body}");
        assert!(body.contains("https://meet.example/1"));
    }

    #[test]
    fn unknown_people_get_a_fallback_and_money_reads_naturally() {
        let vars: Vars = vec![
            ("sender", Var::User { id: UserId::new(), fallback: "someone" }),
            ("count", Var::Int(1)),
            ("preview", Var::Text("hi".into())),
        ];
        let (title, body) = render(Kind::NewMessage, &vars, None, &HashMap::new()).expect("renders");
        assert_eq!(title, "New message from someone");
        assert!(body.starts_with("Hi there,") && body.contains("someone wrote:\nhi"), "{body}");
        let edited = [vars.clone(), vec![("edited", Var::Flag(true))]].concat();
        let (_, body) = render(Kind::NewMessage, &edited, None, &HashMap::new()).expect("renders");
        assert!(body.contains("someone edited their message") && !body.contains("wrote"), "{body}");
        assert_eq!(money(eur(-1205)), "-12.05 EUR");
    }

    #[test]
    fn email_html_escapes_what_users_wrote() {
        let html = email_html("New message from <b>Eve</b>", "Hi,\n\n<script>alert(1)</script> & more", "en")
            .expect("renders");
        assert!(
            html.contains("<h1 style=\"font-size: 1.3em\">New message from &lt;b&gt;Eve&lt;&#x2f;b&gt;</h1>"),
            "{html}"
        );
        assert!(html.contains("<p>&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; more</p>"), "{html}");
        assert!(!html.contains("<script>"));
    }
}
