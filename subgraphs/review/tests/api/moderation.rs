//! Flags, automatic hiding, and admin moderation.

use serde_json::{Value, json};

use crate::helpers::{code, spawn};

const FLAG: &str = "mutation($id: ID!, $r: String!) { flagReview(id: $id, reason: $r) }";
const READ: &str = "query($id: ID!) { review(id: $id) { id status } }";

#[tokio::test]
async fn enough_flags_hide_a_review_until_an_admin_restores_it() {
    let stack = spawn().await; // REVIEW_FLAG_THRESHOLD=2 in the helper
    let author = stack.register("STUDENT", "Au").await;
    let (booking, _) = stack.completed_booking(&author).await;
    let body = stack
        .gql(
            "mutation($b: ID!) { createReview(input: { bookingId: $b, rating: 1, comment: \"spam spam\" }) { id } }",
            json!({ "b": booking }),
            Some(&author.token),
        )
        .await;
    let id = body["data"]["createReview"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let (first, second, third) = (
        stack.register("STUDENT", "F1").await,
        stack.register("STUDENT", "F2").await,
        stack.register("TUTOR", "F3").await,
    );

    let body = stack.gql(FLAG, json!({ "id": id, "r": "abusive" }), Some(&author.token)).await;
    assert_eq!(code(&body), "FORBIDDEN", "not one's own: {body}");
    let body = stack.gql(FLAG, json!({ "id": id, "r": "  " }), Some(&first.token)).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = stack.gql(FLAG, json!({ "id": id, "r": "abusive" }), None).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");
    let body = stack.gql(FLAG, json!({ "id": id, "r": "abusive" }), Some(&first.token)).await;
    assert_eq!(body["data"]["flagReview"], true, "one flag: still published: {body}");
    let body = stack.gql(FLAG, json!({ "id": id, "r": "again" }), Some(&first.token)).await;
    assert_eq!(code(&body), "CONFLICT", "once per user: {body}");
    let body = stack.gql(FLAG, json!({ "id": id, "r": "spam" }), Some(&second.token)).await;
    assert_eq!(body["data"]["flagReview"], false, "two flags hide it: {body}");
    let hidden = stack.events.wait_for("review.ReviewHidden", &id).await;
    assert_eq!(hidden.payload["published"], false);
    // The relay publishes in order: both flags went out before the hiding.
    let flagged = stack.events.of_type("review.ReviewFlagged");
    assert_eq!(flagged.len(), 2);
    assert_eq!(flagged[1].payload["flagCount"], 2);

    // Hidden from the public, visible to its author and to admins.
    let body = stack.gql(READ, json!({ "id": id }), None).await;
    assert_eq!(body["data"]["review"], Value::Null);
    let body = stack.gql(READ, json!({ "id": id }), Some(&author.token)).await;
    assert_eq!(body["data"]["review"]["status"], "FLAGGED", "{body}");
    let admin = stack.register("ADMIN", "Root").await;
    let body = stack.gql(READ, json!({ "id": id }), Some(&admin.token)).await;
    assert_eq!(body["data"]["review"]["status"], "FLAGGED");

    // Moderation: only admins; restoring settles the earlier flags.
    let restore = "mutation($id: ID!) { restoreReview(id: $id) { status } }";
    let body = stack.gql(restore, json!({ "id": id }), Some(&first.token)).await;
    assert_eq!(code(&body), "FORBIDDEN");
    let body = stack.gql(restore, json!({ "id": id }), Some(&admin.token)).await;
    assert_eq!(body["data"]["restoreReview"]["status"], "PUBLISHED", "{body}");
    let restored = stack.events.wait_for("review.ReviewRestored", &id).await;
    assert_eq!((restored.payload["published"].as_bool(), restored.payload["revision"].as_i64()), (Some(true), Some(3)));
    let body = stack.gql(FLAG, json!({ "id": id, "r": "still spam" }), Some(&third.token)).await;
    assert_eq!(body["data"]["flagReview"], true, "one new flag after moderation is not enough: {body}");

    let hide = "mutation($id: ID!) { hideReview(id: $id) { status } }";
    let body = stack.gql(hide, json!({ "id": id }), Some(&admin.token)).await;
    assert_eq!(body["data"]["hideReview"]["status"], "HIDDEN", "{body}");
    let body = stack.gql(hide, json!({ "id": id }), Some(&admin.token)).await;
    assert_eq!(code(&body), "CONFLICT", "already hidden: {body}");
    let body = stack
        .gql(
            "mutation($id: ID!) { updateReview(id: $id, input: { rating: 5 }) { id } }",
            json!({ "id": id }),
            Some(&author.token),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "a hidden review cannot be edited: {body}");
    let missing = stack.gql(hide, json!({ "id": uuid::Uuid::now_v7().to_string() }), Some(&admin.token)).await;
    assert_eq!(code(&missing), "NOT_FOUND");
}
