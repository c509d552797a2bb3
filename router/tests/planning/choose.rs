//! Choosing among subgraphs: shareable fields, shared root fields and `@override`
//! (`plan/choose.rs`, `plan/root.rs`).

use serde_json::json;

use super::{plan, plan_with};

#[test]
fn the_subgraph_that_resolves_a_shareable_fields_whole_subtree_is_chosen() {
    let catalog = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { books: [Book] }
        type Book @key(fields: "id") { id: ID! title: String }
    "#;
    // Blurbs and people both resolve `Book.author`; only people has the author's `born`.
    let blurbs = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
        type Book @key(fields: "id") { id: ID! author: Author @shareable }
        type Author { name: String @shareable }
    "#;
    let people = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
        type Book @key(fields: "id") { id: ID! author: Author @shareable }
        type Author { name: String @shareable born: Int }
    "#;
    let subgraphs = [("catalog", catalog), ("blurbs", blurbs), ("people", people)];
    let plan = plan(&subgraphs, "{ books { title author { name born } } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "catalog") {
        query { books { title __typename id } }
      } then {
        Fetch(service: "people", entity: Book, at: books, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Book { author { name born } } } }
        }
      }
    }
    "#);
}

#[test]
fn a_shared_root_field_without_keys_is_split_between_its_subgraphs() {
    let visits = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@shareable"])
        type Query { dashboard: Dashboard @shareable }
        type Dashboard { visits: Int }
    "#;
    let sales = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@shareable"])
        type Query { dashboard: Dashboard @shareable }
        type Dashboard { sales: Int }
    "#;
    let plan = plan(&[("visits", visits), ("sales", sales)], "{ dashboard { visits sales } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "visits") {
        query { dashboard { visits } }
      }
      Fetch(service: "sales") {
        query { dashboard { sales } }
      }
    }
    "#);
}

#[test]
fn an_overridden_field_is_resolved_by_the_overriding_subgraph() {
    let catalog = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { courses: [Course] }
        type Course @key(fields: "id") { id: ID! title: String price: Int }
    "#;
    let pricing = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@override"])
        type Course @key(fields: "id") { id: ID! price: Int @override(from: "catalog") }
    "#;
    let plan = plan(&[("catalog", catalog), ("pricing", pricing)], "{ courses { title price } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "catalog") {
        query { courses { title __typename id } }
      } then {
        Fetch(service: "pricing", entity: Course, at: courses, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Course { price } } }
        }
      }
    }
    "#);
}

#[test]
fn a_progressive_override_moves_the_field_only_while_its_label_is_active() {
    // Progressive override (`label:`) is Federation 2.7.
    let catalog = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])
        type Query { courses: [Course] }
        type Course @key(fields: "id") { id: ID! title: String price: Int }
    "#;
    let pricing = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key", "@override"])
        type Course @key(fields: "id") { id: ID! price: Int @override(from: "catalog", label: "percent(50)") }
    "#;
    let subgraphs = [("catalog", catalog), ("pricing", pricing)];
    let query = "{ courses { title price } }";
    insta::assert_snapshot!(plan_with(&subgraphs, query, json!({}), &[]), @r#"
    Parallel {
      Fetch(service: "catalog") {
        query { courses { title price } }
      }
    }
    "#);
    insta::assert_snapshot!(plan_with(&subgraphs, query, json!({}), &["percent(50)"]), @r#"
    Parallel {
      Fetch(service: "catalog") {
        query { courses { title __typename id } }
      } then {
        Fetch(service: "pricing", entity: Course, at: courses, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Course { price } } }
        }
      }
    }
    "#);
}
