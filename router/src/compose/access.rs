//! `@authenticated` and `@requiresScopes` through composition. A subgraph may write them under
//! their imported names or as `@federation__…`; the supergraph links the Apollo specs for them
//! (`for: SECURITY`) so the router enforces them ([`crate::policy`]).
//!
//! Where several subgraphs put requirements on the same type or field, all of them hold in the
//! supergraph (a logical AND): composing must never loosen what one subgraph asked for.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use apollo_compiler::Node;
use apollo_compiler::ast::{Directive, Value};

/// The access requirements of one type or field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Access {
    pub authenticated: bool,
    /// Alternatives (OR) of scope sets (AND); `None`: no `@requiresScopes`.
    pub scopes: Option<BTreeSet<BTreeSet<String>>>,
}

impl Access {
    /// The requirements written on one element of a subgraph.
    pub fn read<'a>(directives: impl IntoIterator<Item = &'a Node<Directive>>) -> Self {
        let mut access = Self::default();
        for directive in directives {
            match directive.name.as_str() {
                "authenticated" | "federation__authenticated" => access.authenticated = true,
                "requiresScopes" | "federation__requiresScopes" => {
                    let scopes =
                        directive.specified_argument_by_name("scopes").map(|v| scope_sets(v)).unwrap_or_default();
                    access.merge(Self { authenticated: false, scopes: Some(scopes) });
                }
                _ => {}
            }
        }
        access
    }

    /// Both `self` and `other` must hold: `(A or B) and (C)` is `(A+C) or (B+C)`.
    pub fn merge(&mut self, other: Self) {
        self.authenticated |= other.authenticated;
        self.scopes = match (self.scopes.take(), other.scopes) {
            (Some(left), Some(right)) => {
                Some(left.iter().flat_map(|l| right.iter().map(move |r| l.union(r).cloned().collect())).collect())
            }
            (left, right) => left.or(right),
        };
    }

    /// The directives as printed after a type or field, each with a leading space.
    pub fn print(&self, out: &mut String) {
        if self.authenticated {
            out.push_str(" @authenticated");
        }
        if let Some(scopes) = &self.scopes {
            let sets: Vec<String> = scopes
                .iter()
                .map(|set| {
                    let items: Vec<String> = set.iter().map(|s| Value::String(s.clone()).to_string()).collect();
                    format!("[{}]", items.join(", "))
                })
                .collect();
            let _ = write!(out, " @requiresScopes(scopes: [{}])", sets.join(", "));
        }
    }
}

fn scope_sets(value: &Value) -> BTreeSet<BTreeSet<String>> {
    let Value::List(alternatives) = value else { return BTreeSet::new() };
    alternatives
        .iter()
        .map(|set| match set.as_ref() {
            Value::List(scopes) => scopes.iter().filter_map(|s| s.as_str()).map(str::to_owned).collect(),
            // A single set written without its brackets (list input coercion).
            Value::String(scope) => BTreeSet::from([scope.clone()]),
            _ => BTreeSet::new(),
        })
        .collect()
}

/// The `@link`s of the schema definition for the specs in use.
pub(super) fn links(authenticated: bool, scopes: bool) -> String {
    let mut out = String::new();
    if authenticated {
        out.push_str("  @link(url: \"https://specs.apollo.dev/authenticated/v0.1\", for: SECURITY)\n");
    }
    if scopes {
        out.push_str("  @link(url: \"https://specs.apollo.dev/requiresScopes/v0.1\", for: SECURITY)\n");
    }
    out
}

/// The definitions of the directives in use.
pub(super) fn definitions(authenticated: bool, scopes: bool) -> String {
    let mut out = String::new();
    if authenticated {
        out.push_str("directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM\n\n");
    }
    if scopes {
        out.push_str("directive @requiresScopes(scopes: [[requiresScopes__Scope!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM\n\nscalar requiresScopes__Scope\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(sets: &[&[&str]]) -> Access {
        let sets = sets.iter().map(|set| set.iter().map(|s| (*s).to_owned()).collect()).collect();
        Access { authenticated: false, scopes: Some(sets) }
    }

    #[test]
    fn merging_requirements_of_two_subgraphs_requires_both() {
        let mut access = scopes(&[&["a"], &["b"]]);
        access.merge(scopes(&[&["c"]]));
        assert_eq!(access, scopes(&[&["a", "c"], &["b", "c"]]));
        let mut access = Access { authenticated: true, scopes: None };
        access.merge(scopes(&[&["x"]]));
        assert!(access.authenticated);
        assert_eq!(access.scopes, scopes(&[&["x"]]).scopes);
    }

    #[test]
    fn requirements_print_as_directives() {
        let mut out = String::new();
        let mut access = scopes(&[&["read:a", "read:b"], &["admin"]]);
        access.authenticated = true;
        access.print(&mut out);
        assert_eq!(out, r#" @authenticated @requiresScopes(scopes: [["admin"], ["read:a", "read:b"]])"#);
    }
}
