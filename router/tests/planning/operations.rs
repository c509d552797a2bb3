//! What the operation brings to planning: the API schema (`@inaccessible`), mutations in order
//! (`plan/root.rs`), `@skip`/`@include` and the merging of normalisation (`operation.rs`).

use serde_json::json;

use super::{plan, plan_with, refusal};

/// A catalog that owns books and a stock subgraph that adds `copies`.
const CATALOG: &str = r#"
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
    type Query { books: [Book] }
    type Book @key(fields: "isbn") { isbn: ID! title: String subtitle: String }
"#;
const STOCK: &str = r#"
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
    type Book @key(fields: "isbn") { isbn: ID! copies: Int }
"#;

/// Books keyed by an internal id that clients never see.
const CATALOG_BY_ROW: &str = r#"
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@inaccessible"])
    type Query { books: [Book] }
    type Book @key(fields: "rowId") { rowId: ID! @inaccessible title: String }
"#;
const STOCK_BY_ROW: &str = r#"
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@inaccessible"])
    type Book @key(fields: "rowId") { rowId: ID! @inaccessible copies: Int }
"#;

#[test]
fn an_inaccessible_field_cannot_be_queried() {
    let refusal = refusal(&[("catalog", CATALOG_BY_ROW), ("stock", STOCK_BY_ROW)], "{ books { rowId title } }");
    insta::assert_snapshot!(refusal, @"GRAPHQL_VALIDATION_FAILED: type `Book` does not have a field `rowId` (line 1, column 11)");
}

#[test]
fn an_inaccessible_key_field_still_travels_in_representations() {
    let plan = plan(&[("catalog", CATALOG_BY_ROW), ("stock", STOCK_BY_ROW)], "{ books { title copies } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "catalog") {
        query { books { title __typename rowId } }
      } then {
        Fetch(service: "stock", entity: Book, at: books, sends: { rowId }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Book { copies } } }
        }
      }
    }
    "#);
}

#[test]
fn root_mutation_fields_run_in_order_across_subgraphs() {
    let accounts = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: [])
        type Query { accountCount: Int }
        type Mutation { register(name: String!): ID deactivate(id: ID!): Boolean }
    "#;
    let mail = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: [])
        type Mutation { sendWelcome(name: String!): Boolean }
    "#;
    // The two accounts fields are not merged into one fetch: mail's runs between them.
    let mutation = r#"mutation { register(name: "Ada") sendWelcome(name: "Ada") deactivate(id: "1") }"#;
    insta::assert_snapshot!(plan(&[("accounts", accounts), ("mail", mail)], mutation), @r#"
    Sequence {
      Fetch(service: "accounts") {
        mutation { register(name: "Ada") }
      }
      Fetch(service: "mail") {
        mutation { sendWelcome(name: "Ada") }
      }
      Fetch(service: "accounts") {
        mutation { deactivate(id: "1") }
      }
    }
    "#);
}

#[test]
fn skip_and_include_with_variables_give_different_plans() {
    let subgraphs = [("catalog", CATALOG), ("stock", STOCK)];
    let query = "query($stock: Boolean!, $brief: Boolean!) {
        books { title subtitle @skip(if: $brief) copies @include(if: $stock) }
    }";
    let with_stock = plan_with(&subgraphs, query, json!({ "stock": true, "brief": true }), &[]);
    insta::assert_snapshot!(with_stock, @r#"
    Parallel {
      Fetch(service: "catalog") {
        query { books { title __typename isbn } }
      } then {
        Fetch(service: "stock", entity: Book, at: books, sends: { isbn }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Book { copies } } }
        }
      }
    }
    "#);
    let without_stock = plan_with(&subgraphs, query, json!({ "stock": false, "brief": false }), &[]);
    insta::assert_snapshot!(without_stock, @r#"
    Parallel {
      Fetch(service: "catalog") {
        query { books { title subtitle } }
      }
    }
    "#);
}

#[test]
fn duplicated_fields_and_fragments_are_merged_into_one_selection() {
    let subgraphs = [("catalog", CATALOG), ("stock", STOCK)];
    let query = r#"
        { books { title copies ... on Book { title copies } ...Details title } }
        fragment Details on Book { title isbn copies }
    "#;
    insta::assert_snapshot!(plan(&subgraphs, query), @r#"
    Parallel {
      Fetch(service: "catalog") {
        query { books { title isbn __typename } }
      } then {
        Fetch(service: "stock", entity: Book, at: books, sends: { isbn }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Book { copies } } }
        }
      }
    }
    "#);
}

#[test]
fn a_fragment_bomb_is_planned_as_one_small_query() {
    // Each fragment spreads the one below twice: 2^10 copies of `title copies` once inlined.
    let mut query = String::from("{ books { ...B10 } }\nfragment B0 on Book { title copies }\n");
    for n in 1..=10 {
        query.push_str(&format!("fragment B{n} on Book {{ ...B{m} ...B{m} }}\n", m = n - 1));
    }
    insta::assert_snapshot!(plan(&[("catalog", CATALOG), ("stock", STOCK)], &query), @r#"
    Parallel {
      Fetch(service: "catalog") {
        query { books { title __typename isbn } }
      } then {
        Fetch(service: "stock", entity: Book, at: books, sends: { isbn }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Book { copies } } }
        }
      }
    }
    "#);
}
