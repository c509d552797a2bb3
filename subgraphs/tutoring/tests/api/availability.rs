//! The weekly schedule, time off and bookable slots, across a DST change and with bookings.

use kernel::events::booking::{BookedSlot, BookingCancelled, BookingRequested, CancelledBy};
use kernel::{Currency, Money};
use serde_json::{Value, json};

use crate::helpers::{Stack, code, spawn};

const UPDATE: &str = "mutation($i: UpdateAvailabilityInput!) { updateAvailability(input: $i) { timeZone weeklyAvailability { weekday start end } timeOff { startsAt endsAt } } }";
const SLOTS: &str = "query($t: ID!, $from: DateTime!, $to: DateTime!, $d: Int) { availableSlots(tutorId: $t, from: $from, to: $to, durationMinutes: $d) { startsAt endsAt } }";

async fn starts(stack: &Stack, tutor: &str, from: &str, to: &str) -> Vec<String> {
    let body = stack.gql(SLOTS, json!({ "t": tutor, "from": from, "to": to }), None).await;
    body["data"]["availableSlots"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|s| s["startsAt"].as_str().expect("startsAt").to_owned())
        .collect()
}

#[tokio::test]
async fn slots_keep_the_local_time_across_daylight_saving() {
    let stack = spawn().await;
    let (id, tutor) = stack.tutor("Gus", json!([{ "name": "piano", "level": "EXPERT" }])).await;
    // Sundays 09:00–11:00 in Paris; 2027-03-28 moves Paris from UTC+1 to UTC+2.
    let body = stack
        .gql(
            UPDATE,
            json!({ "i": { "weekly": [{ "weekday": "SUNDAY", "start": "09:00", "end": "11:00" }] } }),
            Some(&tutor.token),
        )
        .await;
    assert_eq!(body["data"]["updateAvailability"]["timeZone"], "Europe/Paris", "{body}");
    let event = stack.events.wait_for("tutoring.TutorAvailabilityUpdated", &id).await;
    assert_eq!(event.payload["weekly"], json!([{ "weekday": 7, "start": "09:00", "end": "11:00" }]));
    assert_eq!(event.payload["revision"], 1);
    let slots = starts(&stack, &id, "2027-03-21T00:00:00Z", "2027-03-29T00:00:00Z").await;
    assert_eq!(
        slots,
        [
            "2027-03-21T08:00:00+00:00",
            "2027-03-21T09:00:00+00:00",
            "2027-03-28T07:00:00+00:00",
            "2027-03-28T08:00:00+00:00"
        ]
    );
}

#[tokio::test]
async fn overlapping_or_inverted_ranges_are_refused_and_nothing_changes() {
    let stack = spawn().await;
    let (id, tutor) = stack.tutor("Hal", json!([{ "name": "chess", "level": "EXPERT" }])).await;
    let refusals: [(Value, &str); 5] = [
        (json!({ "weekly": [{ "weekday": "MONDAY", "start": "12:00", "end": "09:00" }] }), "ends before it starts"),
        (
            json!({ "weekly": [{ "weekday": "MONDAY", "start": "09:00", "end": "12:00" }, { "weekday": "MONDAY", "start": "11:00", "end": "13:00" }] }),
            "overlap",
        ),
        (json!({ "weekly": [{ "weekday": "MONDAY", "start": "9am", "end": "12:00" }] }), "HH:MM"),
        (
            json!({ "weekly": [], "timeOff": [{ "startsAt": "2027-01-02T00:00:00Z", "endsAt": "2027-01-01T00:00:00Z" }] }),
            "end after it starts",
        ),
        (
            json!({ "weekly": [], "timeOff": [
                { "startsAt": "2027-01-01T00:00:00Z", "endsAt": "2027-01-05T00:00:00Z" },
                { "startsAt": "2027-01-04T00:00:00Z", "endsAt": "2027-01-06T00:00:00Z" }] }),
            "overlaps",
        ),
    ];
    for (input, message) in refusals {
        let body = stack.gql(UPDATE, json!({ "i": input }), Some(&tutor.token)).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains(message), "{message}: {body}");
    }
    let body =
        stack.gql("query($t: ID!) { tutor(id: $t) { weeklyAvailability { start } } }", json!({ "t": id }), None).await;
    assert_eq!(body["data"]["tutor"]["weeklyAvailability"], json!([]), "{body}");
    assert!(stack.events.of_type("tutoring.TutorAvailabilityUpdated").is_empty());
    let range =
        stack.gql(SLOTS, json!({ "t": id, "from": "2027-01-01T00:00:00Z", "to": "2027-03-01T00:00:00Z" }), None).await;
    assert_eq!(code(&range), "BAD_USER_INPUT", "more than 31 days: {range}");
    let odd = stack
        .gql(SLOTS, json!({ "t": id, "from": "2027-01-01T00:00:00Z", "to": "2027-01-02T00:00:00Z", "d": 50 }), None)
        .await;
    assert_eq!(code(&odd), "BAD_USER_INPUT", "{odd}");
}

#[tokio::test]
async fn time_off_and_bookings_remove_slots_and_cancellations_free_them() {
    let stack = spawn().await;
    let (id, tutor) = stack.tutor("Ivy", json!([{ "name": "latin", "level": "EXPERT" }])).await;
    // Mondays 09:00–12:00 UTC; 2027-01-04 is a Monday; time off 09:00–10:00.
    let body = stack
        .gql(
            UPDATE,
            json!({ "i": { "timeZone": "UTC",
                "weekly": [{ "weekday": "MONDAY", "start": "09:00", "end": "12:00" }],
                "timeOff": [{ "startsAt": "2027-01-04T09:00:00Z", "endsAt": "2027-01-04T10:00:00Z" }] } }),
            Some(&tutor.token),
        )
        .await;
    assert!(body["data"]["updateAvailability"].is_object(), "{body}");
    let day = ("2027-01-04T00:00:00Z", "2027-01-05T00:00:00Z");
    assert_eq!(starts(&stack, &id, day.0, day.1).await, ["2027-01-04T10:00:00+00:00", "2027-01-04T11:00:00+00:00"]);

    let slot = BookedSlot {
        booking_id: uuid::Uuid::now_v7().to_string(),
        tutor_id: id.clone(),
        student_id: uuid::Uuid::now_v7().to_string(),
        starts_at: "2027-01-04T10:00:00Z".parse().expect("instant"),
        ends_at: "2027-01-04T11:00:00Z".parse().expect("instant"),
    };
    let requested = stack.deliver(&requested_event(&slot)).await;
    assert_eq!(starts(&stack, &id, day.0, day.1).await, ["2027-01-04T11:00:00+00:00"]);
    // The same event again changes nothing.
    stack.bus_redeliver(&requested).await;
    stack
        .deliver(&BookingCancelled {
            slot: slot.clone(),
            cancelled_by: CancelledBy::Student,
            reason: "test".into(),
            paid: false,
            refund: Money::new(0, Currency::parse("EUR").expect("currency")),
        })
        .await;
    assert_eq!(starts(&stack, &id, day.0, day.1).await, ["2027-01-04T10:00:00+00:00", "2027-01-04T11:00:00+00:00"]);
    // A late "requested" after the cancellation does not take the slot back.
    stack.deliver(&requested_event(&slot)).await;
    assert_eq!(starts(&stack, &id, day.0, day.1).await.len(), 2);

    let unknown =
        stack.gql(SLOTS, json!({ "t": uuid::Uuid::now_v7().to_string(), "from": day.0, "to": day.1 }), None).await;
    assert_eq!(code(&unknown), "NOT_FOUND");
}

fn requested_event(slot: &BookedSlot) -> BookingRequested {
    BookingRequested {
        slot: slot.clone(),
        tutor_user_id: uuid::Uuid::now_v7().to_string(),
        subject: "maths".into(),
        price: Money::new(5000, Currency::parse("EUR").expect("currency")),
        payment_due_at: slot.starts_at,
    }
}
