//! Delivery through real endpoints: email to an SMTP server the test runs, push and SMS to a
//! local HTTP provider (2xx sent, 5xx retried with backoff, 4xx failed for good), the embedded
//! log adapter; the delivery log and the published outcome events.

use chrono::{Duration, Utc};
use kernel::events::identity::UserProfileUpdated;
use notification::domain::{Channel, Kind, Outcome, Status};
use serde_json::json;

use crate::events::paid;
use crate::helpers::*;
use crate::provider::Provider;
use crate::smtp::SmtpSink;

const PREFS: &str = "mutation($i: [NotificationPreferenceInput!]!, $p: String) { updateNotificationPreferences(input: $i, phoneNumber: $p) { phoneNumber } }";

async fn register_device(stack: &Stack, user: &User, token: &str) {
    let body = stack
        .gql("mutation($t: String!) { registerPushDevice(token: $t) }", json!({ "t": token }), Some(&user.token))
        .await;
    assert_eq!(body["data"]["registerPushDevice"], true, "{body}");
}

#[tokio::test]
async fn email_goes_to_the_smtp_server_and_a_refused_address_fails_for_good() {
    let (sink, addr) = SmtpSink::start().await;
    let stack =
        spawn_with(&[("SMTP_URL", &format!("smtp://{addr}")), ("MAIL_FROM", "EduStream <hello@edustream.test>")]).await;
    let user = stack.user("STUDENT", "Eve").await;
    let list = stack.wait_settled(&user).await;
    let email = list.iter().find(|n| n.channel == Channel::Email).expect("a welcome email");
    assert_eq!(email.status, Status::Sent, "{email:?}");
    let contact = stack.service.store().contacts(&[user_id(&user)]).await.expect("store").remove(&user_id(&user));
    let address = contact.expect("known").email;
    let mails = sink.messages();
    assert_eq!(mails.len(), 1);
    assert_eq!((mails[0].from.as_str(), mails[0].to.clone()), ("hello@edustream.test", vec![address.clone()]));
    assert!(mails[0].data.contains("Subject: Welcome to EduStream, Eve!"), "{}", mails[0].data);
    assert!(mails[0].data.contains("Hi Eve,"), "the plain-text body: {}", mails[0].data);
    assert!(mails[0].data.contains("<h1 style="), "the HTML body: {}", mails[0].data);
    assert!(stack.mails().is_empty(), "no files when SMTP is configured");
    let log = stack.service.log(&[email.id]).await.expect("log");
    assert_eq!(log.iter().map(|a| (a.attempt, a.outcome)).collect::<Vec<_>>(), vec![(1, Outcome::Sent)]);

    // The relay refuses the new address (550): failed at once, and said so.
    stack
        .deliver(&UserProfileUpdated {
            user_id: user.id.clone(),
            email: "reject-me@example.org".into(),
            first_name: "Eve".into(),
            last_name: "Tester".into(),
            avatar_url: None,
            locale: "en".into(),
            time_zone: "UTC".into(),
            notify_email: true,
            notify_push: true,
            notify_sms: false,
        })
        .await;
    let id = user_id(&user);
    eventually("the new address", || async {
        let contacts = stack.service.store().contacts(&[id]).await.expect("store");
        contacts.get(&id).is_some_and(|c| c.email.starts_with("reject")).then_some(())
    })
    .await;
    stack.deliver(&paid(&user)).await;
    let list = stack
        .wait_history(&user, "the refused email", |l| {
            l.iter()
                .any(|n| n.kind == Kind::PaymentReceived && n.channel == Channel::Email && n.status == Status::Failed)
        })
        .await;
    let refused = list.iter().find(|n| n.kind == Kind::PaymentReceived && n.channel == Channel::Email).expect("email");
    assert_eq!(refused.attempts, 1, "a permanent failure is not retried");
    let event = stack.events.wait_for("notification.NotificationFailed", &refused.id.to_string()).await;
    assert!(event.payload["reason"].as_str().is_some_and(|r| r.contains("550")), "{}", event.payload);
}

#[tokio::test]
async fn push_is_retried_after_a_5xx_and_sms_fails_on_a_4xx() {
    let (push, push_url) = Provider::start(&[500, 200]).await;
    let (sms, sms_url) = Provider::start(&[400]).await;
    // A long first backoff: the retry happens when the test moves the clock, not by itself.
    let stack =
        spawn_with(&[("PUSH_PROVIDER_URL", &push_url), ("SMS_PROVIDER_URL", &sms_url), ("NOTIFY_RETRY_BASE", "1h")])
            .await;
    let user = stack.user("STUDENT", "Pat").await;
    register_device(&stack, &user, "device-token-0001").await;
    let prefs =
        json!({ "i": [{ "type": "PAYMENT_RECEIVED", "channel": "SMS", "enabled": true }], "p": "+4915112345678" });
    let body = stack.gql(PREFS, prefs, Some(&user.token)).await;
    assert_eq!(body["data"]["updateNotificationPreferences"]["phoneNumber"], "+4915112345678", "{body}");

    stack.deliver(&paid(&user)).await;
    let list = stack
        .wait_history(&user, "the first push attempt and the SMS failure", |l| {
            let of = |c| l.iter().find(|n| n.kind == Kind::PaymentReceived && n.channel == c);
            of(Channel::Push).is_some_and(|n| n.attempts == 1)
                && of(Channel::Sms).is_some_and(|n| n.status == Status::Failed)
                && l.iter().all(|n| n.channel == Channel::Push || n.status != Status::Pending)
        })
        .await;
    let of = |c| list.iter().find(|n| n.kind == Kind::PaymentReceived && n.channel == c).cloned().expect("there");
    let (push_n, sms_n) = (of(Channel::Push), of(Channel::Sms));
    assert_eq!(push_n.status, Status::Pending, "500: retried later");
    assert!(push_n.next_attempt_at.is_some_and(|at| at > Utc::now() + Duration::minutes(59)), "{push_n:?}");
    let failed = stack.events.wait_for("notification.NotificationFailed", &sms_n.id.to_string()).await;
    assert_eq!((failed.payload["channel"].as_str(), failed.payload["attempts"].as_u64()), (Some("SMS"), Some(1)));
    assert!(failed.payload["reason"].as_str().is_some_and(|r| r.contains("400")), "{}", failed.payload);
    assert_eq!(sms.received()[0]["to"], "+4915112345678");

    // An hour and more later, the retry goes through.
    let attempts = stack.service.dispatch_due(Utc::now() + Duration::hours(2)).await.expect("dispatches");
    assert_eq!(attempts, 1);
    let done = stack.history(&user).await.into_iter().find(|n| n.id == push_n.id).expect("push");
    assert_eq!((done.status, done.attempts), (Status::Sent, 2));
    let log = stack.service.log(&[push_n.id]).await.expect("log");
    assert_eq!(
        log.iter().map(|a| (a.attempt, a.outcome)).collect::<Vec<_>>(),
        vec![(1, Outcome::Retry), (2, Outcome::Sent)]
    );
    assert!(log[0].error.as_deref().is_some_and(|e| e.contains("500")), "{log:?}");
    let sent = stack.events.wait_for("notification.NotificationSent", &push_n.id.to_string()).await;
    assert_eq!(sent.payload["attempts"], 2);
    let received = push.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1]["to"], json!(["device-token-0001"]));
    assert_eq!(received[1]["title"], "Payment of 40.00 EUR received");
    assert_eq!(received[1]["type"], "PAYMENT_RECEIVED");
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_gives_up_after_the_last_attempt() {
    let (_push, push_url) = Provider::start(&[503]).await;
    let stack =
        spawn_with(&[("PUSH_PROVIDER_URL", &push_url), ("NOTIFY_RETRY_BASE", "1h"), ("NOTIFY_MAX_ATTEMPTS", "2")])
            .await;
    let user = stack.user("STUDENT", "Kai").await;
    register_device(&stack, &user, "device-token-0002").await;
    stack.deliver(&paid(&user)).await;
    let list = stack
        .wait_history(&user, "the first attempt", |l| {
            l.iter().any(|n| n.channel == Channel::Push && n.attempts == 1)
                && l.iter().all(|n| n.channel == Channel::Push || n.status != Status::Pending)
        })
        .await;
    let push = list.iter().find(|n| n.channel == Channel::Push).cloned().expect("push");
    stack.service.dispatch_due(Utc::now() + Duration::hours(2)).await.expect("dispatches");
    let failed = stack.events.wait_for("notification.NotificationFailed", &push.id.to_string()).await;
    assert_eq!(failed.payload["attempts"], 2);
    let log = stack.service.log(&[push.id]).await.expect("log");
    assert_eq!(log.iter().map(|a| a.outcome).collect::<Vec<_>>(), vec![Outcome::Retry, Outcome::Failed]);
    assert_eq!(stack.service.dispatch_due(Utc::now() + Duration::days(2)).await.expect("dispatches"), 0, "given up");
}

#[tokio::test]
async fn without_providers_pushes_are_logged_and_count_as_sent() {
    let stack = spawn().await;
    let user = stack.user("STUDENT", "Lou").await;
    register_device(&stack, &user, "device-token-0003").await;
    stack.deliver(&paid(&user)).await;
    let list = stack
        .wait_history(&user, "the logged push", |l| {
            l.iter().any(|n| n.kind == Kind::PaymentReceived && n.channel == Channel::Push && n.status == Status::Sent)
        })
        .await;
    let received: Vec<_> = list.iter().filter(|n| n.kind == Kind::PaymentReceived).map(|n| n.channel).collect();
    assert_eq!(received.len(), 3, "email, push and in-app (SMS is off by default): {received:?}");
}

#[tokio::test]
async fn a_dispatcher_claims_only_what_it_is_sending_and_records_attempts_when_they_finish() {
    const PUSHES: usize = 12;
    let (push, push_url) = Provider::start(&[503]).await;
    let stack = spawn_with(&[("PUSH_PROVIDER_URL", &push_url), ("NOTIFY_RETRY_BASE", "1h")]).await;
    let user = stack.user("STUDENT", "Cal").await;
    register_device(&stack, &user, "device-token-0004").await;
    for _ in 0..PUSHES {
        stack.deliver(&paid(&user)).await;
    }
    // Every push failed once (503) and waits an hour for its retry; everything else settled.
    stack
        .wait_history(&user, "a first attempt of every push", |l| {
            let pushes: Vec<_> = l.iter().filter(|n| n.channel == Channel::Push).collect();
            pushes.len() == PUSHES
                && pushes.iter().all(|n| n.attempts == 1)
                && l.iter().all(|n| n.channel == Channel::Push || n.status != Status::Pending)
        })
        .await;

    // Another pass two hours later, while the provider holds its answers.
    push.hold();
    let at = Utc::now() + Duration::hours(2);
    let service = stack.service.clone();
    let pass = tokio::spawn(async move { service.dispatch_due(at).await });
    // Claimed (leased beyond `at`) and not yet answered must be the same deliveries: a claim
    // taken for a delivery still waiting its turn in memory could expire under it.
    let in_flight = eventually("the claimed pushes to be the ones being sent", || async {
        let sending = push.received().len() - PUSHES;
        let claimed = stack
            .history(&user)
            .await
            .iter()
            .filter(|n| n.channel == Channel::Push && n.attempts == 1 && n.next_attempt_at.is_some_and(|t| t > at))
            .count();
        (sending > 0 && claimed == sending).then_some(sending)
    })
    .await;
    // The pass started before this and its attempts finish after the release: at least `held`
    // into the pass. Let the held attempts take measurable time.
    let observed = std::time::Instant::now();
    assert!(in_flight < PUSHES, "one parallel round, not the whole batch: {in_flight}");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let held = Duration::from_std(observed.elapsed()).expect("short");
    push.release();
    assert_eq!(pass.await.expect("joins").expect("dispatches"), PUSHES, "the later rounds follow in the same pass");

    let pushes: Vec<_> = stack.history(&user).await.into_iter().filter(|n| n.channel == Channel::Push).collect();
    let log = stack.service.log(&pushes.iter().map(|n| n.id).collect::<Vec<_>>()).await.expect("log");
    let finished_no_earlier_than = at + held - Duration::milliseconds(1);
    for n in &pushes {
        let second = log.iter().find(|a| a.notification_id == n.id && a.attempt == 2).expect("a second attempt");
        assert_eq!(second.outcome, Outcome::Retry);
        assert!(second.at >= finished_no_earlier_than, "recorded when it finished: {} < {}", second.at, at + held);
        let retry = n.next_attempt_at.expect("retried");
        // NOTIFY_RETRY_MAX (1h) caps the doubled pause.
        assert!(retry >= second.at + Duration::hours(1), "backoff from the end of the attempt: {n:?}");
    }
}
