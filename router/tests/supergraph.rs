//! The committed `supergraph.graphql` is composed from the subgraphs as they exist: regenerate it
//! with `cargo run -- compose` (or `UPDATE_SUPERGRAPH=1 cargo test -p router --test supergraph`).

use router::compose::{SubgraphSdl, compose};

#[test]
fn the_committed_supergraph_is_composed_from_the_current_subgraphs() {
    // Each subgraph's committed SDL (itself drift-tested against the code), at its dev port.
    let subgraphs: Vec<SubgraphSdl> = [
        ("identity", 8001),
        ("tutoring", 8002),
        ("booking", 8003),
        ("payment", 8006),
        ("review", 8007),
        ("messaging", 8004),
        ("notification", 8005),
    ]
    .into_iter()
    .map(|(name, port)| SubgraphSdl {
        name: name.into(),
        url: format!("http://127.0.0.1:{port}/graphql"),
        sdl: std::fs::read_to_string(format!("{}/../subgraphs/{name}/schema.graphql", env!("CARGO_MANIFEST_DIR")))
            .expect("the subgraph's committed schema.graphql"),
    })
    .collect();
    let composed = compose(&subgraphs).expect("the subgraphs compose");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../supergraph.graphql");
    if std::env::var_os("UPDATE_SUPERGRAPH").is_some() {
        std::fs::write(path, &composed).expect("writes supergraph.graphql");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(committed == composed, "supergraph.graphql is stale: run `cargo run -- compose` and commit it");
    router::Supergraph::parse(&composed).expect("the composed supergraph loads");
}

#[test]
fn a_field_resolved_by_two_subgraphs_must_be_shareable() {
    let a = SubgraphSdl {
        name: "a".into(),
        url: "http://a".into(),
        sdl: r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
                type Query { t: T } type T @key(fields: "id") { id: ID! name: String }"#
            .into(),
    };
    let b = SubgraphSdl {
        name: "b".into(),
        url: "http://b".into(),
        sdl: r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
                type T @key(fields: "id") { id: ID! name: String }"#
            .into(),
    };
    let errors = compose(&[a.clone(), b]).expect_err("T.name is not shareable");
    assert!(errors[0].message.contains("\"T.name\""), "{errors:?}");
    assert!(errors[0].message.contains("subgraph \"a\""), "{errors:?}");

    let shareable = SubgraphSdl {
        name: "b".into(),
        url: "http://b".into(),
        sdl: r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
                type T @key(fields: "id") { id: ID! name: String @shareable }"#
            .into(),
    };
    let a_shareable = SubgraphSdl {
        sdl: a
            .sdl
            .replace("name: String }", "name: String @shareable }")
            .replace("[\"@key\"]", "[\"@key\", \"@shareable\"]"),
        ..a
    };
    let supergraph = compose(&[a_shareable, shareable]).expect("composes");
    let loaded = router::Supergraph::parse(&supergraph).expect("loads");
    assert_eq!(loaded.graphs.len(), 2);
    assert!(supergraph.contains("@join__type(graph: A, key: \"id\")"), "{supergraph}");
}

#[test]
fn a_progressive_override_keeps_the_original_subgraph_with_the_label() {
    let sdl = |name: &str, extra: &str| SubgraphSdl {
        name: name.into(),
        url: format!("http://{name}"),
        sdl: format!(
            r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@override"])
               type Query {{ t: T }} type T @key(fields: "id") {{ id: ID! price: Int {extra} }}"#
        ),
    };
    let old = sdl("old", "");
    let mut new = sdl("new", r#"@override(from: "old", label: "percent(25)")"#);
    new.sdl = new.sdl.replace("type Query { t: T } ", "");
    let supergraph = compose(&[old, new]).expect("composes");
    assert!(supergraph.contains(r#"@join__field(graph: OLD, overrideLabel: "percent(25)")"#), "{supergraph}");
    assert!(
        supergraph.contains(r#"@join__field(graph: NEW, override: "old", overrideLabel: "percent(25)")"#),
        "{supergraph}"
    );
    router::Supergraph::parse(&supergraph).expect("loads");
}
