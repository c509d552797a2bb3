//! `@provides`: external fields a subgraph resolves below the providing field
//! (`plan/provides.rs`, and `key_for_provided` in `plan/keys.rs`).

use super::plan;

/// Owns the names of tutors and of the things they teach.
const PEOPLE: &str = r#"
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
    type Tutor @key(fields: "id") { id: ID! name: String email: String }
    type Course @key(fields: "id") { id: ID! title: String }
    type Workshop @key(fields: "id") { id: ID! title: String }
"#;

#[test]
fn provided_fields_of_an_object_field_are_resolved_without_a_jump() {
    let reviews = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@provides"])
        type Query { reviews: [Review] }
        type Review { body: String author: Tutor @provides(fields: "name") }
        type Tutor @key(fields: "id") { id: ID! name: String @external }
    "#;
    // `name` is provided, `email` is not: only `email` jumps to people.
    let plan = plan(&[("people", PEOPLE), ("reviews", reviews)], "{ reviews { author { name email } } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "reviews") {
        query { reviews { author { name __typename id } } }
      } then {
        Fetch(service: "people", entity: Tutor, at: reviews.author, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Tutor { email } } }
        }
      }
    }
    "#);
}

#[test]
fn provided_fields_below_an_interface_field_are_resolved_without_a_jump() {
    let agenda = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@provides"])
        type Query { upcoming: [Session] @provides(fields: "... on Course { title } ... on Workshop { title }") }
        interface Session { id: ID! }
        type Course implements Session @key(fields: "id") { id: ID! title: String @external }
        type Workshop implements Session @key(fields: "id") { id: ID! title: String @external }
    "#;
    let query = "{ upcoming { id ... on Course { title } ... on Workshop { title } } }";
    let plan = plan(&[("people", PEOPLE), ("agenda", agenda)], query);
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "agenda") {
        query { upcoming { __typename ... on Course { id title } ... on Workshop { id title } } }
      }
    }
    "#);
}

#[test]
fn provided_fields_below_a_union_field_are_resolved_without_a_jump() {
    let search = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@provides"])
        type Query { search(term: String!): [Hit] @provides(fields: "... on Course { title } ... on Tutor { name }") }
        union Hit = Course | Tutor
        type Course @key(fields: "id") { id: ID! title: String @external }
        type Tutor @key(fields: "id") { id: ID! name: String @external }
    "#;
    let query = r#"{ search(term: "maths") { ... on Course { title } ... on Tutor { name } } }"#;
    let plan = plan(&[("people", PEOPLE), ("search", search)], query);
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "search") {
        query { search(term: "maths") { __typename ... on Course { title } ... on Tutor { name } } }
      }
    }
    "#);
}

#[test]
fn a_key_field_provided_at_the_current_position_allows_the_jump() {
    // Zoo only `@provides` the cats' ids below `enclosure`; only vets knows a cat's age.
    let zoo = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@external", "@provides", "@shareable"])
        type Query { enclosure: Enclosure @provides(fields: "cats { id }") }
        type Enclosure @shareable { id: ID! cats: [Cat] @external }
        type Cat @key(fields: "id", resolvable: false) { id: ID! @external }
    "#;
    let vets = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
        type Enclosure @shareable { id: ID! cats: [Cat] }
        type Cat @key(fields: "id") { id: ID! age: Int }
    "#;
    let plan = plan(&[("zoo", zoo), ("vets", vets)], "{ enclosure { id cats { id age } } }");
    insta::assert_snapshot!(plan, @r#"
    Parallel {
      Fetch(service: "zoo") {
        query { enclosure { id cats { id __typename } } }
      } then {
        Fetch(service: "vets", entity: Cat, at: enclosure.cats, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Cat { age } } }
        }
      }
    }
    "#);
}
