//! Earnings accrue when bookings complete; tutors take them into payouts, once; admins refund.

use serde_json::{Value, json};

use crate::helpers::{Booking, Stack, User, code, eur, eventually, spawn, total};

const PAYOUT: &str = "mutation($f: DateTime!, $t: DateTime!) { requestPayout(from: $f, to: $t) { id status amount { amountMinor currency } tutor { id } periodStart periodEnd } }";

async fn completed(stack: &Stack, student: &User, tutor: &User, tutor_id: &str, amount: i64) -> Booking {
    let booking = stack.request(student, &tutor.id, Some(tutor_id), eur(amount)).await;
    let id = stack.payment_id(&booking).await;
    stack.pay(student, &booking, "pm_card_visa").await;
    stack.events.wait_for("payment.PaymentSucceeded", &id).await;
    stack.complete(&booking).await;
    booking
}

fn period() -> Value {
    let now = chrono::Utc::now();
    json!({ "f": now - chrono::Duration::days(1), "t": now + chrono::Duration::seconds(1) })
}

#[tokio::test]
async fn completed_bookings_accrue_earnings_that_are_paid_out_once() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Sol").await;
    let tutor = stack.register("TUTOR", "Tess").await;
    let other_tutor = stack.register("TUTOR", "Otto").await;
    let tutor_id = uuid::Uuid::now_v7().to_string();
    let first = completed(&stack, &student, &tutor, &tutor_id, 10_000).await;
    let second = completed(&stack, &student, &tutor, &tutor_id, 3_333).await;
    let ledger = stack.ledger().await;
    // 15 %: 1500 of 10000; 499.95 of 3333 rounds to 500.
    assert_eq!(
        (total(&ledger, "TUTOR_EARNING", Some(&first)), total(&ledger, "PLATFORM_FEE", Some(&first))),
        (8_500, 1_500)
    );
    assert_eq!(
        (total(&ledger, "TUTOR_EARNING", Some(&second)), total(&ledger, "PLATFORM_FEE", Some(&second))),
        (2_833, 500)
    );

    // Validation and permissions.
    let now = chrono::Utc::now();
    let backwards = json!({ "f": now, "t": now - chrono::Duration::days(1) });
    assert_eq!(code(&stack.gql(PAYOUT, backwards, Some(&tutor.token)).await), "BAD_USER_INPUT");
    let future = json!({ "f": now, "t": now + chrono::Duration::days(3) });
    assert_eq!(code(&stack.gql(PAYOUT, future, Some(&tutor.token)).await), "BAD_USER_INPUT");
    assert_eq!(code(&stack.gql(PAYOUT, period(), Some(&student.token)).await), "FORBIDDEN");
    assert_eq!(code(&stack.gql(PAYOUT, period(), None).await), "UNAUTHENTICATED");
    assert_eq!(code(&stack.gql(PAYOUT, period(), Some(&other_tutor.token)).await), "CONFLICT", "nothing to pay");

    let body = stack.gql(PAYOUT, period(), Some(&tutor.token)).await;
    let payout = &body["data"]["requestPayout"];
    assert_eq!(payout["amount"], json!({ "amountMinor": 11_333, "currency": "EUR" }), "{body}");
    assert_eq!(payout["tutor"]["id"], tutor_id.as_str());
    let id = payout["id"].as_str().expect("id").to_owned();
    let initiated = stack.events.wait_for("payment.PayoutInitiated", &id).await;
    assert_eq!(initiated.payload["tutorUserId"], tutor.id.as_str());
    let done = stack.events.wait_for("payment.PayoutCompleted", &id).await;
    assert_eq!(done.payload["amount"]["amountMinor"], 11_333);

    // Paid once: the entries carry the payout; asking again finds nothing.
    let again = stack.gql(PAYOUT, period(), Some(&tutor.token)).await;
    assert_eq!(code(&again), "CONFLICT", "{again}");
    let ledger = stack.ledger().await;
    assert!(ledger.iter().filter(|e| e.kind == "TUTOR_EARNING").all(|e| e.payout.as_deref() == Some(id.as_str())));

    let mine = "{ payouts(first: 5) { edges { node { id status completedAt } } pageInfo { hasNextPage } } }";
    let body = eventually("the payout completed", || async {
        let body = stack.gql(mine, json!({}), Some(&tutor.token)).await;
        (body["data"]["payouts"]["edges"][0]["node"]["status"] == "COMPLETED").then_some(body)
    })
    .await;
    assert_eq!(body["data"]["payouts"]["edges"][0]["node"]["id"], id.as_str());
    assert!(body["data"]["payouts"]["edges"][0]["node"]["completedAt"].is_string());
    let body = stack.gql(mine, json!({}), Some(&other_tutor.token)).await;
    assert_eq!(body["data"]["payouts"]["edges"], json!([]));
    let body = stack.gql("{ payouts(first: 0) { pageInfo { hasNextPage } } }", json!({}), Some(&tutor.token)).await;
    assert_eq!(code(&body), "BAD_USER_INPUT");

    // `Tutor.payouts`: the tutor and admins.
    let of_tutor =
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on Tutor { payouts { edges { node { id } } } } } }";
    let rep = json!({ "r": [{ "__typename": "Tutor", "id": tutor_id }] });
    let body = stack.gql(of_tutor, rep.clone(), Some(&tutor.token)).await;
    assert_eq!(body["data"]["_entities"][0]["payouts"]["edges"][0]["node"]["id"], id.as_str(), "{body}");
    let body = stack.gql(of_tutor, rep.clone(), Some(&other_tutor.token)).await;
    assert_eq!(body["data"]["_entities"][0]["payouts"], Value::Null);
    let admin = stack.register("ADMIN", "Ada").await;
    let body = stack.gql(of_tutor, rep, Some(&admin.token)).await;
    assert_eq!(body["data"]["_entities"][0]["payouts"]["edges"][0]["node"]["id"], id.as_str());
}

#[tokio::test]
async fn only_admins_refund_and_a_refund_after_settlement_comes_out_of_earnings() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Rob").await;
    let tutor = stack.register("TUTOR", "Ria").await;
    let admin = stack.register("ADMIN", "Ada").await;
    let booking = completed(&stack, &student, &tutor, &uuid::Uuid::now_v7().to_string(), 5_000).await;
    let id = stack.payment_id(&booking).await;
    let refund = "mutation($p: ID!, $a: Int) { refundPayment(paymentId: $p, amountMinor: $a) { id status } }";

    assert_eq!(code(&stack.gql(refund, json!({ "p": id, "a": 100 }), Some(&student.token)).await), "FORBIDDEN");
    assert_eq!(code(&stack.gql(refund, json!({ "p": id, "a": 100 }), Some(&tutor.token)).await), "FORBIDDEN");
    assert_eq!(code(&stack.gql(refund, json!({ "p": id, "a": 0 }), Some(&admin.token)).await), "BAD_USER_INPUT");
    let body = stack.gql(refund, json!({ "p": id, "a": 5_001 }), Some(&admin.token)).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "above what remains: {body}");
    let unknown = json!({ "p": uuid::Uuid::now_v7().to_string(), "a": 1 });
    assert_eq!(code(&stack.gql(refund, unknown, Some(&admin.token)).await), "NOT_FOUND");

    let body = stack.gql(refund, json!({ "p": id, "a": 1_000 }), Some(&admin.token)).await;
    assert_eq!(body["data"]["refundPayment"]["id"], id.as_str(), "{body}");
    let processed = stack.events.wait_for("payment.RefundProcessed", &id).await;
    assert_eq!(processed.payload["amount"]["amountMinor"], 1_000);
    stack.wait_status(&booking, &student, "PARTIALLY_REFUNDED").await;
    let ledger = eventually("the reversal", || async {
        let ledger = stack.ledger().await;
        ledger.iter().any(|e| e.kind == "TUTOR_EARNING" && e.amount < 0).then_some(ledger)
    })
    .await;
    // 4250 earned, then 1000 reversed; the fee (750) stays.
    assert_eq!(total(&ledger, "TUTOR_EARNING", Some(&booking)), 3_250);
    assert_eq!(
        total(&ledger, "CHARGE", None) - total(&ledger, "REFUND", None),
        total(&ledger, "TUTOR_EARNING", None) + total(&ledger, "PLATFORM_FEE", None)
    );

    // The rest (omitted amount), then nothing remains.
    let body = stack.gql(refund, json!({ "p": id }), Some(&admin.token)).await;
    assert!(body["errors"].is_null(), "{body}");
    stack.wait_status(&booking, &student, "REFUNDED").await;
    let body = stack.gql(refund, json!({ "p": id }), Some(&admin.token)).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
}
