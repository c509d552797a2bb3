//! Opening a booking's payment, paying it, and who may see and pay it.

use serde_json::{Value, json};

use crate::helpers::{PAYMENT_FIELDS, code, eur, spawn, total};

#[tokio::test]
async fn a_requested_booking_opens_one_pending_payment() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Sam").await;
    let tutor = stack.register("TUTOR", "Tia").await;
    let stranger = stack.register("STUDENT", "Sly").await;
    let booking = stack.request(&student, &tutor.id, None, eur(4500)).await;
    let id = stack.payment_id(&booking).await;
    let requested = stack.events.wait_for("payment.PaymentRequested", &id).await;
    assert_eq!(requested.payload["amount"], json!({ "amountMinor": 4500, "currency": "EUR" }));
    assert_eq!(
        (requested.payload["payerId"].as_str(), requested.payload["tutorId"].as_str()),
        (Some(student.id.as_str()), Some(booking.slot.tutor_id.as_str()))
    );

    // At-least-once delivery: the same event again, and another event of the same booking.
    let envelope = stack.request_envelope(&booking).await;
    stack.bus_redeliver(&envelope).await;
    stack.bus_redeliver(&envelope).await;
    let read = format!("query($id: ID!) {{ payment(id: $id) {{ {PAYMENT_FIELDS} }} }}");
    let body = stack.gql(&read, json!({ "id": id }), Some(&student.token)).await;
    let payment = &body["data"]["payment"];
    assert_eq!((payment["status"].as_str(), payment["refunded"]["amountMinor"].as_i64()), (Some("PENDING"), Some(0)));
    assert_eq!(payment["tutor"]["id"], booking.slot.tutor_id.as_str(), "{body}");
    assert_eq!(stack.events.of_type("payment.PaymentRequested").len(), 1, "one payment per booking");
    assert_eq!(stack.payment_of(&booking, &tutor).await["id"], id.as_str(), "the tutor sees it");

    // Nobody else does.
    let body = stack.gql(&read, json!({ "id": id }), Some(&stranger.token)).await;
    assert_eq!(body["data"]["payment"], Value::Null, "{body}");
    let body = stack.gql(&read, json!({ "id": id }), None).await;
    assert_eq!(body["data"]["payment"], Value::Null);
    assert_eq!(stack.payment_of(&booking, &stranger).await, Value::Null);
    let body = stack.gql(&read, json!({ "id": "nope" }), Some(&student.token)).await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn a_good_card_succeeds_when_the_provider_reports_it() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Ana").await;
    let tutor = stack.register("TUTOR", "Teo").await;
    let booking = stack.request(&student, &tutor.id, None, eur(6000)).await;
    let id = stack.payment_id(&booking).await;

    let body = stack.pay(&student, &booking, "4242424242424242").await;
    let status = body["data"]["payForBooking"]["status"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    assert!(["PENDING", "SUCCEEDED"].contains(&status.as_str()), "the charge completes asynchronously: {status}");
    let succeeded = stack.events.wait_for("payment.PaymentSucceeded", &id).await;
    assert_eq!(succeeded.payload["amount"]["amountMinor"], 6000);
    assert_eq!(succeeded.payload["bookingId"], booking.slot.booking_id.as_str());
    let payment = stack.wait_status(&booking, &student, "SUCCEEDED").await;
    assert_eq!(payment["failureReason"], Value::Null);
    let ledger = stack.ledger().await;
    assert_eq!(total(&ledger, "CHARGE", Some(&booking)), 6000);
    assert_eq!(ledger.len(), 1, "nothing is earned before the booking ends: {ledger:?}");
}

#[tokio::test]
async fn paying_straight_after_the_request_waits_for_the_payment_to_open() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Ray").await;
    let tutor = stack.register("TUTOR", "Tia").await;
    // `BookingRequested` is published, not yet consumed: pay at once, as a client does right
    // after `requestBooking` returned.
    for _ in 0..5 {
        let booking = stack.request(&student, &tutor.id, None, eur(2000)).await;
        let body = stack.pay(&student, &booking, "pm_card_visa").await;
        assert!(body["errors"].is_null(), "{body}");
        let status = body["data"]["payForBooking"]["status"].as_str();
        assert!(matches!(status, Some("PENDING" | "SUCCEEDED")), "the charge was sent: {body}");
    }
}

#[tokio::test]
async fn declined_cards_fail_the_payment_with_the_providers_code() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Dee").await;
    let tutor = stack.register("TUTOR", "Tom").await;
    for (method, reason) in [("pm_card_chargeDeclined", "card_declined"), ("4000000000009995", "insufficient_funds")] {
        let booking = stack.request(&student, &tutor.id, None, eur(3000)).await;
        let id = stack.payment_id(&booking).await;
        let body = stack.pay(&student, &booking, method).await;
        assert!(body["errors"].is_null(), "{body}");
        let failed = stack.events.wait_for("payment.PaymentFailed", &id).await;
        assert_eq!(failed.payload["reason"], reason);
        let payment = stack.wait_status(&booking, &student, "FAILED").await;
        assert_eq!(payment["failureReason"], reason);
        let again = stack.pay(&student, &booking, "pm_card_visa").await;
        assert_eq!(code(&again), "CONFLICT", "a failed payment is final: {again}");
    }
    assert!(stack.ledger().await.is_empty(), "nothing was charged");
}

#[tokio::test]
async fn only_the_payer_pays_and_with_one_known_method() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Pia").await;
    let other = stack.register("STUDENT", "Oz").await;
    let tutor = stack.register("TUTOR", "Ty").await;
    let unknown = stack
        .pay(
            &student,
            &crate::helpers::Booking {
                slot: kernel::events::booking::BookedSlot {
                    booking_id: uuid::Uuid::now_v7().to_string(),
                    tutor_id: uuid::Uuid::now_v7().to_string(),
                    student_id: student.id.clone(),
                    starts_at: chrono::Utc::now(),
                    ends_at: chrono::Utc::now(),
                },
                tutor_user_id: tutor.id.clone(),
                price: eur(1),
            },
            "pm_card_visa",
        )
        .await;
    // Waited for (`PAYMENT_OPEN_WAIT_MS`), then refused like any booking that is not the caller's.
    assert_eq!(code(&unknown), "NOT_FOUND", "{unknown}");
    assert_eq!(unknown["errors"][0]["extensions"]["retryAfter"], 1, "{unknown}");

    let booking = stack.request(&student, &tutor.id, None, eur(2500)).await;
    let id = stack.payment_id(&booking).await;
    // Outsiders learn nothing: someone else's booking is answered as one that does not exist.
    for outsider in [&other, &tutor] {
        let body = stack.pay(outsider, &booking, "pm_card_visa").await;
        assert_eq!(code(&body), "NOT_FOUND", "{body}");
        assert_eq!(body["errors"][0]["message"], unknown["errors"][0]["message"], "{body}");
    }
    let body = stack.pay(&student, &booking, "4111111111111111").await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "not a test card: {body}");
    let body = stack.pay(&student, &booking, "  ").await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = stack
        .gql(
            "mutation($b: ID!) { payForBooking(bookingId: $b, paymentMethod: \"pm_card_visa\") { id } }",
            json!({ "b": booking.slot.booking_id }),
            None,
        )
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED");
    let body = stack
        .gql(
            "mutation { payForBooking(bookingId: \"nope\", paymentMethod: \"pm_card_visa\") { id } }",
            json!({}),
            Some(&student.token),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");

    // The refused attempts left the payment open: the first real method counts.
    let first = stack.pay(&student, &booking, "pm_card_visa").await;
    assert_eq!(first["data"]["payForBooking"]["id"], id.as_str(), "{first}");
    let again = stack.pay(&student, &booking, "pm_card_visa").await;
    assert_eq!(again["data"]["payForBooking"]["id"], id.as_str(), "the same method again: the same answer: {again}");
    let other_method = stack.pay(&student, &booking, "pm_card_chargeDeclined").await;
    assert_eq!(code(&other_method), "CONFLICT", "{other_method}");
    // A method the provider would refuse is bad input first, never a conflict with the first.
    let invalid = stack.pay(&student, &booking, "4111111111111111").await;
    assert_eq!(code(&invalid), "BAD_USER_INPUT", "{invalid}");
    let message = invalid["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(!message.contains("4111"), "a card number is never echoed: {message}");
    stack.events.wait_for("payment.PaymentSucceeded", &id).await;
    let after = stack.pay(&student, &booking, "pm_card_visa").await;
    assert_eq!(after["data"]["payForBooking"]["status"], "SUCCEEDED", "{after}");
    assert_eq!(stack.events.of_type("payment.PaymentSucceeded").len(), 1, "charged once");
}
