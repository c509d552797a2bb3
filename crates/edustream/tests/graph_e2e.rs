//! End to end across EduStream subgraphs: the router, with the committed supergraph, in front
//! of the real identity, tutoring, booking, payment and review services sharing an in-process
//! bus (so events flow between the contexts as they do in production).

use std::sync::Arc;
use std::time::Duration;

use router::{Router, RouterConfig, Supergraph};
use serde_json::{Value, json};

/// The router in front of identity (from `testkit`), tutoring, booking, payment and review.
struct Graph {
    inner: testkit::Graph,
    router: String,
}

async fn start() -> Graph {
    let inner = testkit::Graph::start(&[]).await;
    let (bus, verifier, shutdown) = (inner.bus.clone(), inner.verifier.clone(), inner.shutdown.clone());
    let tutoring_config = tutoring::TutoringConfig::from_env(&inner.env_for("tutoring").await).expect("config");
    let tutoring =
        tutoring::build(&tutoring_config, bus.clone(), verifier.clone(), &shutdown).await.expect("tutoring builds");
    let (listener, tutoring_addr) = testkit::listen().await;
    tokio::spawn(tutoring.serve(listener, shutdown.clone(), Duration::from_secs(1)));
    let review_config = review::ReviewConfig::from_env(&inner.env_for("review").await).expect("config");
    let review = review::build(&review_config, bus.clone(), verifier.clone(), &shutdown).await.expect("review builds");
    let (listener, review_addr) = testkit::listen().await;
    tokio::spawn(review.serve(listener, shutdown.clone(), Duration::from_secs(1)));
    let booking_config = booking::BookingConfig::from_env(&inner.env_for("booking").await).expect("config");
    let booking =
        booking::build(&booking_config, bus.clone(), verifier.clone(), &shutdown).await.expect("booking builds");
    let (listener, booking_addr) = testkit::listen().await;
    tokio::spawn(booking.serve(listener, shutdown.clone(), Duration::from_secs(1)));
    let (listener, payment_addr) = testkit::listen().await;
    let payment_env = inner
        .env_for("payment")
        .await
        .with("PAYMENT_WEBHOOK_SECRET", "whsec_router_e2e_0123456789")
        .with("PAYMENT_WEBHOOK_URL", format!("http://{payment_addr}/webhooks/provider"));
    let payment_config = payment::PaymentConfig::from_env(&payment_env).expect("config");
    let provider = payment::SimulatedProvider::start(
        payment_config.webhook_secret.clone(),
        payment_config.webhook_url.clone(),
        &shutdown,
    );
    let payment = payment::build(&payment_config, bus, verifier, provider, &shutdown).await.expect("payment builds");
    tokio::spawn(payment.serve(listener, shutdown.clone(), Duration::from_secs(1)));

    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../supergraph.graphql")).expect("reads");
    let mut config = RouterConfig::default();
    config.subgraph_urls.insert("identity".into(), format!("http://{}/graphql", inner.identity));
    config.subgraph_urls.insert("tutoring".into(), format!("http://{tutoring_addr}/graphql"));
    config.subgraph_urls.insert("review".into(), format!("http://{review_addr}/graphql"));
    config.subgraph_urls.insert("booking".into(), format!("http://{booking_addr}/graphql"));
    config.subgraph_urls.insert("payment".into(), format!("http://{payment_addr}/graphql"));
    // Our subgraphs speak cleartext HTTP/2 too: tutoring is called over it.
    let http2 = router::config::SubgraphSettings { protocol: router::config::Protocol::Http2, ..Default::default() };
    config.subgraphs.insert("tutoring".into(), http2);
    let router = Arc::new(Router::new(Supergraph::parse(&committed).expect("valid supergraph"), config));
    let (listener, router_addr) = testkit::listen().await;
    let stop = shutdown.clone();
    tokio::spawn(router::serve(router, listener, async move { stop.wait().await }));
    Graph { inner, router: format!("http://{router_addr}/graphql") }
}

impl Graph {
    /// Registers through the router; returns (user id, access token).
    async fn register(&self, email: &str, first_name: &str, role: &str) -> (String, String) {
        let body = self
            .gql(
                "mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id } } }",
                json!({ "i": { "email": email, "password": "correct horse battery", "firstName": first_name,
                               "lastName": "Tester", "role": role } }),
                None,
            )
            .await;
        let token = body["data"]["register"]["accessToken"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
        (body["data"]["register"]["user"]["id"].as_str().expect("id").to_owned(), token)
    }

    async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let mut request = self.inner.client.post(&self.router).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("sent").json().await.expect("JSON")
    }
}

#[tokio::test]
async fn one_query_spans_identity_and_tutoring_in_both_directions() {
    let graph = start().await;
    let register = "mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id } } }";
    let body = graph
        .gql(
            register,
            json!({ "i": { "email": "grace@example.org", "password": "correct horse battery", "firstName": "Grace",
                           "lastName": "Hopper", "role": "TUTOR" } }),
            None,
        )
        .await;
    let token = body["data"]["register"]["accessToken"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();

    // A mutation of tutoring, through the router, with the forwarded bearer token.
    let create = "mutation { createTutorProfile(input: { bio: \"COBOL and compilers\", timeZone: \"America/New_York\", subjects: [{ name: \"Compilers\", level: EXPERT }] }) { id } }";
    let body = graph.gql(create, json!({}), Some(&token)).await;
    let tutor_id = body["data"]["createTutorProfile"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let pricing = "mutation { updatePricing(input: { currency: \"USD\", options: [{ kind: HOURLY, amountMinor: 9000 }] }) { id } }";
    let body = graph.gql(pricing, json!({}), Some(&token)).await;
    assert!(body["data"]["updatePricing"].is_object(), "{body}");

    // identity root → tutoring (User.tutorProfile).
    let body = graph
        .gql(
            "{ me { email profile { firstName } tutorProfile { id subjects { name } pricing { lowestHourly { amountMinor currency } } rating { count } } } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert_eq!(
        body["data"]["me"],
        json!({ "email": "grace@example.org", "profile": { "firstName": "Grace" }, "tutorProfile": {
            "id": tutor_id, "subjects": [{ "name": "compilers" }],
            "pricing": { "lowestHourly": { "amountMinor": 9000, "currency": "USD" } }, "rating": { "count": 0 } } }),
        "{body}"
    );

    // tutoring root → identity (Tutor.user's profile), anonymous: public fields only.
    let body = graph
        .gql(
            "{ tutors(filter: { subject: \"compilers\" }) { edges { node { id user { profile { firstName lastName } } } } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        body["data"]["tutors"]["edges"],
        json!([{ "node": { "id": tutor_id, "user": { "profile": { "firstName": "Grace", "lastName": "Hopper" } } } }]),
        "{body}"
    );

    // Errors keep their codes through the router; without the token identity refuses `me`.
    let body = graph.gql(create, json!({}), Some(&token)).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{body}");
    let body = graph.gql("{ me { email } }", json!({}), None).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn a_tutor_with_names_subjects_pricing_rating_and_latest_reviews_in_one_query() {
    use platform::bus::EventBus as _;
    let graph = start().await;
    let (_, tutor_token) = graph.register("alan@example.org", "Alan", "TUTOR").await;
    let (student_id, student_token) = graph.register("joan@example.org", "Joan", "STUDENT").await;
    let create = "mutation { createTutorProfile(input: { bio: \"Computability\", timeZone: \"Europe/London\", subjects: [{ name: \"Logic\", level: EXPERT }] }) { id } }";
    let body = graph.gql(create, json!({}), Some(&tutor_token)).await;
    let tutor_id = body["data"]["createTutorProfile"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let pricing = "mutation { updatePricing(input: { currency: \"GBP\", options: [{ kind: HOURLY, amountMinor: 5000 }] }) { id } }";
    assert!(graph.gql(pricing, json!({}), Some(&tutor_token)).await["data"]["updatePricing"].is_object());

    // Booking's part, delivered directly (a real session cannot end within a test): it took place.
    let slot = kernel::events::booking::BookedSlot {
        booking_id: uuid::Uuid::now_v7().to_string(),
        tutor_id: tutor_id.clone(),
        student_id,
        starts_at: chrono::Utc::now() - chrono::Duration::hours(2),
        ends_at: chrono::Utc::now() - chrono::Duration::hours(1),
    };
    // (As booking would publish them: requested first, so payment knows the booking.)
    let requested = kernel::events::booking::BookingRequested {
        slot: slot.clone(),
        tutor_user_id: uuid::Uuid::now_v7().to_string(),
        subject: "logic".into(),
        price: kernel::Money::new(5000, kernel::Currency::parse("GBP").expect("currency")),
        payment_due_at: slot.starts_at,
    };
    graph.inner.bus.publish(&kernel::EventEnvelope::wrap(&requested, None)).await.expect("delivered");
    let completed =
        kernel::EventEnvelope::wrap(&kernel::events::booking::BookingCompleted { slot: slot.clone() }, None);
    graph.inner.bus.publish(&completed).await.expect("delivered");
    let review =
        "mutation($b: ID!) { createReview(input: { bookingId: $b, rating: 5, comment: \"Brilliant\" }) { id } }";
    let body = graph.gql(review, json!({ "b": slot.booking_id }), Some(&student_token)).await;
    assert!(body["data"]["createReview"]["id"].is_string(), "{body}");

    // review → outbox → bus → tutoring's rating projection: wait (bounded) until it shows.
    let query = "query($id: ID!) { tutor(id: $id) { user { profile { firstName lastName } } subjects { name level } pricing { lowestHourly { amountMinor currency } } rating { average count } reviews(first: 5) { edges { node { rating comment student { profile { firstName } } } } } } }";
    let mut body = Value::Null;
    for _ in 0..200 {
        body = graph.gql(query, json!({ "id": tutor_id }), None).await;
        if body["data"]["tutor"]["rating"]["count"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        body["data"]["tutor"],
        json!({
            "user": { "profile": { "firstName": "Alan", "lastName": "Tester" } },
            "subjects": [{ "name": "logic", "level": "EXPERT" }],
            "pricing": { "lowestHourly": { "amountMinor": 5000, "currency": "GBP" } },
            "rating": { "average": 5.0, "count": 1 },
            "reviews": { "edges": [{ "node": { "rating": 5, "comment": "Brilliant", "student": { "profile": { "firstName": "Joan" } } } }] }
        }),
        "{body}"
    );
}

/// Polls an operation (bounded: 10 s) until `done` holds for its answer.
async fn until(graph: &Graph, query: &str, variables: Value, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let mut body = Value::Null;
    for _ in 0..400 {
        body = graph.gql(query, variables.clone(), Some(token)).await;
        if done(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never reached the expected state: {body}");
}

#[tokio::test]
async fn a_student_books_pays_and_sees_their_bookings_across_five_subgraphs() {
    let graph = start().await;
    let (_, tutor_token) = graph.register("ada@example.org", "Ada", "TUTOR").await;
    let (_, student_token) = graph.register("charles@example.org", "Charles", "STUDENT").await;
    let create = "mutation { createTutorProfile(input: { bio: \"Engines\", timeZone: \"UTC\", instantBooking: true, subjects: [{ name: \"Maths\", level: EXPERT }] }) { id } }";
    let body = graph.gql(create, json!({}), Some(&tutor_token)).await;
    let tutor_id = body["data"]["createTutorProfile"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let days = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"];
    let weekly: Vec<Value> = days.iter().map(|d| json!({ "weekday": d, "start": "00:00", "end": "24:00" })).collect();
    let availability = "mutation($i: UpdateAvailabilityInput!) { updateAvailability(input: $i) { id } }";
    assert!(
        graph.gql(availability, json!({ "i": { "weekly": weekly } }), Some(&tutor_token)).await["data"].is_object()
    );
    let pricing = "mutation { updatePricing(input: { currency: \"EUR\", options: [{ kind: HOURLY, amountMinor: 4000 }] }) { pricing { options { id } } } }";
    let body = graph.gql(pricing, json!({}), Some(&tutor_token)).await;
    let option = body["data"]["updatePricing"]["pricing"]["options"][0]["id"].as_str().expect("option").to_owned();

    // Booking learns the calendar from tutoring's events: retry the request until it does.
    let starts =
        chrono::Utc::now().date_naive().and_hms_opt(10, 0, 0).expect("time").and_utc() + chrono::Duration::days(2);
    let request = "mutation($i: RequestBookingInput!) { requestBooking(input: $i) { id status } }";
    let input = json!({ "i": { "tutorId": tutor_id, "startsAt": starts.to_rfc3339(), "durationMinutes": 60,
                               "subject": "maths", "pricingOptionId": option } });
    let body = until(&graph, request, input, &student_token, |b| b["data"]["requestBooking"]["id"].is_string()).await;
    let booking = body["data"]["requestBooking"]["id"].as_str().expect("id").to_owned();

    // Pay through the router (payment opens the intent when BookingRequested reaches it).
    let pay = "mutation($b: ID!) { payForBooking(bookingId: $b, paymentMethod: \"4242424242424242\") { status } }";
    until(&graph, pay, json!({ "b": booking }), &student_token, |b| b["data"]["payForBooking"].is_object()).await;

    // One query: identity's `me`, booking's `User.bookings`, tutoring's tutor and rating,
    // identity again for the tutor's name, payment's `Booking.payment`, review's `Booking.review`.
    let query = "{ me { bookings { edges { node { id status session { startsAt } tutor { user { profile { firstName } } rating { average count } } payment { status amount { amountMinor currency } } review { rating } } } } } }";
    let body = until(&graph, query, json!({}), &student_token, |b| {
        b["data"]["me"]["bookings"]["edges"][0]["node"]["status"] == "CONFIRMED"
    })
    .await;
    assert_eq!(
        body["data"]["me"]["bookings"]["edges"][0]["node"],
        json!({
            "id": booking,
            "status": "CONFIRMED",
            "session": { "startsAt": starts.to_rfc3339() },
            "tutor": { "user": { "profile": { "firstName": "Ada" } }, "rating": { "average": null, "count": 0 } },
            "payment": { "status": "SUCCEEDED", "amount": { "amountMinor": 4000, "currency": "EUR" } },
            "review": null
        }),
        "{body}"
    );
    // The tutor sees the booking; another student does not see its payment.
    let (_, other_token) = graph.register("mary@example.org", "Mary", "STUDENT").await;
    let body = graph.gql(query, json!({}), Some(&other_token)).await;
    assert_eq!(body["data"]["me"]["bookings"]["edges"], json!([]), "{body}");
}
