//! Interfaces, unions and `@interfaceObject` (`plan/abstract_types.rs`).

use super::plan;

#[test]
fn an_interface_field_is_fetched_per_implementation_from_the_subgraph_that_has_it() {
    // Schedule lists lessons; each kind of lesson has its title in its own subgraph.
    let schedule = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { lessons: [Lesson] }
        interface Lesson { id: ID! }
        type Video implements Lesson @key(fields: "id") { id: ID! }
        type Quiz implements Lesson @key(fields: "id") { id: ID! }
    "#;
    let videos = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        interface Lesson { id: ID! title: String }
        type Video implements Lesson @key(fields: "id") { id: ID! title: String minutes: Int }
    "#;
    let quizzes = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        interface Lesson { id: ID! title: String }
        type Quiz implements Lesson @key(fields: "id") { id: ID! title: String questions: Int }
    "#;
    let subgraphs = [("schedule", schedule), ("videos", videos), ("quizzes", quizzes)];
    let query = "{ lessons { __typename title ... on Video { minutes } ... on Quiz { questions } } }";
    insta::assert_snapshot!(plan(&subgraphs, query), @r#"
    Parallel {
      Fetch(service: "schedule") {
        query { lessons { __typename ... on Quiz { __typename id } ... on Video { __typename id } } }
      } then {
        Fetch(service: "quizzes", entity: Quiz, at: lessons, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Quiz { title questions } } }
        }
        Fetch(service: "videos", entity: Video, at: lessons, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Video { title minutes } } }
        }
      }
    }
    "#);
}

#[test]
fn union_members_are_completed_by_the_subgraphs_that_own_them() {
    let search = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Query { search(term: String!): [Hit] }
        union Hit = Tutor | Course
        type Tutor @key(fields: "id") { id: ID! }
        type Course @key(fields: "id") { id: ID! }
    "#;
    let tutors = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Tutor @key(fields: "id") { id: ID! name: String }
    "#;
    let courses = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
        type Course @key(fields: "id") { id: ID! title: String }
    "#;
    let subgraphs = [("search", search), ("tutors", tutors), ("courses", courses)];
    let query = r#"{ search(term: "algebra") { __typename ... on Tutor { name } ... on Course { title } } }"#;
    insta::assert_snapshot!(plan(&subgraphs, query), @r#"
    Parallel {
      Fetch(service: "search") {
        query { search(term: "algebra") { __typename ... on Tutor { __typename id } ... on Course { __typename id } } }
      } then {
        Fetch(service: "tutors", entity: Tutor, at: search, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Tutor { name } } }
        }
        Fetch(service: "courses", entity: Course, at: search, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Course { title } } }
        }
      }
    }
    "#);
}

/// Content has the real `Media` interface; ratings knows it only as an object
/// (`@interfaceObject`) and adds `stars` to every implementation.
const CONTENT: &str = r#"
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
    type Query { library: [Media] }
    interface Media @key(fields: "id") { id: ID! title: String }
    type Book implements Media @key(fields: "id") { id: ID! title: String pages: Int }
    type Film implements Media @key(fields: "id") { id: ID! title: String minutes: Int }
"#;
const RATINGS: &str = r#"
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@interfaceObject"])
    type Query { topRated: [Media] }
    type Media @key(fields: "id") @interfaceObject { id: ID! stars: Int }
"#;

#[test]
fn an_interface_object_adds_its_fields_to_every_implementation() {
    let query = "{ library { title stars ... on Book { pages } } }";
    insta::assert_snapshot!(plan(&[("content", CONTENT), ("ratings", RATINGS)], query), @r#"
    Parallel {
      Fetch(service: "content") {
        query { library { __typename ... on Book { title pages __typename id } ... on Film { title __typename id } } }
      } then {
        Fetch(service: "ratings", entity: Media, at: library, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Media { stars } } }
        }
      }
    }
    "#);
}

// KNOWN: `... on Book { __typename } ... on Film { __typename }` repeats what `__typename` on
// `Media` already answers; `... on Media { __typename }` would do.
#[test]
fn the_typename_of_an_interface_object_comes_from_a_subgraph_with_the_real_interface() {
    let query = "{ topRated { __typename stars } }";
    insta::assert_snapshot!(plan(&[("content", CONTENT), ("ratings", RATINGS)], query), @r#"
    Parallel {
      Fetch(service: "ratings") {
        query { topRated { stars __typename id } }
      } then {
        Fetch(service: "content", entity: Media, at: topRated, sends: { id }) {
          query($representations: [_Any!]!) { _entities(representations: $representations) { __typename ... on Media { __typename ... on Book { __typename } ... on Film { __typename } } } }
        }
      }
    }
    "#);
}

#[test]
fn a_union_below_a_path_two_subgraphs_resolve_keeps_the_members_both_know() {
    // `board` and `archive` both resolve `Board.feed` (shareable, and `Board` is an entity either
    // reaches): only `Post`, the member both know, is asked for; a `Poll` from `board` comes back
    // with its `__typename` alone. Below `pinned`, which only `board` resolves, every member of
    // `board` is asked for.
    let board = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
        type Query { board: Board }
        type Board @key(fields: "id") { id: ID! feed: [Entry!]! @shareable pinned: [Entry!]! }
        union Entry = Post | Poll
        type Post @shareable { text: String }
        type Poll { question: String }
    "#;
    let archive = r#"
        extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])
        type Board @key(fields: "id") { id: ID! feed: [Entry!]! @shareable }
        union Entry = Post | Link
        type Post @shareable { text: String }
        type Link { url: String }
    "#;
    let subgraphs = [("board", board), ("archive", archive)];
    let query = "{ board { feed { __typename ... on Post { text } ... on Poll { question } } } }";
    insta::assert_snapshot!(plan(&subgraphs, query), @r#"
    Parallel {
      Fetch(service: "board") {
        query { board { feed { __typename ... on Post { __typename text } } } }
      }
    }
    "#);
    let query = "{ board { pinned { __typename ... on Post { text } ... on Poll { question } } } }";
    insta::assert_snapshot!(plan(&subgraphs, query), @r#"
    Parallel {
      Fetch(service: "board") {
        query { board { pinned { __typename ... on Post { __typename text } ... on Poll { __typename question } } } }
      }
    }
    "#);
}
