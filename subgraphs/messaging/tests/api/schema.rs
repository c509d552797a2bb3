//! The committed `schema.graphql` is the SDL the service exports; regenerate it with
//! `UPDATE_SCHEMA=1 cargo test -p messaging --test api`.

#[test]
fn the_committed_sdl_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let current = messaging::schema::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &current).expect("writes schema.graphql");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "subgraphs/messaging/schema.graphql is stale: run `UPDATE_SCHEMA=1 cargo test -p messaging --test api` and commit it"
    );
}

#[test]
fn the_sdl_declares_the_entities_and_the_subscriptions() {
    let sdl = messaging::schema::sdl();
    for expected in [
        "type Conversation @key(fields: \"id\")",
        "type Message @key(fields: \"id\")",
        "type User @key(fields: \"id\")",
        "messageAdded(conversationId: ID!): Message!",
        "messageUpdated(conversationId: ID!): Message!",
        "messageRead(conversationId: ID!): ReadReceipt!",
        "typing(conversationId: ID!): TypingEvent!",
    ] {
        assert!(sdl.contains(expected), "missing `{expected}` in:\n{sdl}");
    }
}
