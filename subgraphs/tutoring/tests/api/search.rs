//! Tutor search: filters, sort orders, cursors and refusals.

use serde_json::{Value, json};

use crate::helpers::{Stack, User, code, spawn};

const SEARCH: &str = "query($f: TutorFilter, $s: TutorSort, $n: Int, $a: String) { tutors(filter: $f, sort: $s, first: $n, after: $a) { edges { cursor node { id bio } } pageInfo { hasNextPage endCursor } } }";

async fn priced(stack: &Stack, name: &str, subject: &str, currency: &str, hourly: i64) -> (String, User) {
    let (id, user) = stack.tutor(name, json!([{ "name": subject, "level": "EXPERT" }])).await;
    let body = stack
        .gql(
            "mutation($i: UpdatePricingInput!) { updatePricing(input: $i) { id } }",
            json!({ "i": { "currency": currency, "options": [{ "kind": "HOURLY", "amountMinor": hourly }] } }),
            Some(&user.token),
        )
        .await;
    assert!(body["data"]["updatePricing"]["id"].is_string(), "{body}");
    (id, user)
}

async fn ids(stack: &Stack, filter: Value, sort: &str, first: i64, after: Option<&str>) -> (Vec<String>, Value) {
    let body = stack.gql(SEARCH, json!({ "f": filter, "s": sort, "n": first, "a": after }), None).await;
    let connection = body["data"]["tutors"].clone();
    let ids = connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect();
    (ids, connection["pageInfo"].clone())
}

#[tokio::test]
async fn filters_sorts_and_cursors() {
    let stack = spawn().await;
    let (cheap, _) = priced(&stack, "Ann", "maths", "EUR", 2_000).await;
    let (mid, _) = priced(&stack, "Ben", "maths", "EUR", 3_000).await;
    let (dear, _) = priced(&stack, "Cat", "physics", "EUR", 5_000).await;
    let (dollars, _) = priced(&stack, "Dan", "maths", "USD", 1_000).await;
    let (unpriced, _) = stack.tutor("Zed", json!([{ "name": "maths", "level": "BEGINNER" }])).await;

    // PRICE: lowest first, tutors without pricing left out; pages of two, through cursors.
    let (page, info) = ids(&stack, json!({}), "PRICE", 2, None).await;
    assert_eq!(page, [dollars.clone(), cheap.clone()]);
    assert_eq!(info["hasNextPage"], true);
    let (page, info) = ids(&stack, json!({}), "PRICE", 2, info["endCursor"].as_str()).await;
    assert_eq!(page, [mid.clone(), dear.clone()]);
    let (page, info) = ids(&stack, json!({}), "PRICE", 2, info["endCursor"].as_str()).await;
    assert!(page.is_empty() && info["hasNextPage"] == false, "{page:?} {info}");

    // Subject and price bounds (in one currency).
    let (page, _) = ids(
        &stack,
        json!({ "subject": " MATHS ", "minPrice": { "amountMinor": 2500, "currency": "EUR" }, "maxPrice": { "amountMinor": 4000, "currency": "EUR" } }),
        "PRICE",
        10,
        None,
    )
    .await;
    assert_eq!(page, [mid.as_str()]);
    // NEWEST: the latest profile first.
    let (page, _) = ids(&stack, json!({ "subject": "maths" }), "NEWEST", 10, None).await;
    assert_eq!(page, [unpriced.clone(), dollars.clone(), mid.clone(), cheap.clone()]);
    // Text: words of the bio, subjects or name (from identity's events).
    let (page, _) = ids(&stack, json!({ "text": "cat PHYSICS" }), "NEWEST", 10, None).await;
    assert_eq!(page, [dear.as_str()]);
    let (page, _) = ids(&stack, json!({ "text": "100%" }), "NEWEST", 10, None).await;
    assert!(page.is_empty(), "LIKE patterns are escaped: {page:?}");

    // Refusals.
    let refusals = [
        json!({ "n": 0 }),
        json!({ "n": 101 }),
        json!({ "f": { "minRating": 6.0 } }),
        json!({ "f": { "availableFrom": "2027-01-01T00:00:00Z" } }),
        json!({ "f": { "minPrice": { "amountMinor": 1, "currency": "EUR" }, "maxPrice": { "amountMinor": 9, "currency": "USD" } } }),
        json!({ "a": "not-a-cursor" }),
        json!({ "s": "RATING", "a": info["endCursor"] }),
    ];
    for variables in refusals {
        let body = stack.gql(SEARCH, variables.clone(), None).await;
        if variables.get("a").is_some_and(Value::is_null) {
            continue;
        }
        assert_eq!(code(&body), "BAD_USER_INPUT", "{variables}: {body}");
    }
}

#[tokio::test]
async fn rating_verified_and_availability_filters() {
    use kernel::events::review::{ReviewPosted, ReviewStateFields};
    let stack = spawn().await;
    let (good, good_user) = stack.tutor("Eli", json!([{ "name": "art", "level": "EXPERT" }])).await;
    let (fair, _) = stack.tutor("Flo", json!([{ "name": "art", "level": "EXPERT" }])).await;
    for (tutor, stars) in [(&good, 5u8), (&fair, 3u8)] {
        let state = ReviewStateFields {
            tutor_id: tutor.clone(),
            booking_id: uuid::Uuid::now_v7().to_string(),
            student_id: uuid::Uuid::now_v7().to_string(),
            rating: stars,
            published: true,
            revision: 1,
            at: chrono::Utc::now(),
        };
        stack.deliver(&ReviewPosted { review_id: uuid::Uuid::now_v7().to_string(), state }).await;
    }
    let (page, _) = ids(&stack, json!({ "subject": "art" }), "RATING", 10, None).await;
    assert_eq!(page, [good.clone(), fair.clone()]);
    let (page, _) = ids(&stack, json!({ "minRating": 4.0 }), "RATING", 10, None).await;
    assert_eq!(page, [good.as_str()]);

    let admin = stack.register("ADMIN", "Root").await;
    let body = stack
        .gql("mutation($t: ID!) { verifyTutor(tutorId: $t) { id } }", json!({ "t": fair }), Some(&admin.token))
        .await;
    assert!(body["data"]["verifyTutor"].is_object(), "{body}");
    let (page, _) = ids(&stack, json!({ "verifiedOnly": true }), "RATING", 10, None).await;
    assert_eq!(page, [fair.as_str()]);

    // Only `good` has a schedule: Mondays 09:00–10:00 UTC.
    let body = stack
        .gql(
            "mutation { updateAvailability(input: { timeZone: \"UTC\", weekly: [{ weekday: MONDAY, start: \"09:00\", end: \"10:00\" }] }) { id } }",
            json!({}),
            Some(&good_user.token),
        )
        .await;
    assert!(body["data"]["updateAvailability"].is_object(), "{body}");
    let monday = json!({ "availableFrom": "2027-01-04T00:00:00Z", "availableTo": "2027-01-05T00:00:00Z" });
    let (page, _) = ids(&stack, monday, "RATING", 10, None).await;
    assert_eq!(page, [good.as_str()]);
    // A booking holding the only Monday slot takes `good` out of Monday's results.
    let slot = kernel::events::booking::BookedSlot {
        booking_id: uuid::Uuid::now_v7().to_string(),
        tutor_id: good.clone(),
        student_id: uuid::Uuid::now_v7().to_string(),
        starts_at: "2027-01-04T09:00:00Z".parse().expect("instant"),
        ends_at: "2027-01-04T10:00:00Z".parse().expect("instant"),
    };
    stack
        .deliver(&kernel::events::booking::BookingConfirmed { slot, meeting_url: "https://meet.example/x".into() })
        .await;
    let monday = json!({ "availableFrom": "2027-01-04T00:00:00Z", "availableTo": "2027-01-05T00:00:00Z" });
    let (page, _) = ids(&stack, monday, "RATING", 10, None).await;
    assert!(page.is_empty(), "{page:?}");
    let tuesday = json!({ "availableFrom": "2027-01-05T00:00:00Z", "availableTo": "2027-01-06T00:00:00Z" });
    let (page, _) = ids(&stack, tuesday, "RATING", 10, None).await;
    assert!(page.is_empty());
}
