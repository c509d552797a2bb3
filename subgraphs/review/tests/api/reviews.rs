//! Posting, reading, editing and deleting reviews.

use serde_json::{Value, json};

use crate::helpers::{Stack, code, spawn};

const CREATE: &str = "mutation($i: CreateReviewInput!) { createReview(input: $i) { id rating comment status student { id } tutor { id } booking { id } } }";

async fn create(stack: &Stack, token: &str, booking: &str, rating: i64, comment: Option<&str>) -> Value {
    stack.gql(CREATE, json!({ "i": { "bookingId": booking, "rating": rating, "comment": comment } }), Some(token)).await
}

#[tokio::test]
async fn only_the_student_of_a_completed_booking_reviews_it_once() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Sam").await;
    let other = stack.register("STUDENT", "Oli").await;
    let unknown = uuid::Uuid::now_v7().to_string();
    let body = create(&stack, &student.token, &unknown, 5, None).await;
    assert_eq!(code(&body), "NOT_FOUND", "not completed (or unknown): {body}");

    let (booking, tutor) = stack.completed_booking(&student).await;
    // Someone else's completed booking is answered as an unknown one: outsiders learn nothing.
    let theirs = create(&stack, &other.token, &booking, 5, None).await;
    assert_eq!(code(&theirs), "NOT_FOUND", "{theirs}");
    assert_eq!(theirs["errors"][0]["message"], body["errors"][0]["message"], "{theirs}");
    let body = create(&stack, &student.token, &booking, 6, None).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let long = "x".repeat(2001);
    let body = create(&stack, &student.token, &booking, 5, Some(&long)).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = create(&stack, "not a token", &booking, 5, None).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");

    let body = create(&stack, &student.token, &booking, 4, Some("  Clear and patient  ")).await;
    let review = &body["data"]["createReview"];
    assert_eq!(
        (review["rating"].as_i64(), review["comment"].as_str(), review["status"].as_str()),
        (Some(4), Some("Clear and patient"), Some("PUBLISHED")),
        "{body}"
    );
    assert_eq!(
        (review["tutor"]["id"].as_str(), review["student"]["id"].as_str()),
        (Some(tutor.as_str()), Some(student.id.as_str()))
    );
    let id = review["id"].as_str().expect("id").to_owned();
    let posted = stack.events.wait_for("review.ReviewPosted", &id).await;
    assert_eq!(
        (posted.payload["rating"].as_i64(), posted.payload["published"].as_bool(), posted.payload["revision"].as_i64()),
        (Some(4), Some(true), Some(1))
    );
    assert_eq!(posted.payload["tutorId"], tutor.as_str());

    let again = create(&stack, &student.token, &booking, 5, None).await;
    assert_eq!(code(&again), "CONFLICT", "one review per booking: {again}");
}

#[tokio::test]
async fn the_author_edits_and_deletes_and_others_cannot() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Ana").await;
    let other = stack.register("STUDENT", "Ben").await;
    let (booking, tutor) = stack.completed_booking(&student).await;
    let body = create(&stack, &student.token, &booking, 2, Some("meh")).await;
    let id = body["data"]["createReview"]["id"].as_str().expect("id").to_owned();

    let update =
        "mutation($id: ID!, $i: UpdateReviewInput!) { updateReview(id: $id, input: $i) { rating comment editedAt } }";
    let body = stack.gql(update, json!({ "id": id, "i": { "rating": 5 } }), Some(&other.token)).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = stack.gql(update, json!({ "id": id, "i": { "rating": 5 } }), Some(&student.token)).await;
    assert_eq!(body["data"]["updateReview"]["rating"], 5, "{body}");
    assert_eq!(body["data"]["updateReview"]["comment"], "meh", "an omitted comment is kept");
    assert!(body["data"]["updateReview"]["editedAt"].is_string());
    let body = stack.gql(update, json!({ "id": id, "i": { "comment": null } }), Some(&student.token)).await;
    assert_eq!(body["data"]["updateReview"]["comment"], Value::Null, "null removes it: {body}");
    let body = stack.gql(update, json!({ "id": id, "i": { "rating": 0 } }), Some(&student.token)).await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
    let edited = stack.events.wait_for_matching("review.ReviewEdited", &id, |e| e.payload["revision"] == 3).await;
    assert_eq!(edited.payload["rating"], 5);

    // The tutor's reviews list it; deletion removes it and is final.
    let reviews = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Tutor { reviews { edges { node { id rating } } } } } }";
    let body = stack.gql(reviews, json!({ "r": [{ "__typename": "Tutor", "id": tutor }] }), None).await;
    assert_eq!(
        body["data"]["_entities"][0]["reviews"]["edges"],
        json!([{ "node": { "id": id, "rating": 5 } }]),
        "{body}"
    );
    let delete = "mutation($id: ID!) { deleteReview(id: $id) }";
    let body = stack.gql(delete, json!({ "id": id }), Some(&other.token)).await;
    assert_eq!(code(&body), "FORBIDDEN");
    let body = stack.gql(delete, json!({ "id": id }), Some(&student.token)).await;
    assert_eq!(body["data"]["deleteReview"], id.as_str(), "{body}");
    let deleted = stack.events.wait_for("review.ReviewDeleted", &id).await;
    assert_eq!(deleted.payload["published"], false);
    let body = stack.gql(reviews, json!({ "r": [{ "__typename": "Tutor", "id": tutor }] }), None).await;
    assert_eq!(body["data"]["_entities"][0]["reviews"]["edges"], json!([]));
    let body = stack.gql("query($id: ID!) { review(id: $id) { id } }", json!({ "id": id }), Some(&student.token)).await;
    assert_eq!(body["data"]["review"], Value::Null);
    let body = create(&stack, &student.token, &booking, 5, None).await;
    assert_eq!(code(&body), "CONFLICT", "a deleted review still holds its booking: {body}");
}

#[tokio::test]
async fn tutor_reviews_page_newest_first_and_bookings_show_their_review() {
    let stack = spawn().await;
    let tutor = uuid::Uuid::now_v7().to_string();
    let mut ids = Vec::new();
    let mut bookings = Vec::new();
    for (i, name) in ["A", "B", "C"].iter().enumerate() {
        let student = stack.register("STUDENT", name).await;
        let slot = kernel::events::booking::BookedSlot {
            booking_id: uuid::Uuid::now_v7().to_string(),
            tutor_id: tutor.clone(),
            student_id: student.id.clone(),
            starts_at: chrono::Utc::now() - chrono::Duration::hours(3),
            ends_at: chrono::Utc::now() - chrono::Duration::hours(2),
        };
        stack.deliver(&kernel::events::booking::BookingCompleted { slot: slot.clone() }).await;
        let body = create(&stack, &student.token, &slot.booking_id, i as i64 + 3, None).await;
        ids.push(body["data"]["createReview"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned());
        bookings.push(slot.booking_id);
    }
    let page = "query($r: [_Any!]!, $a: String) { _entities(representations: $r) { ... on Tutor { reviews(first: 2, after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } } } }";
    let body = stack.gql(page, json!({ "r": [{ "__typename": "Tutor", "id": tutor }] }), None).await;
    let first = &body["data"]["_entities"][0]["reviews"];
    assert_eq!(first["edges"], json!([{ "node": { "id": ids[2] } }, { "node": { "id": ids[1] } }]), "{body}");
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let body = stack
        .gql(page, json!({ "r": [{ "__typename": "Tutor", "id": tutor }], "a": first["pageInfo"]["endCursor"] }), None)
        .await;
    let second = &body["data"]["_entities"][0]["reviews"];
    assert_eq!(second["edges"], json!([{ "node": { "id": ids[0] } }]), "{body}");
    assert_eq!(second["pageInfo"]["hasNextPage"], false);
    let bad = stack.gql(page, json!({ "r": [{ "__typename": "Tutor", "id": tutor }], "a": "nope" }), None).await;
    assert_eq!(code(&bad), "BAD_USER_INPUT", "{bad}");

    let body = stack
        .gql(
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Booking { id review { rating } } } }",
            json!({ "r": [{ "__typename": "Booking", "id": bookings[1] }, { "__typename": "Booking", "id": uuid::Uuid::now_v7().to_string() }] }),
            None,
        )
        .await;
    assert_eq!(body["data"]["_entities"][0]["review"], json!({ "rating": 4 }), "{body}");
    assert_eq!(body["data"]["_entities"][1]["review"], Value::Null);
}
