//! The committed `schema.graphql` is the SDL the service exports; regenerate it with
//! `UPDATE_SCHEMA=1 cargo test -p notification --test api`.

#[test]
fn the_committed_sdl_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let current = notification::schema::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &current).expect("writes schema.graphql");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "subgraphs/notification/schema.graphql is stale: run `UPDATE_SCHEMA=1 cargo test -p notification --test api` and commit it"
    );
}
