//! The ledger balances after many bookings with random outcomes.

use std::collections::{BTreeMap, HashSet};

use kernel::{Currency, Money};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::helpers::{eventually, spawn};

#[tokio::test]
async fn the_ledger_balances_after_many_random_bookings() {
    let stack = spawn().await;
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let student = stack.register("STUDENT", "Ran").await;
    let tutors = [stack.register("TUTOR", "T1").await, stack.register("TUTOR", "T2").await];
    let admin = stack.register("ADMIN", "Ada").await;
    let currencies = [Currency::parse("EUR").expect("valid"), Currency::parse("USD").expect("valid")];
    let mut charged = 0;

    for _ in 0..40 {
        let tutor = &tutors[rng.gen_range(0..tutors.len())];
        let price = Money::new(rng.gen_range(500..=20_000), currencies[rng.gen_range(0..2)]);
        let booking = stack.request(&student, &tutor.id, None, price).await;
        let id = stack.payment_id(&booking).await;
        match rng.gen_range(0..10) {
            // Never paid: booking cancels it.
            0 => stack.cancel(&booking, false, 0).await,
            // Declined, then booking cancels it.
            1 | 2 => {
                let card = if rng.gen_bool(0.5) { "pm_card_chargeDeclined" } else { "4000000000009995" };
                stack.pay(&student, &booking, card).await;
                stack.events.wait_for("payment.PaymentFailed", &id).await;
                stack.cancel(&booking, false, 0).await;
            }
            // Paid, then cancelled before booking saw the payment (possibly while it is under way).
            3 => {
                stack.pay(&student, &booking, "4242424242424242").await;
                charged += 1;
                stack.cancel(&booking, false, 0).await;
            }
            // Paid, then completed or cancelled with a random refund; sometimes an admin refunds later.
            _ => {
                stack.pay(&student, &booking, "pm_card_visa").await;
                charged += 1;
                stack.events.wait_for("payment.PaymentSucceeded", &id).await;
                if rng.gen_bool(0.5) {
                    stack.complete(&booking).await;
                } else {
                    let refund = price.amount_minor * rng.gen_range(0..=100) / 100;
                    stack.cancel(&booking, true, refund).await;
                }
                if rng.gen_bool(0.2) {
                    let body = stack
                        .gql(
                            "mutation($p: ID!, $a: Int) { refundPayment(paymentId: $p, amountMinor: $a) { id } }",
                            serde_json::json!({ "p": id, "a": rng.gen_range(1..=100) }),
                            Some(&admin.token),
                        )
                        .await;
                    // Refused only when nothing remains (fully refunded by the cancellation).
                    assert!(
                        body["errors"].is_null() || crate::helpers::code(&body) == "BAD_USER_INPUT",
                        "seed {seed}: {body}"
                    );
                }
            }
        }
    }

    eventually("every booking settled", || async { (stack.unsettled().await == 0).then_some(()) }).await;
    let ledger = stack.ledger().await;
    let mut sums: BTreeMap<(String, String), i64> = BTreeMap::new();
    for entry in &ledger {
        *sums.entry((entry.currency.clone(), entry.kind.clone())).or_default() += entry.amount;
    }
    for currency in ["EUR", "USD"] {
        let sum = |kind: &str| sums.get(&(currency.to_owned(), kind.to_owned())).copied().unwrap_or(0);
        assert_eq!(
            sum("CHARGE") - sum("REFUND"),
            sum("TUTOR_EARNING") + sum("PLATFORM_FEE"),
            "seed {seed}: {currency} does not balance: {sums:?}"
        );
    }
    // Each booking is charged, earned and charged a fee at most once.
    let mut seen = HashSet::new();
    for entry in ledger.iter().filter(|e| e.kind != "REFUND" && !(e.kind == "TUTOR_EARNING" && e.amount < 0)) {
        assert!(seen.insert((entry.booking.clone(), entry.kind.clone())), "seed {seed}: counted twice: {entry:?}");
    }
    assert_eq!(ledger.iter().filter(|e| e.kind == "CHARGE").count(), charged, "seed {seed}");
    assert!(ledger.iter().all(|e| e.kind == "TUTOR_EARNING" || e.amount > 0), "seed {seed}: {ledger:?}");
}
