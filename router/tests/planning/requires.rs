//! `@requires`: fields an entity fetch needs in its representations (`plan/requires.rs`).

use super::plan;

#[test]
fn a_required_field_is_selected_before_the_jump_and_sent_in_the_representation() {
    let catalog = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { parcels: [Parcel] }
        type Parcel @key(fields: "id") { id: ID! weight: Int }
    "#;
    let shipping = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])
        type Parcel @key(fields: "id") { id: ID! weight: Int @external postage: Int @requires(fields: "weight") }
    "#;
    let plan = plan(&[("catalog", catalog), ("shipping", shipping)], "{ parcels { postage } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "catalog") {
        query { parcels { __typename id weight } }
      } then {
        Fetch(service: "shipping", entity: Parcel, at: parcels, sends: { id weight }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Parcel { postage } } }
        }
      }
    }
    "#);
}

#[test]
fn a_required_field_with_arguments_is_fetched_under_an_alias_naming_them() {
    let pricing = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { courses: [Course] }
        type Course @key(fields: "id") { id: ID! price(currency: String!): Int }
    "#;
    let offers = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])
        type Course @key(fields: "id") {
            id: ID!
            price(currency: String!): Int @external
            discounted: Int @requires(fields: "price(currency: \"EUR\")")
        }
    "#;
    let plan = plan(&[("pricing", pricing), ("offers", offers)], "{ courses { discounted } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "pricing") {
        query { courses { __typename id _req_price_d2f0f48ff58c19dc: price(currency: "EUR") } }
      } then {
        Fetch(service: "offers", entity: Course, at: courses, sends: { id _req_price_d2f0f48ff58c19dc: price(currency: "EUR") }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Course { discounted } } }
        }
      }
    }
    "#);
}

#[test]
fn a_required_field_that_requires_another_is_fetched_first_in_a_chain() {
    // `cost` needs `volume` (sizing), which itself needs `dimensions` (catalog, the root).
    let catalog = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { parcels: [Parcel] }
        type Parcel @key(fields: "id") { id: ID! dimensions: String }
    "#;
    let sizing = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])
        type Parcel @key(fields: "id") { id: ID! dimensions: String @external volume: Int @requires(fields: "dimensions") }
    "#;
    let billing = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])
        type Parcel @key(fields: "id") { id: ID! volume: Int @external cost: Int @requires(fields: "volume") }
    "#;
    let subgraphs = [("catalog", catalog), ("sizing", sizing), ("billing", billing)];
    let plan = plan(&subgraphs, "{ parcels { cost } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "catalog") {
        query { parcels { __typename id dimensions } }
      } then {
        Fetch(service: "sizing", entity: Parcel, at: parcels, sends: { id dimensions }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Parcel { volume } } }
        } afterAll {
          Fetch(service: "billing", entity: Parcel, at: parcels, sends: { id volume }) {
            query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Parcel { cost } } }
          }
        }
      }
    }
    "#);
}

/// Both jumps need only the root's data: they run side by side.
#[test]
fn requirements_of_one_field_with_other_arguments_get_aliases_and_separate_jumps() {
    let pricing = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { products: [Product] }
        type Product @key(fields: "upc") { upc: String! price(currency: String!): Int }
    "#;
    let tax = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@requires"])
        type Product @key(fields: "upc") {
            upc: String!
            price(currency: String!): Int @external
            usTax: Int @requires(fields: "price(currency: \"USD\")")
            euTax: Int @requires(fields: "price(currency: \"EUR\")")
        }
    "#;
    let plan = plan(&[("pricing", pricing), ("tax", tax)], "{ products { usTax euTax } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "pricing") {
        query { products { __typename upc _req_price_c7812208d877efb0: price(currency: "USD") _req_price_d2f0f48ff58c19dc: price(currency: "EUR") } }
      } then {
        Fetch(service: "tax", entity: Product, at: products, sends: { upc _req_price_c7812208d877efb0: price(currency: "USD") }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Product { usTax } } }
        }
        Fetch(service: "tax", entity: Product, at: products, sends: { upc _req_price_d2f0f48ff58c19dc: price(currency: "EUR") }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Product { euTax } } }
        }
      }
    }
    "#);
}
