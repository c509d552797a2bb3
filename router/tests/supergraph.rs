//! Composition rules: shareable fields, progressive overrides. (The committed EduStream
//! supergraph's drift test lives with the platform: `crates/edustream/tests/supergraph.rs`.)

use router::compose::{SubgraphSdl, compose};

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
