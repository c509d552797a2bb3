//! Each consumed event becomes the right notifications for the right people, on the channels
//! they get; redelivered events change nothing.

use kernel::events::booking::{BookingCancelled, BookingCompleted, BookingRequested, CancelledBy};
use kernel::events::identity::UserProfileUpdated;
use kernel::events::payment::{PaymentFailed, PaymentSucceeded, RefundProcessed};
use kernel::events::review::{ReviewPosted, ReviewStateFields};
use kernel::events::tutoring::TutorVerified;
use kernel::{Currency, EventEnvelope, Money};
use notification::domain::{Channel, Kind, Status};
use serde_json::json;

use crate::helpers::*;

pub fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").expect("EUR"))
}

pub fn paid(payer: &User) -> PaymentSucceeded {
    PaymentSucceeded {
        payment_id: uuid::Uuid::now_v7().to_string(),
        booking_id: uuid::Uuid::now_v7().to_string(),
        payer_id: payer.id.clone(),
        amount: eur(4000),
    }
}

fn both(kind: Kind) -> Vec<(Kind, Channel)> {
    vec![(kind, Channel::Email), (kind, Channel::InApp)]
}

#[tokio::test]
async fn registering_sends_a_welcome_in_the_app_and_by_email_written_as_a_file() {
    let stack = spawn().await;
    let user = stack.user("STUDENT", "Ada").await;
    let list = stack.wait_settled(&user).await;
    assert_eq!(kinds(&list), both(Kind::Welcome));
    assert!(list.iter().all(|n| n.status == Status::Sent && n.title == "Welcome to EduStream, Ada!"), "{list:?}");
    for n in &list {
        let sent = stack.events.wait_for("notification.NotificationSent", &n.id.to_string()).await;
        assert_eq!(
            (sent.payload["kind"].as_str(), sent.payload["recipientId"].as_str()),
            (Some("WELCOME"), Some(user.id.as_str()))
        );
    }
    let contact = stack.service.store().contacts(&[user_id(&user)]).await.expect("store").remove(&user_id(&user));
    let email = contact.expect("known").email;
    let mails = stack.mails();
    assert_eq!(mails.len(), 1, "one .eml file in MAIL_DIR");
    assert!(mails[0].contains(&format!("<{email}>")), "{}", mails[0]);
    assert!(mails[0].contains("Subject: Welcome to EduStream, Ada!"), "{}", mails[0]);
    assert!(mails[0].contains("text/html") && mails[0].contains("text/plain"), "both alternatives: {}", mails[0]);
}

#[tokio::test]
async fn booking_events_notify_the_student_and_the_tutor() {
    let stack = spawn().await;
    let (student, tutor) = (stack.user("STUDENT", "Sam").await, stack.user("TUTOR", "Tia").await);
    let profile = uuid::Uuid::now_v7().to_string();
    let slot = slot(&student.id, &profile);
    stack
        .deliver(&BookingRequested {
            slot: slot.clone(),
            tutor_user_id: tutor.id.clone(),
            subject: "maths".into(),
            price: eur(4000),
            payment_due_at: slot.starts_at - chrono::Duration::hours(12),
        })
        .await;
    let to_student = stack.wait_kind(&student, Kind::BookingRequested, 2).await;
    let to_tutor = stack.wait_kind(&tutor, Kind::BookingRequested, 2).await;
    assert_eq!(kinds(&to_student), both(Kind::BookingRequested));
    assert_eq!(to_student[0].title, "Your booking request to Tia Tester");
    assert!(to_student[0].body.contains("Please pay 40.00 EUR by"), "{}", to_student[0].body);
    assert_eq!(to_tutor[0].title, "New booking request from Sam Tester");

    // Later booking events name only the tutor profile: notification remembers its user.
    stack.confirm(&student, &profile).await;
    let confirmed = stack.wait_kind(&tutor, Kind::BookingConfirmed, 2).await;
    assert_eq!(confirmed[0].title, "Session with Sam Tester confirmed");
    assert!(confirmed[0].body.contains("https://meet.example/x"));
    stack.wait_kind(&student, Kind::BookingConfirmed, 2).await;

    let cancelled = BookingCancelled {
        slot: slot.clone(),
        cancelled_by: CancelledBy::Tutor,
        reason: "ill".into(),
        paid: true,
        refund: eur(4000),
    };
    stack.deliver(&cancelled).await;
    let to_student = stack.wait_kind(&student, Kind::BookingCancelled, 2).await;
    assert!(to_student[0].body.contains("Tia Tester cancelled the session"), "{}", to_student[0].body);
    assert!(to_student[0].body.contains("40.00 EUR will be refunded to you"), "{}", to_student[0].body);
    let to_tutor = stack.wait_kind(&tutor, Kind::BookingCancelled, 2).await;
    assert!(to_tutor[0].body.contains("You cancelled the session with Sam Tester"), "{}", to_tutor[0].body);
    assert!(!to_tutor[0].body.contains("refunded"));

    stack.deliver(&BookingCompleted { slot }).await;
    let to_student = stack.wait_kind(&student, Kind::BookingCompleted, 2).await;
    assert!(to_student[0].body.contains("Leave a review"));
    stack.wait_kind(&tutor, Kind::BookingCompleted, 2).await;
}

#[tokio::test]
async fn payment_review_and_verification_events_reach_the_right_user() {
    let stack = spawn().await;
    let (student, tutor) = (stack.user("STUDENT", "Pia").await, stack.user("TUTOR", "Tom").await);
    let profile = uuid::Uuid::now_v7().to_string();
    let payment = paid(&student);
    stack.deliver(&payment).await;
    let received = stack.wait_kind(&student, Kind::PaymentReceived, 2).await;
    assert_eq!(received[0].title, "Payment of 40.00 EUR received");
    stack
        .deliver(&PaymentFailed {
            payment_id: payment.payment_id.clone(),
            booking_id: payment.booking_id.clone(),
            payer_id: student.id.clone(),
            reason: "card_declined".into(),
        })
        .await;
    let failed = stack.wait_kind(&student, Kind::PaymentFailed, 2).await;
    assert!(failed[0].body.contains("(card declined)"), "{}", failed[0].body);
    stack
        .deliver(&RefundProcessed {
            refund_id: uuid::Uuid::now_v7().to_string(),
            payment_id: payment.payment_id,
            booking_id: payment.booking_id,
            payer_id: student.id.clone(),
            amount: eur(1000),
            total_refunded: eur(3000),
        })
        .await;
    let refund = stack.wait_kind(&student, Kind::RefundIssued, 2).await;
    assert!(refund[0].body.contains("We refunded 10.00 EUR") && refund[0].body.contains("30.00 EUR refunded in all"));

    stack
        .deliver(&TutorVerified { tutor_id: profile.clone(), user_id: tutor.id.clone(), verified_by: "admin".into() })
        .await;
    stack.wait_kind(&tutor, Kind::TutorVerified, 2).await;
    let state = ReviewStateFields {
        tutor_id: profile,
        booking_id: uuid::Uuid::now_v7().to_string(),
        student_id: student.id.clone(),
        rating: 5,
        published: true,
        revision: 1,
        at: chrono::Utc::now(),
    };
    stack.deliver(&ReviewPosted { review_id: uuid::Uuid::now_v7().to_string(), state }).await;
    let review = stack.wait_kind(&tutor, Kind::ReviewPosted, 2).await;
    assert_eq!(review[0].title, "Pia Tester reviewed your session: 5/5");
    let theirs: Vec<Kind> = stack.history(&student).await.iter().map(|n| n.kind).collect();
    assert!(!theirs.contains(&Kind::ReviewPosted) && !theirs.contains(&Kind::TutorVerified), "{theirs:?}");
}

#[tokio::test]
async fn preferences_and_identitys_opt_outs_are_honoured_and_redelivery_creates_nothing() {
    let stack = spawn().await;
    let user = stack.user("STUDENT", "Ola").await;
    let body = stack
        .gql(
            "mutation($i: [NotificationPreferenceInput!]!) { updateNotificationPreferences(input: $i) { phoneNumber } }",
            json!({ "i": [{ "type": "PAYMENT_RECEIVED", "channel": "EMAIL", "enabled": false }] }),
            Some(&user.token),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let payment = stack.deliver(&paid(&user)).await;
    let received = stack.wait_kind(&user, Kind::PaymentReceived, 1).await;
    assert_eq!(kinds(&received), vec![(Kind::PaymentReceived, Channel::InApp)], "email turned off for this type");

    // identity's opt-out of email is the default for every type not set here.
    let contact = stack.service.store().contacts(&[user_id(&user)]).await.expect("store").remove(&user_id(&user));
    let contact = contact.expect("known");
    stack
        .deliver(&UserProfileUpdated {
            user_id: user.id.clone(),
            email: contact.email,
            first_name: "Ola".into(),
            last_name: "Tester".into(),
            avatar_url: None,
            locale: "en".into(),
            time_zone: "Europe/Oslo".into(),
            notify_email: false,
            notify_push: true,
            notify_sms: false,
        })
        .await;
    let id = user_id(&user);
    eventually("the opt-out to arrive", || async {
        let contacts = stack.service.store().contacts(&[id]).await.expect("store");
        contacts.get(&id).is_some_and(|c| !c.notify_email).then_some(())
    })
    .await;
    stack.bus_redeliver(&payment).await;
    let failed = PaymentFailed {
        payment_id: uuid::Uuid::now_v7().to_string(),
        booking_id: uuid::Uuid::now_v7().to_string(),
        payer_id: user.id.clone(),
        reason: "expired_card".into(),
    };
    stack.deliver(&failed).await;
    // One queue delivers in order: once the failure is in, the redelivery was handled before it.
    let list = stack.wait_kind(&user, Kind::PaymentFailed, 1).await;
    assert_eq!(kinds(&list), vec![(Kind::PaymentFailed, Channel::InApp)], "no email after the opt-out");
    let received = stack.history(&user).await.into_iter().filter(|n| n.kind == Kind::PaymentReceived).count();
    assert_eq!(received, 1, "the redelivered payment created nothing");
}

#[tokio::test]
async fn an_older_profile_update_arriving_late_does_not_overwrite_a_newer_one() {
    let stack = spawn().await;
    let user = stack.user("STUDENT", "Uma").await;
    let update = |first_name: &str, time_zone: &str, notify_email| UserProfileUpdated {
        user_id: user.id.clone(),
        email: format!("{}@example.org", first_name.to_lowercase()),
        first_name: first_name.into(),
        last_name: "Tester".into(),
        avatar_url: None,
        locale: "en".into(),
        time_zone: time_zone.into(),
        notify_email,
        notify_push: true,
        notify_sms: false,
    };
    let newer = EventEnvelope::wrap(&update("Newer", "Europe/Oslo", false), None);
    // Another event (the inbox does not dedupe it), published an hour before the newer one.
    let mut older = EventEnvelope::wrap(&update("Older", "UTC", true), None);
    older.occurred_at = newer.occurred_at - chrono::Duration::hours(1);
    stack.bus_redeliver(&newer).await;
    stack.consumed(&newer).await;
    stack.bus_redeliver(&older).await;
    stack.consumed(&older).await;

    let id = user_id(&user);
    let contact = stack.service.store().contacts(&[id]).await.expect("store").remove(&id).expect("known");
    assert_eq!(
        (contact.first_name.as_str(), contact.email.as_str(), contact.time_zone.as_str(), contact.notify_email),
        ("Newer", "newer@example.org", "Europe/Oslo", false),
        "the newer profile stays"
    );
}
