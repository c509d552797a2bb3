//! Requesting, listing and moving bookings through their states over the API, with payment's
//! events delivered by hand (the saga tests run the real payment service).

use kernel::events::payment::{PaymentFailed, PaymentSucceeded, RefundProcessed};
use kernel::{Currency, Money};
use serde_json::json;

use crate::helpers::*;

fn eur(n: i64) -> Money {
    Money::new(n, Currency::parse("EUR").expect("currency"))
}

fn succeeded(booking: &str, payer: &str) -> PaymentSucceeded {
    PaymentSucceeded {
        payment_id: uuid::Uuid::now_v7().to_string(),
        booking_id: booking.into(),
        payer_id: payer.into(),
        amount: eur(4000),
    }
}

fn reason(body: &serde_json::Value) -> &str {
    body["errors"][0]["extensions"]["reason"].as_str().unwrap_or_else(|| panic!("no reason in {body}"))
}

#[tokio::test]
async fn a_student_books_a_slot_priced_and_snapshotted_from_local_projections() {
    let stack = spawn().await;
    let tutor = stack.tutor("Tara", false).await;
    let student = stack.user("STUDENT", "Sam").await;
    let starts = in_days(3);
    let body = stack.request(&student, &tutor, starts, 90).await;
    let booking = &body["data"]["requestBooking"];
    assert_eq!(booking["status"], "PENDING", "{body}");
    assert_eq!(booking["paid"], false);
    assert_eq!(booking["awaitingTutor"], true);
    assert_eq!(booking["price"], json!({ "amountMinor": 6000, "currency": "EUR" }));
    assert_eq!(booking["session"]["durationMinutes"], 90);
    assert_eq!(booking["session"]["meetingUrl"], serde_json::Value::Null);
    assert_eq!(booking["snapshot"]["tutorName"], "Tara Tester");
    assert_eq!(booking["snapshot"]["studentName"], "Sam Tester");
    assert_eq!(booking["snapshot"]["originalPrice"]["amountMinor"], 6000);
    let id = booking["id"].as_str().expect("id");

    let event = stack.events.wait_for("booking.BookingRequested", id).await;
    assert_eq!(event.payload["tutorUserId"], tutor.user.id);
    assert_eq!(event.payload["price"], json!({ "amountMinor": 6000, "currency": "EUR" }));
    assert_eq!(event.payload["studentId"], student.id);

    // Participants see it; another student does not, and learns nothing by trying to change it.
    assert_eq!(stack.booking(id, &tutor.user.token).await["status"], "PENDING");
    let other = stack.user("STUDENT", "Olga").await;
    assert!(stack.booking(id, &other.token).await.is_null());
    let body = stack
        .gql(
            "mutation($id: ID!) { cancelBooking(id: $id, reason: \"x\") { id } }",
            json!({ "id": id }),
            Some(&other.token),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");

    // The tutor's listing and the student's.
    let list = "query { bookings(first: 10) { edges { node { id } } pageInfo { hasNextPage } } }";
    for token in [&tutor.user.token, &student.token] {
        let body = stack.gql(list, json!({}), Some(token)).await;
        assert_eq!(body["data"]["bookings"]["edges"][0]["node"]["id"], id, "{body}");
    }
    let body = stack.gql(list, json!({}), Some(&other.token)).await;
    assert_eq!(body["data"]["bookings"]["edges"], json!([]), "{body}");
}

#[tokio::test]
async fn bad_requests_are_refused_with_codes_and_reasons() {
    let stack = spawn().await;
    let tutor = stack.tutor("Tess", false).await;
    let student = stack.user("STUDENT", "Stu").await;
    let starts = in_days(2);

    let body = stack.request(&student, &tutor, starts, 50).await;
    assert_eq!((code(&body), reason(&body)), ("BAD_USER_INPUT", "INVALID_DURATION"), "{body}");
    let body = stack.request(&student, &tutor, in_days(-2), 60).await;
    assert_eq!((code(&body), reason(&body)), ("BAD_USER_INPUT", "IN_THE_PAST"), "{body}");
    let body = stack.request(&student, &tutor, starts + chrono::Duration::seconds(30), 60).await;
    assert_eq!(reason(&body), "UNALIGNED_START", "{body}");
    let unknown_option = json!({ "i": { "tutorId": tutor.id, "startsAt": starts.to_rfc3339(), "durationMinutes": 60,
        "subject": "maths", "pricingOptionId": uuid::Uuid::now_v7().to_string() } });
    let body = stack.gql(REQUEST, unknown_option, Some(&student.token)).await;
    assert_eq!(reason(&body), "UNKNOWN_PRICING_OPTION", "{body}");
    let blank = json!({ "i": { "tutorId": tutor.id, "startsAt": starts.to_rfc3339(), "durationMinutes": 60,
        "subject": "  ", "pricingOptionId": tutor.hourly } });
    assert_eq!(reason(&stack.gql(REQUEST, blank, Some(&student.token)).await), "INVALID_TEXT");
    let nobody = Tutor {
        id: uuid::Uuid::now_v7().to_string(),
        user: stack.user("TUTOR", "Ned").await,
        hourly: tutor.hourly.clone(),
    };
    assert_eq!(code(&stack.request(&student, &nobody, starts, 60).await), "NOT_FOUND");
    let not_an_id = Tutor { id: "nope".into(), user: stack.user("TUTOR", "Nia").await, hourly: tutor.hourly.clone() };
    assert_eq!(code(&stack.request(&student, &not_an_id, starts, 60).await), "BAD_USER_INPUT");
    // Tutors do not book; nobody books anonymously.
    assert_eq!(code(&stack.request(&tutor.user, &tutor, starts, 60).await), "FORBIDDEN");
    let anonymous = User { id: String::new(), token: String::new() };
    let body = stack.request(&anonymous, &tutor, starts, 60).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");

    // Availability and time off as tutoring published them.
    let time_off = json!({ "i": { "weekly": [{ "weekday": "MONDAY", "start": "09:00", "end": "12:00" }],
        "timeOff": [{ "startsAt": "2099-01-05T09:00:00Z", "endsAt": "2099-01-05T11:00:00Z" }] } });
    let body = stack
        .tutoring_gql(
            "mutation($i: UpdateAvailabilityInput!) { updateAvailability(input: $i) { timeZone } }",
            time_off,
            Some(&tutor.user.token),
        )
        .await;
    assert!(body["data"]["updateAvailability"].is_object(), "{body}");
    let store = stack.service.store().clone();
    let tutor_id: kernel::TutorId = tutor.id.parse().expect("id");
    eventually("the new availability", || {
        let store = store.clone();
        async move { store.calendar(tutor_id).await.expect("store").filter(|c| c.weekly.len() == 1).map(drop) }
    })
    .await;
    // 2099-01-05 is a Monday; 2099-01-12 too.
    let at = |raw: &str| raw.parse::<chrono::DateTime<chrono::Utc>>().expect("instant");
    let body = stack.request(&student, &tutor, at("2099-01-05T10:00:00Z"), 60).await;
    assert_eq!(reason(&body), "TUTOR_TIME_OFF", "{body}");
    let body = stack.request(&student, &tutor, at("2099-01-12T11:30:00Z"), 60).await;
    assert_eq!(reason(&body), "OUTSIDE_AVAILABILITY", "{body}");
    let body = stack.request(&student, &tutor, at("2099-01-12T11:00:00Z"), 60).await;
    assert_eq!(body["data"]["requestBooking"]["status"], "PENDING", "{body}");
}

#[tokio::test]
async fn fifty_concurrent_requests_for_one_slot_make_exactly_one_booking() {
    let stack = spawn().await;
    let tutor = stack.tutor("Tim", true).await;
    let mut students = Vec::new();
    for i in 0..50 {
        students.push(stack.graph.register("STUDENT", &format!("S{i}")).await);
    }
    let starts = in_days(4);
    let attempts = students.iter().map(|s| stack.request(s, &tutor, starts, 60));
    let bodies = futures_util::future::join_all(attempts).await;
    let won: Vec<_> = bodies.iter().filter(|b| b["data"]["requestBooking"]["id"].is_string()).collect();
    assert_eq!(won.len(), 1, "exactly one request wins");
    for body in bodies.iter().filter(|b| b["errors"].is_array()) {
        assert_eq!((code(body), reason(body)), ("CONFLICT", "TUTOR_BUSY"), "{body}");
    }
    assert_eq!(bodies.iter().filter(|b| b["errors"].is_array()).count(), 49);

    // An overlapping slot is taken too; the adjacent one is free.
    let body = stack.request(&students[1], &tutor, starts + chrono::Duration::minutes(30), 60).await;
    assert_eq!(reason(&body), "TUTOR_BUSY", "{body}");
    let body = stack.request(&students[1], &tutor, starts + chrono::Duration::hours(1), 60).await;
    assert_eq!(body["data"]["requestBooking"]["status"], "PENDING", "{body}");
}

#[tokio::test]
async fn postgres_itself_refuses_an_overlapping_slot() {
    let stack = spawn().await;
    let platform::db::Db::Postgres(pool) = &stack.db else {
        eprintln!("skipped: the exclusion constraints exist on PostgreSQL (set DATABASE_URL)");
        return;
    };
    let tutor = stack.tutor("Xia", true).await;
    let student = stack.user("STUDENT", "Xav").await;
    let id: uuid::Uuid = stack.booked(&student, &tutor, in_days(3), 60).await.parse().expect("uuid");
    // A copy of the row under a new id and another student, shifted by 30 minutes, written
    // straight to the table (no application check in the way).
    let copy = "INSERT INTO bookings SELECT $2, $3, tutor_id, tutor_user_id, starts_at + interval '30 minutes', \
        ends_at + interval '30 minutes', subject, pricing_option_id, amount_minor, currency, 'PENDING', paid, accepted, \
        meeting_url, payment_due_at, cancelled_by, cancel_reason, cancelled_at, refund_minor, refunded_minor, \
        created_at, updated_at, confirmed_at, completed_at, version FROM bookings WHERE id = $1";
    let refused = sqlx::query(copy).bind(id).bind(uuid::Uuid::now_v7()).bind(uuid::Uuid::now_v7()).execute(pool).await;
    let Err(sqlx::Error::Database(e)) = refused else { panic!("an overlapping slot was written: {refused:?}") };
    assert_eq!(e.code().as_deref(), Some("23P01"), "{e}");
    assert_eq!(e.constraint(), Some("bookings_tutor_overlap"));
    // Once the booking no longer holds its slot, the same pending row is accepted.
    sqlx::query("UPDATE bookings SET status = 'CANCELLED' WHERE id = $1").bind(id).execute(pool).await.expect("update");
    sqlx::query(copy)
        .bind(id)
        .bind(uuid::Uuid::now_v7())
        .bind(uuid::Uuid::now_v7())
        .execute(pool)
        .await
        .expect("insert");
}

#[tokio::test]
async fn a_student_cannot_be_in_two_sessions_at_once() {
    let stack = spawn().await;
    let (a, b) = (stack.tutor("Ann", false).await, stack.tutor("Bob", false).await);
    let student = stack.user("STUDENT", "Sid").await;
    let starts = in_days(5);
    stack.booked(&student, &a, starts, 60).await;
    let body = stack.request(&student, &b, starts + chrono::Duration::minutes(45), 60).await;
    assert_eq!((code(&body), reason(&body)), ("CONFLICT", "STUDENT_BUSY"), "{body}");
}

#[tokio::test]
async fn payment_then_the_tutors_confirmation_confirm_and_cancellation_refunds_by_policy() {
    let stack = spawn().await;
    let tutor = stack.tutor("Tom", false).await;
    let student = stack.user("STUDENT", "Sue").await;
    let id = stack.booked(&student, &tutor, in_days(6), 60).await;

    // Only the tutor confirms; the booking waits for payment.
    let confirm = "mutation($id: ID!) { confirmBooking(id: $id) { status awaitingTutor } }";
    let body = stack.gql(confirm, json!({ "id": id }), Some(&student.token)).await;
    assert_eq!((code(&body), reason(&body)), ("FORBIDDEN", "NOT_PARTICIPANT"), "{body}");
    let body = stack.gql(confirm, json!({ "id": id }), Some(&tutor.user.token)).await;
    assert_eq!(body["data"]["confirmBooking"], json!({ "status": "PENDING", "awaitingTutor": false }), "{body}");

    // Payment succeeds: confirmed, with a meeting URL; the same event again changes nothing.
    let paid = stack.deliver(&succeeded(&id, &student.id)).await;
    let booking = stack.wait_status(&id, &student.token, "CONFIRMED").await;
    assert!(booking["session"]["meetingUrl"].as_str().is_some_and(|u| u.ends_with(&id)), "{booking}");
    let confirmed = stack.events.wait_for("booking.BookingConfirmed", &id).await;
    assert_eq!(confirmed.correlation_id, paid.correlation_id, "the saga keeps its correlation id");
    stack.bus_redeliver(&paid).await;
    assert_eq!(stack.events.of_type("booking.BookingConfirmed").len(), 1);

    // A confirmed booking cannot be declined; cancelled by the student ≥ 24 h ahead → full refund.
    let decline = "mutation($id: ID!) { declineBooking(id: $id, reason: \"busy\") { status } }";
    let body = stack.gql(decline, json!({ "id": id }), Some(&tutor.user.token)).await;
    assert_eq!((code(&body), reason(&body)), ("CONFLICT", "INVALID_TRANSITION"), "{body}");
    let cancel = "mutation($id: ID!, $r: String!) { cancelBooking(id: $id, reason: $r) { status cancellation { by refund { amountMinor } } } }";
    let body = stack.gql(cancel, json!({ "id": id, "r": "" }), Some(&student.token)).await;
    assert_eq!(reason(&body), "INVALID_TEXT", "{body}");
    let body = stack.gql(cancel, json!({ "id": id, "r": "exams" }), Some(&student.token)).await;
    assert_eq!(
        body["data"]["cancelBooking"],
        json!({ "status": "CANCELLED", "cancellation": { "by": "STUDENT", "refund": { "amountMinor": 4000 } } }),
        "{body}"
    );
    let cancelled = stack.events.wait_for("booking.BookingCancelled", &id).await;
    assert_eq!(cancelled.payload["refund"]["amountMinor"], 4000);
    assert_eq!(cancelled.payload["paid"], true);

    // Payment reports the refund → refunded.
    stack
        .deliver(&RefundProcessed {
            refund_id: uuid::Uuid::now_v7().to_string(),
            payment_id: paid.aggregate_id.clone(),
            booking_id: id.clone(),
            payer_id: student.id.clone(),
            amount: eur(4000),
            total_refunded: eur(4000),
        })
        .await;
    let booking = stack.wait_status(&id, &student.token, "REFUNDED").await;
    assert_eq!(booking["refunded"]["amountMinor"], 4000);
    let body = stack.gql(cancel, json!({ "id": id, "r": "again" }), Some(&student.token)).await;
    assert_eq!(reason(&body), "INVALID_TRANSITION", "{body}");
}

#[tokio::test]
async fn a_failed_payment_cancels_and_instant_tutors_are_confirmed_by_payment_alone() {
    let stack = spawn().await;
    let tutor = stack.tutor("Ivy", true).await;
    let student = stack.user("STUDENT", "Pat").await;
    let declined = stack.booked(&student, &tutor, in_days(7), 60).await;
    stack
        .deliver(&PaymentFailed {
            payment_id: uuid::Uuid::now_v7().to_string(),
            booking_id: declined.clone(),
            payer_id: student.id.clone(),
            reason: "card_declined".into(),
        })
        .await;
    let booking = stack.wait_status(&declined, &student.token, "CANCELLED").await;
    assert_eq!(booking["cancellation"]["by"], "SYSTEM");
    assert_eq!(booking["cancellation"]["refund"]["amountMinor"], 0);
    // The slot is free again.
    let instant = stack.booked(&student, &tutor, in_days(7), 60).await;
    stack.deliver(&succeeded(&instant, &student.id)).await;
    stack.wait_status(&instant, &student.token, "CONFIRMED").await;
    // Not over yet: cannot be completed.
    let complete = "mutation($id: ID!) { completeBooking(id: $id) { status } }";
    let body = stack.gql(complete, json!({ "id": instant }), Some(&tutor.user.token)).await;
    assert_eq!((code(&body), reason(&body)), ("CONFLICT", "SESSION_NOT_ENDED"), "{body}");
}

#[tokio::test]
async fn an_unpaid_booking_is_cancelled_when_its_payment_deadline_passes() {
    let graph = testkit::Graph::start(&["booking"]).await;
    let stack = spawn_on(graph, &[("BOOKING_PAYMENT_TIMEOUT", "1s")]).await;
    let tutor = stack.tutor("Uma", true).await;
    let student = stack.user("STUDENT", "Vic").await;
    let id = stack.booked(&student, &tutor, in_days(2), 60).await;
    let cancelled = stack.events.wait_for_matching("booking.BookingCancelled", &id, |_| true).await;
    assert_eq!(cancelled.payload["cancelledBy"], "SYSTEM");
    assert_eq!(cancelled.payload["reason"], "payment not received in time");
    assert_eq!(stack.booking(&id, &student.token).await["status"], "CANCELLED");
}

#[tokio::test]
async fn listings_page_by_session_start_and_filter() {
    let stack = spawn().await;
    let tutor = stack.tutor("Lea", false).await;
    let student = stack.user("STUDENT", "Leo").await;
    let mut ids = Vec::new();
    for day in [3, 1, 2] {
        ids.push(stack.booked(&student, &tutor, in_days(day), 60).await);
    }
    let query = "query($f: BookingFilter, $after: String) { bookings(filter: $f, first: 2, after: $after) { \
        edges { cursor node { id session { startsAt } } } pageInfo { hasNextPage endCursor } } }";
    let body = stack.gql(query, json!({}), Some(&student.token)).await;
    let page = &body["data"]["bookings"];
    let got: Vec<&str> =
        page["edges"].as_array().expect("edges").iter().filter_map(|e| e["node"]["id"].as_str()).collect();
    assert_eq!(got, [ids[1].as_str(), ids[2].as_str()], "{body}");
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let body = stack.gql(query, json!({ "after": page["pageInfo"]["endCursor"] }), Some(&student.token)).await;
    assert_eq!(body["data"]["bookings"]["edges"][0]["node"]["id"], ids[0].as_str(), "{body}");
    assert_eq!(body["data"]["bookings"]["pageInfo"]["hasNextPage"], false);

    let window = json!({ "from": in_days(2).to_rfc3339(), "to": in_days(3).to_rfc3339(), "status": "PENDING" });
    let body = stack.gql(query, json!({ "f": window }), Some(&student.token)).await;
    assert_eq!(body["data"]["bookings"]["edges"].as_array().map(Vec::len), Some(1), "{body}");
    let body = stack.gql(query, json!({ "f": { "status": "CONFIRMED" } }), Some(&student.token)).await;
    assert_eq!(body["data"]["bookings"]["edges"], json!([]), "{body}");
    let body = stack.gql(query, json!({ "after": "garbage" }), Some(&student.token)).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");

    // `Tutor.bookings` through the entity resolver: the tutor, not the student.
    let entities = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Tutor { bookings(first: 5) { edges { node { id } } } } } }";
    let reps = json!({ "r": [{ "__typename": "Tutor", "id": tutor.id }] });
    let body = stack.gql(entities, reps.clone(), Some(&tutor.user.token)).await;
    assert_eq!(body["data"]["_entities"][0]["bookings"]["edges"].as_array().map(Vec::len), Some(3), "{body}");
    let body = stack.gql(entities, reps, Some(&student.token)).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
}

#[tokio::test]
async fn the_sweeper_completes_sessions_that_ended_long_enough_ago() {
    let stack = spawn().await;
    let tutor = stack.tutor("Zoe", true).await;
    let student = stack.user("STUDENT", "Zed").await;
    // A real booking, then moved into the past as if its session had taken place a day ago (the
    // API refuses sessions in the past).
    let id = stack.booked(&student, &tutor, in_days(3), 60).await;
    stack.deliver(&succeeded(&id, &student.id)).await;
    stack.wait_status(&id, &student.token, "CONFIRMED").await;
    let ended = chrono::Utc::now() - chrono::Duration::hours(25);
    let booking_id: uuid::Uuid = id.parse().expect("uuid");
    let shift = "UPDATE bookings SET starts_at = $1, ends_at = $2 WHERE id = $3";
    match &stack.db {
        platform::db::Db::Postgres(pool) => sqlx::query(shift)
            .bind(ended - chrono::Duration::hours(1))
            .bind(ended)
            .bind(booking_id)
            .execute(pool)
            .await
            .map(drop),
        platform::db::Db::Sqlite(pool) => sqlx::query(shift)
            .bind(ended - chrono::Duration::hours(1))
            .bind(ended)
            .bind(booking_id)
            .execute(pool)
            .await
            .map(drop),
    }
    .expect("moved into the past");
    // The sweeper (every 100 ms here) completes it: 24 h after the end by default.
    let completed = stack.events.wait_for("booking.BookingCompleted", &id).await;
    assert_eq!(completed.payload["studentId"], student.id);
    assert_eq!(stack.booking(&id, &student.token).await["status"], "COMPLETED");
    assert_eq!(stack.service.sweep().await.expect("sweeps"), 0, "nothing else is due");
}
