//! Creating and changing tutor profiles: who may, what is checked, what is published.

use serde_json::json;

use crate::helpers::{code, spawn};

const CREATE: &str = "mutation($i: CreateTutorProfileInput!) { createTutorProfile(input: $i) { id bio timeZone instantBooking verified subjects { name level } user { id } } }";

fn profile(subjects: serde_json::Value) -> serde_json::Value {
    json!({ "i": { "bio": "  Patient maths tutor  ", "subjects": subjects, "timeZone": "Europe/Paris", "instantBooking": true } })
}

#[tokio::test]
async fn a_tutor_creates_one_profile_and_it_is_published() {
    let stack = spawn().await;
    let tutor = stack.register("TUTOR", "Ada").await;
    let subjects =
        json!([{ "name": " Linear  Algebra ", "level": "ADVANCED" }, { "name": "Maths", "level": "EXPERT" }]);
    let body = stack.gql(CREATE, profile(subjects.clone()), Some(&tutor.token)).await;
    let created = &body["data"]["createTutorProfile"];
    assert_eq!(created["bio"], "Patient maths tutor", "{body}");
    assert_eq!(created["subjects"][0], json!({ "name": "linear algebra", "level": "ADVANCED" }));
    assert_eq!(created["user"]["id"], tutor.id.as_str());
    assert_eq!((created["instantBooking"].as_bool(), created["verified"].as_bool()), (Some(true), Some(false)));
    let id = created["id"].as_str().expect("id");
    let event = stack.events.wait_for("tutoring.TutorProfileCreated", id).await;
    assert_eq!(event.payload["userId"], tutor.id.as_str());
    assert_eq!(event.payload["subjects"], json!(["linear algebra", "maths"]));

    let again = stack.gql(CREATE, profile(subjects), Some(&tutor.token)).await;
    assert_eq!(code(&again), "CONFLICT", "one profile per user: {again}");
}

#[tokio::test]
async fn students_and_anonymous_callers_cannot_create_profiles() {
    let stack = spawn().await;
    let student = stack.register("STUDENT", "Bob").await;
    let subjects = json!([{ "name": "Maths", "level": "BEGINNER" }]);
    let body = stack.gql(CREATE, profile(subjects.clone()), Some(&student.token)).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = stack.gql(CREATE, profile(subjects), None).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn invalid_profiles_are_refused_with_the_reason() {
    let stack = spawn().await;
    let tutor = stack.register("TUTOR", "Cy").await;
    let cases = [
        (json!({ "bio": "x", "subjects": [], "timeZone": "Europe/Paris" }), "between 1 and 20 subjects"),
        (
            json!({ "bio": "x", "subjects": [{ "name": "<script>", "level": "BEGINNER" }], "timeZone": "Europe/Paris" }),
            "not a subject name",
        ),
        (
            json!({ "bio": "x", "subjects": [{ "name": "maths", "level": "BEGINNER" }, { "name": "MATHS", "level": "EXPERT" }], "timeZone": "Europe/Paris" }),
            "listed twice",
        ),
        (
            json!({ "bio": "x", "subjects": [{ "name": "maths", "level": "BEGINNER" }], "timeZone": "Mars/Olympus" }),
            "IANA time zone",
        ),
        (
            json!({ "bio": "x".repeat(2001), "subjects": [{ "name": "maths", "level": "BEGINNER" }], "timeZone": "UTC" }),
            "at most 2000",
        ),
    ];
    for (input, message) in cases {
        let body = stack.gql(CREATE, json!({ "i": input }), Some(&tutor.token)).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains(message), "{message}: {body}");
    }
    // Nothing was half-written: the first valid attempt still succeeds.
    let ok = stack.gql(CREATE, profile(json!([{ "name": "maths", "level": "BEGINNER" }])), Some(&tutor.token)).await;
    assert!(ok["data"]["createTutorProfile"]["id"].is_string(), "{ok}");
}

#[tokio::test]
async fn the_profile_is_updated_and_gains_certifications_and_education() {
    let stack = spawn().await;
    let (id, tutor) = stack.tutor("Dee", json!([{ "name": "physics", "level": "EXPERT" }])).await;
    let body = stack
        .gql(
            "mutation { updateTutorProfile(input: { bio: \"New bio\", instantBooking: true, subjects: [{ name: \"Chemistry\", level: INTERMEDIATE }] }) { bio instantBooking subjects { name } } }",
            json!({}),
            Some(&tutor.token),
        )
        .await;
    assert_eq!(
        body["data"]["updateTutorProfile"],
        json!({ "bio": "New bio", "instantBooking": true, "subjects": [{ "name": "chemistry" }] }),
        "{body}"
    );
    let cert = stack
        .gql(
            "mutation { addCertification(input: { name: \"CELTA\", issuer: \"Cambridge\", year: 2020 }) { id name verified } }",
            json!({}),
            Some(&tutor.token),
        )
        .await;
    assert_eq!(cert["data"]["addCertification"]["verified"], false, "{cert}");
    let cert_id = cert["data"]["addCertification"]["id"].as_str().expect("id").to_owned();
    let future = stack
        .gql(
            "mutation { addCertification(input: { name: \"X\", issuer: \"Y\", year: 2999 }) { id } }",
            json!({}),
            Some(&tutor.token),
        )
        .await;
    assert_eq!(code(&future), "BAD_USER_INPUT");
    let education = stack
        .gql(
            "mutation { addEducation(input: { institution: \"MIT\", degree: \"BSc\", field: \"Physics\", startYear: 2010, endYear: 2014 }) { institution endYear } }",
            json!({}),
            Some(&tutor.token),
        )
        .await;
    assert_eq!(education["data"]["addEducation"], json!({ "institution": "MIT", "endYear": 2014 }), "{education}");
    let inverted = stack
        .gql(
            "mutation { addEducation(input: { institution: \"MIT\", degree: \"BSc\", field: \"Physics\", startYear: 2014, endYear: 2010 }) { id } }",
            json!({}),
            Some(&tutor.token),
        )
        .await;
    assert_eq!(code(&inverted), "BAD_USER_INPUT");

    // Only an admin verifies the tutor and the certification.
    let verify = "mutation($t: ID!) { verifyTutor(tutorId: $t) { verified } }";
    let body = stack.gql(verify, json!({ "t": id }), Some(&tutor.token)).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let admin = stack.register("ADMIN", "Root").await;
    // The admin's token is issued after promotion (ADMIN_EMAIL), so it carries ADMIN.
    let body = stack.gql(verify, json!({ "t": id }), Some(&admin.token)).await;
    assert_eq!(body["data"]["verifyTutor"]["verified"], true, "{body}");
    let event = stack.events.wait_for("tutoring.TutorVerified", &id).await;
    assert_eq!(event.payload["verifiedBy"], admin.id.as_str());
    let body = stack
        .gql(
            "mutation($t: ID!, $c: ID!) { verifyCertification(tutorId: $t, certificationId: $c) { certifications { verified } } }",
            json!({ "t": id, "c": cert_id }),
            Some(&admin.token),
        )
        .await;
    assert_eq!(body["data"]["verifyCertification"]["certifications"][0]["verified"], true, "{body}");
    let missing = stack.gql(verify, json!({ "t": uuid::Uuid::now_v7().to_string() }), Some(&admin.token)).await;
    assert_eq!(code(&missing), "NOT_FOUND");
}

#[tokio::test]
async fn changes_need_a_profile() {
    let stack = spawn().await;
    let tutor = stack.register("TUTOR", "Eve").await;
    let body = stack
        .gql("mutation { updateTutorProfile(input: { bio: \"x\" }) { bio } }", json!({}), Some(&tutor.token))
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
}

#[tokio::test]
async fn pricing_keeps_one_currency_and_option_ids() {
    let stack = spawn().await;
    let (id, tutor) = stack.tutor("Fay", json!([{ "name": "french", "level": "EXPERT" }])).await;
    let update = "mutation($i: UpdatePricingInput!) { updatePricing(input: $i) { pricing { currency lowestHourly { amountMinor currency } options { id kind sessions price { amountMinor } } } } }";
    let body = stack
        .gql(
            update,
            json!({ "i": { "currency": "eur", "options": [
                { "kind": "HOURLY", "amountMinor": 4000 },
                { "kind": "PACKAGE", "sessions": 10, "amountMinor": 35000 } ] } }),
            Some(&tutor.token),
        )
        .await;
    let pricing = &body["data"]["updatePricing"]["pricing"];
    assert_eq!(pricing["currency"], "EUR", "{body}");
    assert_eq!(pricing["lowestHourly"], json!({ "amountMinor": 3500, "currency": "EUR" }));
    let hourly_id = pricing["options"][0]["id"].as_str().expect("id").to_owned();
    let event = stack.events.wait_for("tutoring.TutorPricingChanged", &id).await;
    assert_eq!(event.payload["options"][1]["sessions"], 10);

    // Keeping the hourly option's id keeps the option; the package is dropped.
    let body = stack
        .gql(update, json!({ "i": { "currency": "EUR", "options": [{ "id": hourly_id, "kind": "HOURLY", "amountMinor": 4500 }] } }), Some(&tutor.token))
        .await;
    assert_eq!(
        body["data"]["updatePricing"]["pricing"]["options"],
        json!([{ "id": hourly_id, "kind": "HOURLY", "sessions": 1, "price": { "amountMinor": 4500 } }]),
        "{body}"
    );

    let refusals = [
        json!({ "currency": "EURO", "options": [{ "kind": "HOURLY", "amountMinor": 1 }] }),
        json!({ "currency": "EUR", "options": [] }),
        json!({ "currency": "EUR", "options": [{ "kind": "HOURLY", "amountMinor": 0 }] }),
        json!({ "currency": "EUR", "options": [{ "kind": "HOURLY", "amountMinor": 100 }, { "kind": "HOURLY", "amountMinor": 200 }] }),
        json!({ "currency": "EUR", "options": [{ "kind": "PACKAGE", "amountMinor": 100 }] }),
        json!({ "currency": "EUR", "options": [{ "kind": "PACKAGE", "sessions": 1, "amountMinor": 100 }] }),
        json!({ "currency": "EUR", "options": [{ "id": uuid::Uuid::now_v7().to_string(), "kind": "HOURLY", "amountMinor": 100 }] }),
    ];
    for input in refusals {
        let body = stack.gql(update, json!({ "i": input }), Some(&tutor.token)).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{input}: {body}");
    }
}
