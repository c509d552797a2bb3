//! The webhook endpoint: signatures, timestamps and replays.

use serde_json::json;

use crate::helpers::{SECRET, eur, sign, spawn, total};

#[tokio::test]
async fn forged_and_stale_webhooks_are_refused_and_replays_change_nothing() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Wes").await;
    let tutor = stack.register("TUTOR", "Wil").await;
    let booking = stack.request(&student, &tutor.id, None, eur(5000)).await;
    let id = stack.payment_id(&booking).await;
    let intent = stack.intent_of(&booking).await;

    // A forged success for the unpaid payment: bad signature, wrong secret, stale, missing.
    let forged = serde_json::to_vec(&json!({
        "id": "evt_forged", "object": "event", "type": "payment_intent.succeeded", "created": 0,
        "data": { "object": { "id": intent, "object": "payment_intent", "status": "succeeded" } },
    }))
    .expect("json");
    let now = chrono::Utc::now().timestamp();
    let tampered = sign(b"{}");
    let other_secret = payment::webhook::signature_header(b"whsec_someone_else", now, &forged);
    let stale = payment::webhook::signature_header(SECRET.as_bytes(), now - 301, &forged);
    for header in [tampered.as_str(), other_secret.as_str(), stale.as_str(), "t=1,v1=00", ""] {
        assert_eq!(stack.post_webhook(&forged, header).await, reqwest::StatusCode::BAD_REQUEST, "{header}");
    }
    assert_eq!(stack.payment_of(&booking, &student).await["status"], "PENDING", "nothing changed");

    // The real one arrives; replaying it (same event id, valid new signature) changes nothing.
    stack.pay(&student, &booking, "pm_card_visa").await;
    stack.events.wait_for("payment.PaymentSucceeded", &id).await;
    stack.wait_status(&booking, &student, "SUCCEEDED").await;
    let delivered = stack
        .provider
        .events()
        .into_iter()
        .find(|e| e["type"] == "payment_intent.succeeded" && e["data"]["object"]["id"] == intent.as_str())
        .expect("the provider sent it");
    let body = serde_json::to_vec(&delivered).expect("json");
    assert_eq!(stack.post_webhook(&body, &sign(&body)).await, reqwest::StatusCode::OK);
    assert_eq!(stack.post_webhook(&body, &sign(&body)).await, reqwest::StatusCode::OK);
    let ledger = stack.ledger().await;
    assert_eq!((ledger.len(), total(&ledger, "CHARGE", None)), (1, 5000), "{ledger:?}");
    assert_eq!(stack.outbox_count("payment.PaymentSucceeded").await, 1, "no second event was written");

    // Event types payment does not act on are acknowledged.
    let other = serde_json::to_vec(&json!({ "id": "evt_x", "type": "customer.created", "data": { "object": {} } }))
        .expect("json");
    assert_eq!(stack.post_webhook(&other, &sign(&other)).await, reqwest::StatusCode::OK);
    let garbage = b"not json";
    assert_eq!(stack.post_webhook(garbage, &sign(garbage)).await, reqwest::StatusCode::BAD_REQUEST);
}
