//! Starting conversations, who may talk to whom, listing them and archiving.

use serde_json::{Value, json};

use crate::helpers::{code, spawn};

const LIST: &str = "query($f: Int, $a: String, $all: Boolean) { conversations(first: $f, after: $a, includeArchived: $all) { \
    edges { cursor node { id status unreadCount lastMessage { content sender { id } } participants { id } } } \
    pageInfo { hasNextPage endCursor } } }";

fn ids(list: &Value) -> Vec<String> {
    let edges = list["data"]["conversations"]["edges"].as_array().unwrap_or_else(|| panic!("{list}"));
    edges.iter().map(|e| e["node"]["id"].as_str().expect("id").to_owned()).collect()
}

#[tokio::test]
async fn a_student_and_a_tutor_have_one_conversation_whoever_starts_it() {
    let stack = spawn().await;
    let student = stack.user("STUDENT", "Sam").await;
    let tutor = stack.user("TUTOR", "Tia").await;

    let body = stack.start(&student.token, &tutor.id).await;
    let started = &body["data"]["startConversation"];
    assert_eq!(started["status"], "ACTIVE", "{body}");
    assert_eq!(started["unreadCount"], 0);
    assert_eq!(started["participants"], json!([{ "id": student.id }, { "id": tutor.id }]));
    assert_eq!(started["startedBy"]["id"], student.id.as_str());
    let id = started["id"].as_str().expect("id").to_owned();
    let event = stack.events.wait_for("messaging.ConversationStarted", &id).await;
    assert_eq!(event.payload["startedBy"], student.id.as_str());
    assert_eq!(event.payload["participantIds"], json!([student.id, tutor.id]));

    let again = stack.start(&student.token, &tutor.id).await;
    assert_eq!(again["data"]["startConversation"]["id"], id.as_str(), "the same pair: {again}");
    let reverse = stack.start(&tutor.token, &student.id).await;
    assert_eq!(reverse["data"]["startConversation"]["id"], id.as_str(), "the same pair: {reverse}");

    // The relay publishes in order: once a later event is out, a second start would be too.
    let message = stack.sent(&student.token, &id, "hello").await;
    stack.events.wait_for("messaging.MessageSent", &message).await;
    let starts = stack.events.of_type("messaging.ConversationStarted");
    assert_eq!(starts.iter().filter(|e| e.aggregate_id == id).count(), 1, "starting again publishes nothing");
}

#[tokio::test]
async fn who_may_talk_follows_the_roles_identity_published() {
    let stack = spawn().await;
    let (ana, ben) = (stack.user("STUDENT", "Ana").await, stack.user("STUDENT", "Ben").await);
    let (tom, tim) = (stack.user("TUTOR", "Tom").await, stack.user("TUTOR", "Tim").await);

    let body = stack.start(&ana.token, &ben.id).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "NOT_A_STUDENT_TUTOR_PAIR");
    let body = stack.start(&tom.token, &tim.id).await;
    assert_eq!(body["errors"][0]["extensions"]["reason"], "NOT_A_STUDENT_TUTOR_PAIR", "{body}");
    let body = stack.start(&ana.token, &ana.id).await;
    assert_eq!(
        (code(&body), &body["errors"][0]["extensions"]["reason"]),
        ("BAD_USER_INPUT", &json!("CANNOT_MESSAGE_YOURSELF"))
    );
    let body = stack.start(&ana.token, &uuid::Uuid::now_v7().to_string()).await;
    assert_eq!((code(&body), &body["errors"][0]["extensions"]["reason"]), ("NOT_FOUND", &json!("UNKNOWN_USER")));
    let body = stack.start(&ana.token, "not-an-id").await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let body = stack
        .gql("mutation($p: ID!) { startConversation(participantId: $p) { id } }", json!({ "p": tom.id }), None)
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");

    // An admin may start one with anyone; nobody else may start one with an admin.
    let admin = stack.user("ADMIN", "Root").await;
    let body = stack.start(&admin.token, &ana.id).await;
    assert!(body["data"]["startConversation"]["id"].is_string(), "{body}");
    let body = stack.start(&tom.token, &admin.id).await;
    assert_eq!(body["errors"][0]["extensions"]["reason"], "NOT_A_STUDENT_TUTOR_PAIR", "{body}");
    let body = stack.start(&ana.token, &admin.id).await;
    assert!(body["data"]["startConversation"]["id"].is_string(), "the pair's conversation exists: {body}");

    // Ben becomes a tutor: Ana may talk to him now.
    let change = "mutation($u: ID!) { changeRole(userId: $u, role: TUTOR) { id } }";
    let changed = stack.post(stack.identity, change, json!({ "u": ben.id }), Some(&admin.token)).await;
    assert!(changed["errors"].is_null(), "{changed}");
    stack.wait_for_role(&ben.id, "TUTOR").await;
    let body = stack.start(&ana.token, &ben.id).await;
    assert!(body["data"]["startConversation"]["id"].is_string(), "{body}");
}

#[tokio::test]
async fn an_older_identity_event_even_redelivered_never_overwrites_a_newer_role() {
    use kernel::events::identity::{UserRegistered, UserRoleChanged};
    use kernel::{EventEnvelope, Role};
    let stack = spawn().await;
    let user = uuid::Uuid::now_v7().to_string();
    let registered = UserRegistered {
        user_id: user.clone(),
        email: "late@example.org".into(),
        role: Role::Student,
        first_name: "Lea".into(),
        last_name: "Late".into(),
        registered_at: chrono::Utc::now(),
    };
    let older = EventEnvelope::wrap(&registered, None);
    let change =
        UserRoleChanged { user_id: user.clone(), previous_role: Role::Student, role: Role::Tutor, changed_by: None };
    stack.deliver(&change).await;
    stack.wait_for_role(&user, "TUTOR").await;
    // The registration arrives late, and twice: the newer role stays.
    stack.bus_redeliver(&older).await;
    stack.bus_redeliver(&older).await;
    // A later event through the same queue proves both were handled before it.
    let other = uuid::Uuid::now_v7().to_string();
    stack.deliver(&UserRegistered { user_id: other.clone(), ..registered }).await;
    stack.wait_for_role(&other, "STUDENT").await;
    let role = stack.service.store().known_role(user.parse().expect("id")).await.expect("store");
    assert_eq!(role, Some(Role::Tutor));
}

#[tokio::test]
async fn my_conversations_are_newest_activity_first_with_last_message_and_unread_count() {
    let stack = spawn().await;
    let tutor = stack.user("TUTOR", "Tutor").await;
    let mut students = Vec::new();
    let mut conversations = Vec::new();
    for name in ["A", "B", "C"] {
        let student = stack.user("STUDENT", name).await;
        conversations.push(stack.conversation(&student.token, &tutor).await);
        students.push(student);
    }
    // Started A, B, C; then A writes twice: A is the most recent, then C, then B.
    stack.sent(&students[0].token, &conversations[0], "first").await;
    stack.sent(&students[0].token, &conversations[0], "second").await;
    stack.sent(&tutor.token, &conversations[1], "tutor's own message").await;
    stack.sent(&students[0].token, &conversations[0], "third").await;
    stack.sent(&tutor.token, &conversations[0], "my reply").await;
    let order = [&conversations[0], &conversations[1], &conversations[2]];

    let body = stack.gql(LIST, json!({}), Some(&tutor.token)).await;
    assert_eq!(ids(&body), order.map(|s| s.to_owned()), "A, B (the tutor wrote there after C began), C: {body}");
    let a = &body["data"]["conversations"]["edges"][0]["node"];
    assert_eq!(a["unreadCount"], 3, "three from the student; the tutor's own reply does not count: {body}");
    assert_eq!(a["lastMessage"], json!({ "content": "my reply", "sender": { "id": tutor.id } }));
    let b = &body["data"]["conversations"]["edges"][1]["node"];
    assert_eq!(b["unreadCount"], 0, "{body}");
    let c = &body["data"]["conversations"]["edges"][2]["node"];
    assert_eq!(c["lastMessage"], Value::Null);
    let body = stack.gql(LIST, json!({}), Some(&students[0].token)).await;
    assert_eq!(body["data"]["conversations"]["edges"][0]["node"]["unreadCount"], 1, "the tutor's reply: {body}");
    assert_eq!(ids(&body), vec![conversations[0].clone()], "only their own");

    let page = stack.gql(LIST, json!({ "f": 2 }), Some(&tutor.token)).await;
    assert_eq!(ids(&page), vec![conversations[0].clone(), conversations[1].clone()], "{page}");
    let info = &page["data"]["conversations"]["pageInfo"];
    assert_eq!(info["hasNextPage"], true);
    let rest = stack.gql(LIST, json!({ "f": 2, "a": info["endCursor"] }), Some(&tutor.token)).await;
    assert_eq!(ids(&rest), vec![conversations[2].clone()], "{rest}");
    assert_eq!(rest["data"]["conversations"]["pageInfo"]["hasNextPage"], false);

    for bad in [json!({ "f": 0 }), json!({ "f": 51 }), json!({ "a": "nope" })] {
        let body = stack.gql(LIST, bad.clone(), Some(&tutor.token)).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{bad}: {body}");
    }
    let body = stack.gql(LIST, json!({}), None).await;
    assert_eq!(code(&body), "UNAUTHENTICATED");

    // The same list through the User entity, for oneself only.
    let mine = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { conversations(first: 1) { edges { node { id } } } } } }";
    let body = stack.gql(mine, json!({ "r": [{ "__typename": "User", "id": tutor.id }] }), Some(&tutor.token)).await;
    assert_eq!(
        body["data"]["_entities"][0]["conversations"]["edges"][0]["node"]["id"],
        conversations[0].as_str(),
        "{body}"
    );
    let body =
        stack.gql(mine, json!({ "r": [{ "__typename": "User", "id": tutor.id }] }), Some(&students[1].token)).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
}

#[tokio::test]
async fn archiving_hides_a_conversation_for_me_only_until_a_new_message_arrives() {
    let stack = spawn().await;
    let student = stack.user("STUDENT", "Sue").await;
    let tutor = stack.user("TUTOR", "Ted").await;
    let id = stack.conversation(&student.token, &tutor).await;
    let archive = "mutation($c: ID!) { archiveConversation(conversationId: $c) { id status } }";

    let body = stack.gql(archive, json!({ "c": id }), Some(&student.token)).await;
    assert_eq!(body["data"]["archiveConversation"]["status"], "ARCHIVED", "{body}");
    let event = stack.events.wait_for("messaging.ConversationArchived", &id).await;
    assert_eq!(event.payload["participantId"], student.id.as_str());
    let body = stack.gql(archive, json!({ "c": id }), Some(&student.token)).await;
    assert_eq!(body["data"]["archiveConversation"]["status"], "ARCHIVED", "archiving again changes nothing: {body}");

    assert!(ids(&stack.gql(LIST, json!({}), Some(&student.token)).await).is_empty(), "hidden for the student");
    let all = stack.gql(LIST, json!({ "all": true }), Some(&student.token)).await;
    assert_eq!(all["data"]["conversations"]["edges"][0]["node"]["status"], "ARCHIVED", "{all}");
    let theirs = stack.gql(LIST, json!({}), Some(&tutor.token)).await;
    assert_eq!(theirs["data"]["conversations"]["edges"][0]["node"]["status"], "ACTIVE", "not for the tutor: {theirs}");

    // A new message brings it back.
    let message = stack.sent(&tutor.token, &id, "are you still there?").await;
    let back = stack.gql(LIST, json!({}), Some(&student.token)).await;
    assert_eq!(ids(&back), vec![id.clone()], "{back}");
    assert_eq!(back["data"]["conversations"]["edges"][0]["node"]["status"], "ACTIVE");
    stack.events.wait_for("messaging.MessageSent", &message).await;
    let archived = stack.events.of_type("messaging.ConversationArchived");
    assert_eq!(archived.iter().filter(|e| e.aggregate_id == id).count(), 1, "archiving twice published once");

    // So does starting it again.
    stack.gql(archive, json!({ "c": id }), Some(&student.token)).await;
    let body = stack.start(&student.token, &tutor.id).await;
    assert_eq!(body["data"]["startConversation"]["status"], "ACTIVE", "{body}");
}

#[tokio::test]
async fn outsiders_learn_nothing_about_a_conversation_or_its_messages() {
    let stack = spawn().await;
    let student = stack.user("STUDENT", "In").await;
    let tutor = stack.user("TUTOR", "Side").await;
    let outsider = stack.user("TUTOR", "Out").await;
    let id = stack.conversation(&student.token, &tutor).await;
    let message = stack.sent(&student.token, &id, "private").await;
    let missing = uuid::Uuid::now_v7().to_string();

    let read = "query($c: ID!) { conversation(id: $c) { id messages { edges { node { content } } } } }";
    let body = stack.gql(read, json!({ "c": id }), Some(&tutor.token)).await;
    assert_eq!(body["data"]["conversation"]["messages"]["edges"][0]["node"]["content"], "private", "{body}");
    let body = stack.gql(read, json!({ "c": id }), Some(&outsider.token)).await;
    assert_eq!(body["data"]["conversation"], Value::Null, "{body}");
    assert!(body["errors"].is_null());

    // Every mutation answers an outsider exactly as it answers an id that does not exist.
    let attempts = [
        ("mutation($x: ID!) { sendMessage(conversationId: $x, content: \"hi\") { id } }", &id),
        ("mutation($x: ID!) { archiveConversation(conversationId: $x) { id } }", &id),
        ("mutation($x: ID!) { sendTyping(conversationId: $x) }", &id),
        ("mutation($x: ID!) { editMessage(messageId: $x, content: \"hi\") { id } }", &message),
        ("mutation($x: ID!) { deleteMessage(messageId: $x) { id } }", &message),
        ("mutation($x: ID!) { markMessageRead(messageId: $x) { readAt } }", &message),
    ];
    for (mutation, target) in attempts {
        let refused = stack.gql(mutation, json!({ "x": target }), Some(&outsider.token)).await;
        let unknown = stack.gql(mutation, json!({ "x": missing }), Some(&outsider.token)).await;
        assert_eq!(code(&refused), "NOT_FOUND", "{mutation}: {refused}");
        assert_eq!(refused["errors"][0], unknown["errors"][0], "{mutation}: indistinguishable");
        assert!(refused["errors"][0]["extensions"]["reason"].is_null());
    }

    // Federation: entities resolve for participants only, and never fail the batch.
    let entities = "query($r: [_Any!]!) { _entities(representations: $r) { \
        ... on Conversation { id unreadCount } ... on Message { id content } } }";
    let representations = json!({ "r": [
        { "__typename": "Conversation", "id": id },
        { "__typename": "Message", "id": message },
        { "__typename": "Message", "id": "garbage" },
    ] });
    let body = stack.gql(entities, representations.clone(), Some(&tutor.token)).await;
    assert_eq!(body["data"]["_entities"][0], json!({ "id": id, "unreadCount": 1 }), "{body}");
    assert_eq!(body["data"]["_entities"][1], json!({ "id": message, "content": "private" }));
    assert_eq!(body["data"]["_entities"][2], Value::Null);
    for token in [Some(outsider.token.as_str()), None] {
        let body = stack.gql(entities, representations.clone(), token).await;
        assert_eq!(body["data"]["_entities"], json!([null, null, null]), "{body}");
    }

    // Nothing an outsider tried changed the conversation.
    let body = stack.gql(read, json!({ "c": id }), Some(&student.token)).await;
    let edges = body["data"]["conversation"]["messages"]["edges"].as_array().expect("edges").len();
    assert_eq!(edges, 1, "{body}");
}
