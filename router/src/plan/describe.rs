//! A plan for people: the JSON of `extensions.queryPlan`, and an indented text for snapshots
//! and logs.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{FetchNode, Plan};
use crate::supergraph::Supergraph;

/// The plan as JSON, for the debugging header.
pub fn describe_plan(sg: &Supergraph, plan: &Plan) -> Value {
    fn node(sg: &Supergraph, n: &FetchNode) -> Value {
        let mut v = json!({ "kind": "Fetch", "serviceName": sg.graphs[n.graph].name, "operation": n.operation });
        if let Some(entity) = &n.entity {
            v["path"] = json!(entity.path.iter().map(|p| p.as_str()).collect::<Vec<_>>());
            v["entity"] = json!(entity.entity.as_str());
        }
        if !n.children.is_empty() {
            v["then"] = Value::Array(n.children.iter().map(|c| node(sg, c)).collect());
        }
        if !n.after.is_empty() {
            v["afterAll"] = Value::Array(n.after.iter().map(|c| node(sg, c)).collect());
        }
        v
    }
    json!({
        "kind": if plan.sequential { "Sequence" } else { "Parallel" },
        "nodes": plan.roots.iter().map(|n| node(sg, n)).collect::<Vec<_>>(),
    })
}

/// The plan as indented text (two spaces a level): `Parallel` or `Sequence` around the root
/// fetches, each fetch's operation on one line (an entity fetch names its type, its path and the
/// fields each representation sends besides `__typename`), the fetches that wait for it under
/// `then`, and those that wait for its whole subtree under `afterAll`.
pub fn display_plan(sg: &Supergraph, plan: &Plan) -> String {
    let mut out = String::from(if plan.sequential { "Sequence {\n" } else { "Parallel {\n" });
    for node in &plan.roots {
        write_fetch(&mut out, sg, node, 1);
    }
    out.push_str("}\n");
    out
}

fn write_fetch(out: &mut String, sg: &Supergraph, node: &FetchNode, depth: usize) {
    let indent = "  ".repeat(depth);
    // Writing to a `String` cannot fail.
    let _ = write!(out, "{indent}Fetch(service: \"{}\"", sg.graphs[node.graph].name);
    if let Some(entity) = &node.entity {
        let path: Vec<&str> = entity.path.iter().map(|p| p.as_str()).collect();
        let _ =
            write!(out, ", entity: {}, at: {}, sends: {{ {} }}", entity.entity, path.join("."), entity.representation);
    }
    let _ = writeln!(out, ") {{\n{indent}  {}", node.operation);
    let _ = write!(out, "{indent}}}");
    for (word, nodes) in [("then", &node.children), ("afterAll", &node.after)] {
        if nodes.is_empty() {
            continue;
        }
        let _ = writeln!(out, " {word} {{");
        for inner in nodes {
            write_fetch(out, sg, inner, depth + 1);
        }
        let _ = write!(out, "{indent}}}");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUPERGRAPH: &str = r#"
schema @link(url: "https://specs.apollo.dev/link/v1.0") @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION) { query: Query }
directive @join__field(graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, external: Boolean, override: String, usedOverridden: Boolean, overrideLabel: String) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION
directive @join__graph(name: String!, url: String!) on ENUM_VALUE
directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR
directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA
scalar join__FieldSet
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }
enum join__Graph {
  PRODUCTS @join__graph(name: "products", url: "http://products")
  INVENTORY @join__graph(name: "inventory", url: "http://inventory")
  SHIPPING @join__graph(name: "shipping", url: "http://shipping")
}
type Query @join__type(graph: PRODUCTS) @join__type(graph: INVENTORY) @join__type(graph: SHIPPING) {
  products: [Product] @join__field(graph: PRODUCTS)
}
type Product @join__type(graph: PRODUCTS, key: "id") @join__type(graph: INVENTORY, key: "id") @join__type(graph: SHIPPING, key: "id") {
  id: ID!
  name: String @join__field(graph: PRODUCTS)
  weight: Int @join__field(graph: INVENTORY) @join__field(graph: SHIPPING, external: true)
  inStock: Boolean @join__field(graph: INVENTORY)
  shippingEstimate: Int @join__field(graph: SHIPPING, requires: "weight")
}
"#;

    fn plan_of(sg: &Supergraph, query: &str) -> Plan {
        let document = crate::operation::parse(&sg.api, query, 0).expect("a valid operation");
        let operation = document.operations.get(None).expect("one operation");
        let operation = crate::operation::normalize(&document, operation, &serde_json::Map::new());
        super::super::plan(sg, &operation).expect("a plan")
    }

    #[test]
    fn a_plan_reads_as_indented_text_with_dependent_fetches_under_then_and_after_all() {
        let sg = Supergraph::parse(SUPERGRAPH).expect("a valid supergraph");
        let plan = plan_of(&sg, "{ products { name inStock shippingEstimate } }");
        // Inventory is asked for `inStock` and, for shipping's `@requires`, `weight` in one fetch
        // (sibling fetches for the same objects merge); the key is selected once.
        let expected = r#"Parallel {
  Fetch(service: "products") {
    query { products { name __typename id } }
  } then {
    Fetch(service: "inventory", entity: Product, at: products, sends: { id }) {
      query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Product { inStock weight } } }
    } afterAll {
      Fetch(service: "shipping", entity: Product, at: products, sends: { id weight }) {
        query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Product { shippingEstimate } } }
      }
    }
  }
}
"#;
        assert_eq!(display_plan(&sg, &plan), expected);
    }
}
