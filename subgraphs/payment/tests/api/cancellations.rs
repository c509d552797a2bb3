//! The booking saga's compensations: cancelled bookings get their refund, unpaid ones are
//! abandoned, and the ledger settles what the booking retained.

use crate::helpers::{Stack, User, code, eur, spawn, total};

async fn paid_booking(stack: &Stack, student: &User, tutor: &User, amount: i64) -> (crate::helpers::Booking, String) {
    let booking = stack.request(student, &tutor.id, None, eur(amount)).await;
    let id = stack.payment_id(&booking).await;
    stack.pay(student, &booking, "pm_card_visa").await;
    stack.events.wait_for("payment.PaymentSucceeded", &id).await;
    (booking, id)
}

#[tokio::test]
async fn cancelling_a_paid_booking_refunds_what_booking_granted_and_settles_the_rest() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Cal").await;
    let tutor = stack.register("TUTOR", "Cat").await;
    let (booking, id) = paid_booking(&stack, &student, &tutor, 8000).await;

    stack.cancel(&booking, true, 4000).await;
    let refunded = stack.events.wait_for("payment.RefundProcessed", &id).await;
    assert_eq!(refunded.payload["amount"]["amountMinor"], 4000);
    assert_eq!(refunded.payload["totalRefunded"]["amountMinor"], 4000);
    let payment = stack.wait_status(&booking, &student, "PARTIALLY_REFUNDED").await;
    assert_eq!(payment["refunded"]["amountMinor"], 4000);

    let ledger = crate::helpers::eventually("the settlement", || async {
        let ledger = stack.ledger().await;
        ledger.iter().any(|e| e.kind == "TUTOR_EARNING").then_some(ledger)
    })
    .await;
    assert_eq!(total(&ledger, "CHARGE", Some(&booking)), 8000);
    assert_eq!(total(&ledger, "REFUND", Some(&booking)), 4000);
    // 15 % of the 4000 retained.
    assert_eq!(total(&ledger, "PLATFORM_FEE", Some(&booking)), 600);
    assert_eq!(total(&ledger, "TUTOR_EARNING", Some(&booking)), 3400);

    // Booking reporting it again, or completing it afterwards, changes nothing.
    stack.cancel(&booking, true, 4000).await;
    stack.complete(&booking).await;
    assert_eq!(stack.ledger().await.len(), ledger.len());
    assert_eq!(stack.outbox_count("payment.RefundProcessed").await, 1);
}

#[tokio::test]
async fn a_paid_booking_cancelled_before_booking_saw_the_payment_is_refunded_in_full() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Flo").await;
    let tutor = stack.register("TUTOR", "Fin").await;
    let (booking, id) = paid_booking(&stack, &student, &tutor, 4200).await;

    stack.cancel(&booking, false, 0).await;
    let refunded = stack.events.wait_for("payment.RefundProcessed", &id).await;
    assert_eq!(refunded.payload["amount"]["amountMinor"], 4200);
    stack.wait_status(&booking, &student, "REFUNDED").await;
    let ledger = stack.ledger().await;
    assert_eq!(total(&ledger, "REFUND", Some(&booking)), 4200);
    assert_eq!(total(&ledger, "TUTOR_EARNING", None) + total(&ledger, "PLATFORM_FEE", None), 0);
    assert_eq!(stack.unsettled().await, 0, "settled with nothing retained");
}

#[tokio::test]
async fn cancelling_an_unpaid_booking_abandons_its_payment() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Uma").await;
    let tutor = stack.register("TUTOR", "Ugo").await;
    let booking = stack.request(&student, &tutor.id, None, eur(3000)).await;
    let id = stack.payment_id(&booking).await;

    stack.cancel(&booking, false, 0).await;
    let failed = stack.events.wait_for("payment.PaymentFailed", &id).await;
    assert_eq!(failed.payload["reason"], "cancelled");
    let payment = stack.wait_status(&booking, &student, "CANCELLED").await;
    assert_eq!(payment["failureReason"], "cancelled");
    let body = stack.pay(&student, &booking, "pm_card_visa").await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    assert!(stack.ledger().await.is_empty());
    assert_eq!(stack.unsettled().await, 0);
}

#[tokio::test]
async fn a_charge_under_way_when_the_booking_is_cancelled_is_refunded_in_full() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Rae").await;
    let tutor = stack.register("TUTOR", "Rex").await;
    let booking = stack.request(&student, &tutor.id, None, eur(2000)).await;
    let id = stack.payment_id(&booking).await;
    // Cancelled while unpaid: paying through payment is refused from then on.
    stack.cancel(&booking, false, 0).await;
    stack.wait_status(&booking, &student, "CANCELLED").await;
    assert_eq!(code(&stack.pay(&student, &booking, "pm_card_visa").await), "CONFLICT");

    // A charge confirmed straight with the provider (as a client-side confirmation would be)
    // after the cancellation: its success is refunded in full.
    let intent = stack.intent_of(&booking).await;
    payment::PaymentProvider::confirm_intent(&*stack.provider, &format!("confirm-{id}"), &intent, "pm_card_visa")
        .await
        .expect("confirmed");
    stack.events.wait_for("payment.PaymentSucceeded", &id).await;
    let refunded = stack.events.wait_for("payment.RefundProcessed", &id).await;
    assert_eq!(refunded.payload["amount"]["amountMinor"], 2000);
    stack.wait_status(&booking, &student, "REFUNDED").await;
    crate::helpers::eventually("the settlement", || async { (stack.unsettled().await == 0).then_some(()) }).await;
    let ledger = stack.ledger().await;
    assert_eq!(total(&ledger, "CHARGE", None) - total(&ledger, "REFUND", None), 0);
}
