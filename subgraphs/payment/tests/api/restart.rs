//! The provider outlives a restart of payment: a webhook it could not deliver meanwhile is
//! retried until the restarted service takes it, and booking's events wait in the queue.

use std::time::Duration;

use crate::helpers::{eur, spawn, start};

#[tokio::test]
async fn a_webhook_sent_while_payment_is_down_lands_after_the_restart() {
    let mut stack = spawn().await;
    let student = stack.register("STUDENT", "Res").await;
    let tutor = stack.register("TUTOR", "Tar").await;
    let booking = stack.request(&student, &tutor.id, None, eur(7000)).await;
    let id = stack.payment_id(&booking).await;
    let intent = stack.intent_of(&booking).await;

    stack.stop.trigger();
    (&mut stack.served).await.expect("joined").expect("payment stopped cleanly");
    // The student confirms with the provider directly (as client-side confirmation does): the
    // provider keeps retrying the success webhook while payment is down. Booking completes the
    // session meanwhile: its event waits in payment's queue.
    payment::PaymentProvider::confirm_intent(&*stack.provider, &format!("confirm-{id}"), &intent, "pm_card_visa")
        .await
        .expect("confirmed");
    stack.complete(&booking).await;

    let listener = rebind(stack.payment).await;
    let (db, stop, served) = start(&stack.graph, &stack.config, &stack.provider, listener).await;
    (stack.db, stack.stop, stack.served) = (db, stop, served);
    stack.events.wait_for("payment.PaymentSucceeded", &id).await;
    stack.wait_status(&booking, &student, "SUCCEEDED").await;
    let ledger = crate::helpers::eventually("the settlement", || async {
        let ledger = stack.ledger().await;
        ledger.iter().any(|e| e.kind == "TUTOR_EARNING").then_some(ledger)
    })
    .await;
    assert_eq!(crate::helpers::total(&ledger, "TUTOR_EARNING", None), 5_950);
}

/// The same port again (the old socket may take a moment to be released).
async fn rebind(addr: std::net::SocketAddr) -> tokio::net::TcpListener {
    for _ in 0..100 {
        if let Ok(listener) = tokio::net::TcpListener::bind(addr).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{addr} stayed taken");
}
