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

/// Every operation the README shows passes the router's default operation limits, the cost
/// limit included (which is on by default), against the committed supergraph.
#[test]
fn the_readmes_operations_pass_the_default_limits() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let supergraph = std::fs::read_to_string(format!("{root}/supergraph.graphql")).expect("supergraph.graphql");
    let supergraph = router::Supergraph::parse(&supergraph).expect("the supergraph loads");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    let limits = router::config::limits::OperationLimits::default();
    let mut checked = 0;
    for block in readme.split("```graphql").skip(1) {
        let block = block.split("```").next().unwrap_or_default();
        // One operation per unindented line that starts one; SDL (`type …`) is not an operation.
        let mut operations: Vec<String> = Vec::new();
        for line in block.lines() {
            let starts = ["{", "query", "mutation", "subscription"].iter().any(|k| line.starts_with(k));
            match operations.last_mut() {
                Some(current) if !starts => current.push_str(&format!("{line}\n")),
                _ if starts => operations.push(format!("{line}\n")),
                _ => {}
            }
        }
        for text in operations {
            let document = router::operation::parse(&supergraph.api, &text, limits.max_tokens)
                .unwrap_or_else(|e| panic!("{text}: {e}"));
            let operation = document.operations.get(None).expect("one operation");
            let variables = serde_json::Map::new();
            router::limits::check(&document, operation, &limits).unwrap_or_else(|e| panic!("{text}: {e}"));
            let normalized = router::operation::normalize(&document, operation, &variables);
            let cost = router::limits::cost(&normalized, &variables, &limits).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(cost < limits.max_cost / 10, "{text} costs {cost}: far from the limit, as ordinary queries are");
            checked += 1;
        }
    }
    assert!(checked >= 8, "the README's operations were found ({checked})");
}
