//! Policies read from a supergraph composed here, applied to operations for anonymous,
//! authenticated and scoped callers.

use serde_json::Value as Json;

use super::*;
use crate::compose::{SubgraphSdl, compose};

const LINK: &str = r#"extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@shareable", "@authenticated", "@requiresScopes"])"#;

const ACCOUNTS: &str = r#"
type Query {
  public: String
  me: User @authenticated
  users: [User]
  post(id: ID!): Post @authenticated
  secret: Secret
  node(id: ID!): Node
  grade: Grade
  search: [Result]
}
type User @key(fields: "id") {
  id: ID!
  name: String
  email: String @requiresScopes(scopes: [["read:email"], ["admin"]])
  payroll: Int @requiresScopes(scopes: [["read:pay", "hr"]])
  friend: User
}
type Secret @authenticated { code: String }
interface Node { id: ID! }
type Post implements Node { id: ID! title: String }
type Memo implements Node @requiresScopes(scopes: [["memo"]]) { id: ID! text: String }
enum Grade @authenticated { A B }
union Result = Post | Secret
"#;

const REVIEWS: &str = r#"
type User @key(fields: "id") {
  id: ID!
  reviews: [String] @authenticated
}
"#;

fn subgraph(name: &str, sdl: &str) -> SubgraphSdl {
    SubgraphSdl { name: name.into(), url: format!("http://{name}/graphql"), sdl: format!("{LINK}\n{sdl}") }
}

fn composed() -> String {
    compose(&[subgraph("accounts", ACCOUNTS), subgraph("reviews", REVIEWS)]).expect("composes")
}

fn supergraph() -> Supergraph {
    Supergraph::parse(&composed()).expect("a valid supergraph")
}

fn claims(scopes: &[&str]) -> Claims {
    Claims {
        subject: Some("user-1".into()),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        raw: Default::default(),
    }
}

struct Case {
    supergraph: Supergraph,
    policies: Policies,
}

impl Case {
    fn new() -> Self {
        let supergraph = supergraph();
        let policies = Policies::from_supergraph(&supergraph);
        Self { supergraph, policies }
    }

    fn apply(&self, query: &str, claims: Option<&Claims>) -> Applied {
        let document = ExecutableDocument::parse_and_validate(&self.supergraph.api, query, "op.graphql")
            .expect("a valid operation");
        self.policies.apply(&self.supergraph.api, &document, None, claims)
    }
}

/// The filtered document, printed on one line.
fn printed(applied: &Applied) -> String {
    let document = applied.document.as_ref().expect("a filtered document");
    document.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

fn paths(applied: &Applied) -> Vec<Json> {
    applied.errors.iter().map(|e| e["path"].clone()).collect()
}

#[test]
fn composition_carries_the_directives_into_the_supergraph_and_out_of_the_api_schema() {
    let sdl = composed();
    assert!(sdl.contains(r#"@link(url: "https://specs.apollo.dev/authenticated/v0.1", for: SECURITY)"#));
    assert!(sdl.contains(r#"@link(url: "https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY)"#));
    assert!(sdl.contains(r#"@join__field(graph: ACCOUNTS) @requiresScopes(scopes: [["admin"], ["read:email"]])"#));
    assert!(sdl.contains("reviews: [String] @join__field(graph: REVIEWS) @authenticated"), "{sdl}");
    assert!(sdl.contains("type Secret\n  @join__type(graph: ACCOUNTS)\n @authenticated\n{"), "{sdl}");
    assert!(sdl.contains("scalar requiresScopes__Scope"));
    let api = supergraph().api;
    assert!(!api.types.contains_key("requiresScopes__Scope"));
    assert!(!api.directive_definitions.contains_key("authenticated"));
    assert!(!api.to_string().contains("@requiresScopes"));
}

#[test]
fn a_supergraph_without_the_directives_has_no_policies_and_changes_nothing() {
    let sdl = compose(&[subgraph("plain", "type Query { hello: String }")]).expect("composes");
    assert!(!sdl.contains("authenticated/v0.1"));
    let supergraph = Supergraph::parse(&sdl).expect("valid");
    let policies = Policies::from_supergraph(&supergraph);
    assert!(policies.is_empty());
    let document = ExecutableDocument::parse_and_validate(&supergraph.api, "{ hello }", "op.graphql").expect("valid");
    let applied = policies.apply(&supergraph.api, &document, None, None);
    assert!(applied.document.is_none() && applied.errors.is_empty() && applied.signature.is_empty());
}

#[test]
fn anonymous_callers_lose_authenticated_fields_with_an_error_each() {
    let applied = Case::new().apply("{ public me { name } }", None);
    assert_eq!(printed(&applied), "{ public }");
    assert_eq!(
        applied.errors,
        [
            json!({ "message": "not authorized to query `Query.me`", "path": ["me"], "extensions": { "code": "UNAUTHORIZED_FIELD_OR_TYPE" } })
        ]
    );
    assert_eq!(applied.signature, "Query.me");
    assert!(!applied.refused);
}

#[test]
fn scope_alternatives_are_or_and_scope_sets_are_and() {
    let case = Case::new();
    let query = "{ me { name email payroll } }";
    let signed_in = case.apply(query, Some(&claims(&[])));
    assert_eq!(printed(&signed_in), "{ me { name } }");
    assert_eq!(paths(&signed_in), [json!(["me", "email"]), json!(["me", "payroll"])]);
    let admin = case.apply(query, Some(&claims(&["admin", "read:pay"])));
    assert_eq!(printed(&admin), "{ me { name email } }", "admin is one alternative; read:pay alone is not the set");
    let everything = case.apply(query, Some(&claims(&["read:email", "read:pay", "hr"])));
    assert!(everything.document.is_none() && everything.errors.is_empty() && everything.signature.is_empty());
}

#[test]
fn protected_types_scalars_and_enums_remove_the_fields_returning_them() {
    let case = Case::new();
    let anonymous = case.apply("{ public secret { code } grade }", None);
    assert_eq!(printed(&anonymous), "{ public }");
    assert_eq!(paths(&anonymous), [json!(["secret"]), json!(["grade"])]);
    assert!(case.apply("{ public secret { code } grade }", Some(&claims(&[]))).document.is_none());
}

#[test]
fn a_field_of_a_subgraph_keeps_its_own_requirement_in_the_composed_type() {
    let applied = Case::new().apply("{ users { id reviews } }", None);
    assert_eq!(printed(&applied), "{ users { id } }");
    assert_eq!(paths(&applied), [json!(["users", "reviews"])], "no list index in the path");
}

#[test]
fn fields_read_through_an_interface_with_a_protected_implementation_are_removed() {
    let case = Case::new();
    let query = r#"{ node(id: "1") { id ... on Post { title } ... on Memo { text } } }"#;
    let anonymous = case.apply(query, None);
    assert_eq!(printed(&anonymous), r#"{ node(id: "1") { ... on Post { title } ... on Memo { __typename } } }"#);
    assert_eq!(paths(&anonymous), [json!(["node", "id"]), json!(["node", "text"])]);
    assert!(case.apply(query, Some(&claims(&["memo"]))).document.is_none(), "the scope unlocks Memo");
}

#[test]
fn union_members_are_checked_in_their_fragments() {
    let applied = Case::new().apply("{ search { __typename ... on Post { title } ... on Secret { code } } }", None);
    assert_eq!(printed(&applied), "{ search { __typename ... on Post { title } ... on Secret { __typename } } }");
    assert_eq!(paths(&applied), [json!(["search", "code"])]);
}

#[test]
fn a_named_fragment_is_filtered_once_and_reported_at_every_spread() {
    let query = "{ me { ...U } users { pal: friend { ...U } } } fragment U on User { name email }";
    let applied = Case::new().apply(query, Some(&claims(&[])));
    assert_eq!(printed(&applied), "{ me { ...U } users { pal: friend { ...U } } } fragment U on User { name }");
    assert_eq!(paths(&applied), [json!(["me", "email"]), json!(["users", "pal", "email"])]);
}

#[test]
fn a_selection_left_empty_gets_typename() {
    let applied = Case::new().apply("{ me { email } users { alias: payroll } }", Some(&claims(&[])));
    assert_eq!(printed(&applied), "{ me { __typename } users { __typename } }");
    assert_eq!(paths(&applied), [json!(["me", "email"]), json!(["users", "alias"])], "response keys");
}

#[test]
fn variables_and_fragments_only_used_by_removed_fields_are_dropped() {
    let query = "query Q($id: ID!) { public post(id: $id) { ...P } } fragment P on Post { title }";
    let applied = Case::new().apply(query, None);
    assert_eq!(printed(&applied), "query Q { public }");
}

#[test]
fn an_operation_with_every_root_field_removed_is_refused() {
    let applied = Case::new().apply("{ me { name } secret { code } }", None);
    assert!(applied.refused);
    assert!(applied.document.is_none());
    assert_eq!(paths(&applied), [json!(["me"]), json!(["secret"])]);
}

#[test]
fn the_signature_is_equal_for_equal_outcomes() {
    let case = Case::new();
    let query = "{ me { name email payroll } }";
    let a = case.apply(query, Some(&claims(&[])));
    let b = case.apply(query, Some(&claims(&["unrelated"])));
    let c = case.apply(query, Some(&claims(&["admin"])));
    assert_eq!(a.signature, b.signature);
    assert_eq!(a.signature, "User.email,User.payroll");
    assert_eq!(c.signature, "User.payroll");
}

#[test]
fn directives_renamed_by_their_link_are_recognised() {
    let sdl = composed()
        .replace(
            r#"@link(url: "https://specs.apollo.dev/authenticated/v0.1", for: SECURITY)"#,
            r#"@link(url: "https://specs.apollo.dev/authenticated/v0.1", as: "signedIn", for: SECURITY)"#,
        )
        .replace("@authenticated", "@signedIn");
    let supergraph = Supergraph::parse(&sdl).expect("valid");
    let policies = Policies::from_supergraph(&supergraph);
    let document =
        ExecutableDocument::parse_and_validate(&supergraph.api, "{ public me { name } }", "op.graphql").expect("valid");
    let applied = policies.apply(&supergraph.api, &document, None, None);
    assert_eq!(paths(&applied), [json!(["me"])]);
}
