//! The API: the caller's notifications (pagination, unread, marking read), preferences and
//! devices (validation), the `User` and `Notification` entities, and who may see what.

use notification::domain::{Channel, Kind};
use serde_json::{Value, json};

use crate::events::paid;
use crate::helpers::*;

const LIST: &str = "query($f: Int, $a: String, $u: Boolean = false) { notifications(first: $f, after: $a, unreadOnly: $u) { \
    edges { cursor node { id type channel title status readAt recipient { id } } } pageInfo { hasNextPage endCursor } unreadCount } }";
const READ: &str = "mutation($id: ID!) { markNotificationRead(id: $id) { id readAt } }";
const PREFS: &str =
    "query { notificationPreferences { phoneNumber pushDevices settings { type channel enabled isDefault } } }";
const UPDATE: &str = "mutation($i: [NotificationPreferenceInput!]!, $p: String) { updateNotificationPreferences(input: $i, phoneNumber: $p) { phoneNumber settings { type channel enabled isDefault } } }";

fn ids(page: &Value) -> Vec<String> {
    page["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("no edges in {page}"))
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect()
}

fn reason(body: &Value) -> &str {
    body["errors"][0]["extensions"]["reason"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn notifications_page_newest_first_and_only_their_recipient_reads_them() {
    let stack = spawn().await;
    let (me, other) = (stack.user("STUDENT", "Mia").await, stack.user("STUDENT", "Oz").await);
    for _ in 0..3 {
        stack.deliver(&paid(&me)).await;
    }
    let all = stack
        .wait_history(&me, "4 in-app notifications", |l| l.iter().filter(|n| n.channel == Channel::InApp).count() == 4)
        .await;
    let in_app: Vec<String> = all.iter().filter(|n| n.channel == Channel::InApp).map(|n| n.id.to_string()).collect();

    let body = stack.gql(LIST, json!({ "f": 2 }), Some(&me.token)).await;
    let page = &body["data"]["notifications"];
    assert_eq!(ids(page), in_app[..2].to_vec(), "newest first: {body}");
    assert_eq!((page["pageInfo"]["hasNextPage"].as_bool(), page["unreadCount"].as_i64()), (Some(true), Some(4)));
    assert_eq!(page["edges"][0]["node"]["channel"], "IN_APP");
    assert_eq!(page["edges"][0]["node"]["recipient"]["id"], me.id.as_str());
    let body = stack.gql(LIST, json!({ "f": 2, "a": page["pageInfo"]["endCursor"] }), Some(&me.token)).await;
    let next = &body["data"]["notifications"];
    assert_eq!(ids(next), in_app[2..].to_vec());
    assert_eq!(next["pageInfo"]["hasNextPage"], false);
    assert_eq!(next["edges"][1]["node"]["type"], "WELCOME");
    for (vars, expected) in [
        (json!({ "f": 0 }), "BAD_USER_INPUT"),
        (json!({ "f": 51 }), "BAD_USER_INPUT"),
        (json!({ "a": "nope" }), "BAD_USER_INPUT"),
    ] {
        assert_eq!(code(&stack.gql(LIST, vars, Some(&me.token)).await), expected);
    }
    assert_eq!(code(&stack.gql(LIST, json!({}), None).await), "UNAUTHENTICATED");
    let body = stack.gql(LIST, json!({}), Some(&other.token)).await;
    assert!(!ids(&body["data"]["notifications"]).iter().any(|id| in_app.contains(id)), "one's own only: {body}");

    // Reading: the recipient only, in-app only, once.
    let newest = &in_app[0];
    assert_eq!(code(&stack.gql(READ, json!({ "id": newest }), Some(&other.token)).await), "FORBIDDEN");
    let body = stack.gql(READ, json!({ "id": newest }), Some(&me.token)).await;
    let read_at = body["data"]["markNotificationRead"]["readAt"].clone();
    assert!(read_at.is_string(), "{body}");
    let again = stack.gql(READ, json!({ "id": newest }), Some(&me.token)).await;
    assert_eq!(again["data"]["markNotificationRead"]["readAt"], read_at, "the first read is kept");
    let email = all.iter().find(|n| n.channel == Channel::Email).expect("an email").id.to_string();
    let body = stack.gql(READ, json!({ "id": email }), Some(&me.token)).await;
    assert_eq!((code(&body), reason(&body)), ("BAD_USER_INPUT", "NOT_IN_APP"));
    assert_eq!(
        code(&stack.gql(READ, json!({ "id": uuid::Uuid::now_v7().to_string() }), Some(&me.token)).await),
        "NOT_FOUND"
    );
    assert_eq!(code(&stack.gql(READ, json!({ "id": "x" }), Some(&me.token)).await), "BAD_USER_INPUT");

    let body = stack.gql(LIST, json!({ "u": true }), Some(&me.token)).await;
    assert_eq!(ids(&body["data"]["notifications"]), in_app[1..].to_vec(), "unread only");
    let body = stack.gql("mutation { markAllNotificationsRead }", json!({}), Some(&me.token)).await;
    assert_eq!(body["data"]["markAllNotificationsRead"], 3, "{body}");
    let body = stack.gql(LIST, json!({ "u": true }), Some(&me.token)).await;
    assert_eq!(
        (ids(&body["data"]["notifications"]).len(), body["data"]["notifications"]["unreadCount"].as_i64()),
        (0, Some(0))
    );

    // Through the graph: `User.notifications` for the user themselves; others' are refused.
    let user_q = "query($r: [_Any!]!) { _entities(representations: $r) { ... on User { notifications(first: 1) { edges { node { id } } } } } }";
    let rep = json!({ "r": [{ "__typename": "User", "id": me.id }] });
    let body = stack.gql(user_q, rep.clone(), Some(&me.token)).await;
    assert_eq!(body["data"]["_entities"][0]["notifications"]["edges"][0]["node"]["id"], newest.as_str(), "{body}");
    assert_eq!(code(&stack.gql(user_q, rep.clone(), Some(&other.token)).await), "FORBIDDEN");
    assert_eq!(code(&stack.gql(user_q, rep, None).await), "UNAUTHENTICATED");
    let note_q = "query($r: [_Any!]!) { _entities(representations: $r) { ... on Notification { id type deliveries { attempt outcome } } } }";
    let rep = json!({ "r": [{ "__typename": "Notification", "id": email }] });
    let body = stack.gql(note_q, rep.clone(), Some(&me.token)).await;
    let entity = &body["data"]["_entities"][0];
    assert_eq!(
        (entity["type"].as_str(), entity["deliveries"][0]["outcome"].as_str()),
        (Some("PAYMENT_RECEIVED"), Some("SENT")),
        "{body}"
    );
    let body = stack.gql(note_q, rep, Some(&other.token)).await;
    assert_eq!(body["data"]["_entities"][0], Value::Null, "not the recipient: {body}");
}

#[tokio::test]
async fn preferences_default_to_identitys_opt_ins_and_changes_are_validated() {
    let stack = spawn().await;
    let user = stack.user("STUDENT", "Val").await;
    let body = stack.gql(PREFS, json!({}), Some(&user.token)).await;
    let prefs = &body["data"]["notificationPreferences"];
    let settings = prefs["settings"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert_eq!(settings.len(), Kind::ALL.len() * Channel::ALL.len());
    let setting = |s: &[Value], t: &str, c: &str| {
        s.iter().find(|x| x["type"] == t && x["channel"] == c).cloned().unwrap_or_else(|| panic!("{t} {c}"))
    };
    assert_eq!(
        setting(settings, "WELCOME", "EMAIL"),
        json!({ "type": "WELCOME", "channel": "EMAIL", "enabled": true, "isDefault": true })
    );
    assert_eq!(setting(settings, "NEW_MESSAGE", "SMS")["enabled"], false, "SMS is off unless chosen");
    assert_eq!((prefs["phoneNumber"].clone(), prefs["pushDevices"].as_i64()), (Value::Null, Some(0)));

    let one = |t: &str, c: &str, e: bool| json!({ "type": t, "channel": c, "enabled": e });
    let body = stack
        .gql(UPDATE, json!({ "i": [one("WELCOME", "SMS", true), one("WELCOME", "SMS", false)] }), Some(&user.token))
        .await;
    assert_eq!((code(&body), reason(&body)), ("BAD_USER_INPUT", "DUPLICATE_PREFERENCE"));
    let only_preferences =
        "mutation($i: [NotificationPreferenceInput!]!) { updateNotificationPreferences(input: $i) { phoneNumber } }";
    let body = stack.gql(only_preferences, json!({ "i": [] }), Some(&user.token)).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "nothing to change: {body}");
    let body = stack.gql(UPDATE, json!({ "i": [], "p": "0151 1234" }), Some(&user.token)).await;
    assert_eq!((code(&body), reason(&body)), ("BAD_USER_INPUT", "INVALID_PHONE_NUMBER"));
    let body = stack.gql(UPDATE, json!({ "i": [one("WELCOME", "TELEGRAM", true)] }), Some(&user.token)).await;
    assert!(body["errors"].is_array(), "unknown channel: {body}");
    assert_eq!(code(&stack.gql(UPDATE, json!({ "i": [one("WELCOME", "SMS", true)] }), None).await), "UNAUTHENTICATED");

    let body = stack
        .gql(UPDATE, json!({ "i": [one("NEW_MESSAGE", "SMS", true), one("WELCOME", "IN_APP", false)], "p": "+49 151 1234 5678" }), Some(&user.token))
        .await;
    let prefs = &body["data"]["updateNotificationPreferences"];
    assert_eq!(prefs["phoneNumber"], "+4915112345678", "{body}");
    let settings = prefs["settings"].as_array().expect("settings");
    assert_eq!(
        setting(settings, "NEW_MESSAGE", "SMS"),
        json!({ "type": "NEW_MESSAGE", "channel": "SMS", "enabled": true, "isDefault": false })
    );
    assert_eq!(setting(settings, "WELCOME", "IN_APP")["enabled"], false);
    let body = stack.gql(UPDATE, json!({ "i": [], "p": null }), Some(&user.token)).await;
    assert_eq!(body["data"]["updateNotificationPreferences"]["phoneNumber"], Value::Null, "null removes it: {body}");

    // Devices.
    let register = "mutation($t: String!) { registerPushDevice(token: $t) }";
    let unregister = "mutation($t: String!) { unregisterPushDevice(token: $t) }";
    let body = stack.gql(register, json!({ "t": "no spaces allowed" }), Some(&user.token)).await;
    assert_eq!((code(&body), reason(&body)), ("BAD_USER_INPUT", "INVALID_DEVICE_TOKEN"));
    let body = stack.gql(register, json!({ "t": "fcm:abcdef123456" }), Some(&user.token)).await;
    assert_eq!(body["data"]["registerPushDevice"], true, "{body}");
    let body = stack.gql(PREFS, json!({}), Some(&user.token)).await;
    assert_eq!(body["data"]["notificationPreferences"]["pushDevices"], 1);
    let body = stack.gql(unregister, json!({ "t": "fcm:abcdef123456" }), Some(&user.token)).await;
    assert_eq!(body["data"]["unregisterPushDevice"], true);
    let body = stack.gql(unregister, json!({ "t": "fcm:abcdef123456" }), Some(&user.token)).await;
    assert_eq!(body["data"]["unregisterPushDevice"], false, "already gone");
}
