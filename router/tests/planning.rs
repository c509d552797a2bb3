//! Query plans, one test per planning rule (`router/docs/planner.md` says which rule lives where):
//! each test composes two or three small subgraphs, plans one operation and compares the plan's
//! text with an inline snapshot. After changing a rule, `cargo insta test -p router --test planning
//! --review` shows every plan that moved; read each one before accepting it.
//!
//! The modules follow `router/src/plan/`: keys and jumps, `@requires`, `@provides`, the choice
//! among subgraphs (shareable fields, `@override`), abstract types, and what happens before
//! planning (`@inaccessible`, mutations, `@skip`/`@include`, normalisation).

#[path = "planning/abstract_types.rs"]
mod abstract_types;
#[path = "planning/choose.rs"]
mod choose;
#[path = "planning/keys.rs"]
mod keys;
#[path = "planning/operations.rs"]
mod operations;
#[path = "planning/provides.rs"]
mod provides;
#[path = "planning/requires.rs"]
mod requires;

use router::compose::{SubgraphSdl, compose};
use router::operation;
use router::plan::{display_plan, plan_with_labels};
use router::supergraph::{Labels, Supergraph};
use serde_json::{Value, json};

/// Composes `subgraphs` (`(name, sdl)`), plans `query` and renders the plan as indented text.
fn plan(subgraphs: &[(&str, &str)], query: &str) -> String {
    plan_with(subgraphs, query, json!({}), &[])
}

/// [`plan`] for a request with these `variables` (a JSON object) and these progressive-override
/// `labels` active.
fn plan_with(subgraphs: &[(&str, &str)], query: &str, variables: Value, labels: &[&str]) -> String {
    let supergraph = supergraph(subgraphs);
    let Value::Object(variables) = variables else { panic!("variables are a JSON object: {variables}") };
    let document = operation::parse(&supergraph.api, query, 0).unwrap_or_else(|e| panic!("a valid operation: {e}"));
    let (selected, variables) =
        operation::select(&supergraph.api, &document, None, &variables).unwrap_or_else(|e| panic!("variables: {e}"));
    let normalized = operation::normalize(&document, selected, &variables);
    let labels: Labels = labels.iter().map(|label| (*label).to_owned()).collect();
    let plan = plan_with_labels(&supergraph, &normalized, &labels).unwrap_or_else(|e| panic!("a plan: {e}"));
    display_plan(&supergraph, &plan)
}

/// The request error `query` gets before planning, as `CODE: message`.
fn refusal(subgraphs: &[(&str, &str)], query: &str) -> String {
    let supergraph = supergraph(subgraphs);
    let error = operation::parse(&supergraph.api, query, 0).expect_err("the operation is refused");
    format!("{}: {error}", error.code())
}

fn supergraph(subgraphs: &[(&str, &str)]) -> Supergraph {
    let sdls: Vec<SubgraphSdl> = subgraphs
        .iter()
        .map(|(name, sdl)| SubgraphSdl {
            name: (*name).to_owned(),
            url: format!("http://{name}.invalid/graphql"),
            sdl: (*sdl).to_owned(),
        })
        .collect();
    let composed = compose(&sdls).unwrap_or_else(|errors| panic!("the subgraphs compose: {errors:?}"));
    Supergraph::parse(&composed).unwrap_or_else(|e| panic!("the composed supergraph loads: {e}"))
}
