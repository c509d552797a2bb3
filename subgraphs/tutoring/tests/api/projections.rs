//! Projections of other contexts' events (ratings from review, roles from identity) and the
//! federated entities.

use kernel::Role;
use kernel::events::identity::UserRoleChanged;
use kernel::events::review::{
    ReviewDeleted, ReviewEdited, ReviewHidden, ReviewPosted, ReviewRestored, ReviewStateFields,
};
use serde_json::{Value, json};

use crate::helpers::{Stack, code, spawn};

fn state(tutor: &str, rating: u8, revision: i64) -> ReviewStateFields {
    ReviewStateFields {
        tutor_id: tutor.to_owned(),
        booking_id: uuid::Uuid::now_v7().to_string(),
        student_id: uuid::Uuid::now_v7().to_string(),
        rating,
        published: true,
        revision,
        at: chrono::Utc::now(),
    }
}

async fn rating(stack: &Stack, tutor: &str) -> Value {
    let body =
        stack.gql("query($t: ID!) { tutor(id: $t) { rating { average count } } }", json!({ "t": tutor }), None).await;
    body["data"]["tutor"]["rating"].clone()
}

#[tokio::test]
async fn the_rating_follows_review_events_once_each_and_in_any_order() {
    let stack = spawn().await;
    let (id, _) = stack.tutor("Jon", json!([{ "name": "maths", "level": "EXPERT" }])).await;
    assert_eq!(rating(&stack, &id).await, json!({ "average": null, "count": 0 }));

    let (a, b, c) =
        (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    let posted = stack.deliver(&ReviewPosted { review_id: a.clone(), state: state(&id, 5, 1) }).await;
    stack.bus_redeliver(&posted).await;
    stack.deliver(&ReviewPosted { review_id: b.clone(), state: state(&id, 4, 1) }).await;
    assert_eq!(rating(&stack, &id).await, json!({ "average": 4.5, "count": 2 }), "a redelivered event counts once");
    let received =
        stack.events.wait_for_matching("tutoring.TutorReviewReceived", &id, |e| e.payload["ratingCount"] == 2).await;
    assert_eq!((received.payload["ratingCount"].as_i64(), received.payload["ratingSum"].as_i64()), (Some(2), Some(9)));

    // Review c: its edit (revision 2) arrives before its posting (revision 1).
    stack.deliver(&ReviewEdited { review_id: c.clone(), state: state(&id, 1, 2) }).await;
    stack.deliver(&ReviewPosted { review_id: c.clone(), state: state(&id, 3, 1) }).await;
    assert_eq!(rating(&stack, &id).await, json!({ "average": 3.33, "count": 3 }), "the latest revision wins");

    // Hidden reviews do not count; restored ones count again; deleted ones never.
    stack.deliver(&ReviewHidden { review_id: a.clone(), state: state(&id, 5, 2) }).await;
    assert_eq!(rating(&stack, &id).await, json!({ "average": 2.5, "count": 2 }));
    stack.deliver(&ReviewRestored { review_id: a.clone(), state: state(&id, 5, 3) }).await;
    assert_eq!(rating(&stack, &id).await, json!({ "average": 3.33, "count": 3 }));
    // An edit of a review hidden by flags (published: false) does not make it count.
    let mut unpublished = state(&id, 5, 4);
    unpublished.published = false;
    stack.deliver(&ReviewEdited { review_id: a.clone(), state: unpublished }).await;
    assert_eq!(rating(&stack, &id).await, json!({ "average": 2.5, "count": 2 }));
    stack.deliver(&ReviewRestored { review_id: a.clone(), state: state(&id, 5, 5) }).await;
    stack.deliver(&ReviewDeleted { review_id: b.clone(), state: state(&id, 4, 2) }).await;
    stack.deliver(&ReviewEdited { review_id: b, state: state(&id, 4, 1) }).await;
    assert_eq!(rating(&stack, &id).await, json!({ "average": 3.0, "count": 2 }));
}

#[tokio::test]
async fn a_malformed_review_event_is_refused_as_permanent() {
    let stack = spawn().await;
    let (id, _) = stack.tutor("Kim", json!([{ "name": "maths", "level": "EXPERT" }])).await;
    let envelope = kernel::EventEnvelope::wrap(&ReviewPosted { review_id: "r".into(), state: state(&id, 9, 1) }, None);
    stack.bus_redeliver(&envelope).await;
    let dead = stack.bus.dead_letters();
    assert_eq!(dead.len(), 1, "a rating of 9 is dead-lettered, not retried forever");
    assert!(dead[0].reason.contains("rating 9"), "{}", dead[0].reason);
    assert_eq!(rating(&stack, &id).await, json!({ "average": null, "count": 0 }));
}

#[tokio::test]
async fn a_user_demoted_from_tutor_can_no_longer_create_a_profile() {
    let stack = spawn().await;
    let user = stack.register("TUTOR", "Lee").await;
    stack
        .deliver(&UserRoleChanged {
            user_id: user.id.clone(),
            previous_role: Role::Tutor,
            role: Role::Student,
            changed_by: None,
        })
        .await;
    // The token still says TUTOR; tutoring's projection knows better.
    let body = stack
        .gql(
            "mutation { createTutorProfile(input: { bio: \"x\", subjects: [{ name: \"maths\", level: BEGINNER }], timeZone: \"UTC\" }) { id } }",
            json!({}),
            Some(&user.token),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
}

#[tokio::test]
async fn entities_resolve_in_batches_and_unknown_ones_are_null() {
    let stack = spawn().await;
    let (first, first_user) = stack.tutor("Mo", json!([{ "name": "maths", "level": "EXPERT" }])).await;
    let (second, _) = stack.tutor("Ned", json!([{ "name": "art", "level": "EXPERT" }])).await;
    let student = stack.register("STUDENT", "Oz").await;
    let body = stack
        .gql(
            "query($r: [_Any!]!) { _entities(representations: $r) { ... on Tutor { id subjects { name } } ... on User { id tutorProfile { id } } } }",
            json!({ "r": [
                { "__typename": "Tutor", "id": second },
                { "__typename": "Tutor", "id": uuid::Uuid::now_v7().to_string() },
                { "__typename": "Tutor", "id": "not-an-id" },
                { "__typename": "User", "id": first_user.id },
                { "__typename": "User", "id": student.id },
                { "__typename": "Tutor", "id": first },
            ] }),
            None,
        )
        .await;
    let entities = &body["data"]["_entities"];
    assert_eq!(entities[0], json!({ "id": second, "subjects": [{ "name": "art" }] }), "{body}");
    assert_eq!(entities[1], Value::Null);
    assert_eq!(entities[2], Value::Null);
    assert_eq!(entities[3], json!({ "id": first_user.id, "tutorProfile": { "id": first } }));
    assert_eq!(entities[4], json!({ "id": student.id, "tutorProfile": null }));
    assert_eq!(entities[5]["id"], first.as_str());
}

#[tokio::test]
async fn a_tutor_demoted_by_identity_leaves_search_but_keeps_the_profile() {
    let stack = spawn().await;
    let (id, user) = stack.tutor("Pat", json!([{ "name": "sculpture", "level": "EXPERT" }])).await;
    let search = "{ tutors(filter: { subject: \"sculpture\" }) { edges { node { id } } } }";
    let body = stack.gql(search, json!({}), None).await;
    assert_eq!(body["data"]["tutors"]["edges"], json!([{ "node": { "id": id } }]), "{body}");
    stack
        .deliver(&UserRoleChanged {
            user_id: user.id.clone(),
            previous_role: Role::Tutor,
            role: Role::Student,
            changed_by: None,
        })
        .await;
    let body = stack.gql(search, json!({}), None).await;
    assert_eq!(body["data"]["tutors"]["edges"], json!([]), "{body}");
    let body = stack.gql("query($t: ID!) { tutor(id: $t) { id } }", json!({ "t": id }), None).await;
    assert_eq!(body["data"]["tutor"]["id"], id.as_str(), "the profile itself stays readable: {body}");
}
