//! The committed `supergraph.graphql` is composed from the subgraphs as they exist: regenerate it
//! with `cargo run -- compose` (or `UPDATE_SUPERGRAPH=1 cargo test -p edustream --test supergraph`).

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
        sdl: std::fs::read_to_string(format!("{}/../../subgraphs/{name}/schema.graphql", env!("CARGO_MANIFEST_DIR")))
            .expect("the subgraph's committed schema.graphql"),
    })
    .collect();
    let composed = compose(&subgraphs).expect("the subgraphs compose");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../supergraph.graphql");
    if std::env::var_os("UPDATE_SUPERGRAPH").is_some() {
        std::fs::write(path, &composed).expect("writes supergraph.graphql");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(committed == composed, "supergraph.graphql is stale: run `cargo run -- compose` and commit it");
    router::Supergraph::parse(&composed).expect("the composed supergraph loads");
}
