//! Operation limits, checked before anything is fetched, so an abusive operation is refused
//! before it costs the subgraphs anything. Each refusal has its own stable code.
//!
//! Two walks:
//! - [`check`], on the validated document: depth, aliases, root fields (tokens are counted while
//!   parsing). Fragment spreads count as often as they are spread, so fragment and alias bombs
//!   are measured as executed, and the walk stops as soon as a limit is passed — or after a
//!   million field visits (`MAX_COST_LIMIT`): measuring cannot itself be the attack.
//! - [`cost`], on the normalised operation (identical fields merged, fragments inlined once), so
//!   `{ bio bio … }` costs what `{ bio }` costs: the estimate of GraphQL's cost analysis
//!   (IBM's cost specification, Apollo's demand control). A field of an object, interface or
//!   union type costs `object_cost` (default 1), a scalar or enum field `leaf_cost` (default 0);
//!   a list multiplies the cost of what is below it by its size: its `first`, `last` or `limit`
//!   argument (a literal or a variable) or, without one, `list_size` (default 10). Fragments on
//!   several types are all counted (an upper bound). The limit, `max_cost`, is on by default
//!   (50 000): a page of fifty tutors with twenty reviews and their authors costs about 2 000,
//!   and the gateway benchmark's query, four lists deep, about 24 000.
//!
//! The limits in force come from `limits:` ([`crate::config::limits`]).

use apollo_compiler::ast::Value;
use apollo_compiler::executable::{self, ExecutableDocument, Selection};
use serde_json::Map;

use crate::config::limits::OperationLimits;
use crate::operation::{Field, Operation, Selection as Planned};

/// The walk's own bound: field visits (fragment bombs expand exponentially; this caps the work of
/// measuring them).
const MAX_VISITS: u64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("the operation is nested {actual} fields deep; the limit is {max}")]
    Depth { actual: usize, max: usize },
    #[error("the operation has more than {max} aliases")]
    Aliases { max: usize },
    #[error("the operation selects more than {max} root fields")]
    RootFields { max: usize },
    #[error("the operation has more than {max} tokens")]
    Tokens { max: usize },
    #[error("the operation expands to more than {max} fields once its fragments are spread")]
    Expansion { max: u64 },
    #[error("the operation's estimated cost, {actual}, exceeds the limit of {max}")]
    Cost { actual: u64, max: u64 },
}

impl LimitError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Depth { .. } => "MAX_DEPTH_LIMIT",
            Self::Aliases { .. } => "MAX_ALIASES_LIMIT",
            Self::RootFields { .. } => "MAX_ROOT_FIELDS_LIMIT",
            Self::Tokens { .. } => "MAX_TOKENS_LIMIT",
            Self::Expansion { .. } | Self::Cost { .. } => "MAX_COST_LIMIT",
        }
    }
}

/// Whether a root selection set asks for `__schema` or `__type` (directly or through fragments);
/// `__typename` is not introspection of the schema.
pub fn introspects(document: &ExecutableDocument, set: &executable::SelectionSet) -> bool {
    set.selections.iter().any(|selection| match selection {
        Selection::Field(field) => field.name == "__schema" || field.name == "__type",
        Selection::FragmentSpread(spread) => {
            document.fragments.get(&spread.fragment_name).is_some_and(|f| introspects(document, &f.selection_set))
        }
        Selection::InlineFragment(inline) => introspects(document, &inline.selection_set),
    })
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    limits: &'a OperationLimits,
    aliases: usize,
    visits: u64,
}

/// Checks `operation` of `document` against the depth, alias and root-field limits.
pub fn check(
    document: &ExecutableDocument,
    operation: &executable::Operation,
    limits: &OperationLimits,
) -> Result<(), LimitError> {
    let mut walk = Walk { document, limits, aliases: 0, visits: 0 };
    let mut roots = 0;
    walk.count_roots(&operation.selection_set, &mut roots)?;
    walk.set(&operation.selection_set, 1)?;
    Ok(())
}

/// The estimated cost of the normalised `operation` (variables decide list sizes), refused when
/// it exceeds `limits.max_cost` (`0`: no limit).
pub fn cost(
    operation: &Operation,
    variables: &Map<String, serde_json::Value>,
    limits: &OperationLimits,
) -> Result<u64, LimitError> {
    let estimate = Estimate { variables, limits };
    let actual = estimate.set(&operation.selections);
    if limits.max_cost > 0 && actual > limits.max_cost {
        return Err(LimitError::Cost { actual, max: limits.max_cost });
    }
    Ok(actual)
}

struct Estimate<'a> {
    variables: &'a Map<String, serde_json::Value>,
    limits: &'a OperationLimits,
}

impl Estimate<'_> {
    fn set(&self, selections: &[Planned]) -> u64 {
        selections.iter().fold(0u64, |total, selection| {
            let cost = match selection {
                Planned::Field(field) => self.field(field),
                Planned::Fragment(fragment) => self.set(&fragment.selections),
            };
            total.saturating_add(cost)
        })
    }

    /// A field's own weight plus what is below it, times its list size.
    fn field(&self, field: &Field) -> u64 {
        if field.name.starts_with("__") {
            return 0;
        }
        let own = if field.selections.is_empty() { self.limits.leaf_cost } else { self.limits.object_cost };
        let below = self.set(&field.selections);
        let size = list_size(&field.arguments, field.full_ty.is_list(), self.variables, self.limits);
        own.saturating_add(below).saturating_mul(size)
    }
}

/// A list's size: its `first`, `last` or `limit` argument, else `list_size`; 1 for a non-list.
fn list_size(
    arguments: &[apollo_compiler::Node<executable::Argument>],
    is_list: bool,
    variables: &Map<String, serde_json::Value>,
    limits: &OperationLimits,
) -> u64 {
    let sized = arguments.iter().find(|a| matches!(a.name.as_str(), "first" | "last" | "limit"));
    let given = sized.and_then(|argument| match argument.value.as_ref() {
        Value::Int(n) => n.try_to_i32().ok().map(i64::from),
        Value::Variable(name) => variables.get(name.as_str()).and_then(serde_json::Value::as_i64),
        _ => None,
    });
    match given {
        Some(n) => u64::try_from(n).unwrap_or(0).max(1),
        None if is_list => limits.list_size.max(1),
        None => 1,
    }
}

impl Walk<'_> {
    fn count_roots(&self, set: &executable::SelectionSet, roots: &mut usize) -> Result<(), LimitError> {
        for selection in &set.selections {
            match selection {
                Selection::Field(_) => {
                    *roots += 1;
                    if self.limits.max_root_fields > 0 && *roots > self.limits.max_root_fields {
                        return Err(LimitError::RootFields { max: self.limits.max_root_fields });
                    }
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = self.document.fragments.get(&spread.fragment_name) {
                        self.count_roots(&fragment.selection_set, roots)?;
                    }
                }
                Selection::InlineFragment(inline) => self.count_roots(&inline.selection_set, roots)?,
            }
        }
        Ok(())
    }

    /// Walks a selection set at `depth`.
    fn set(&mut self, set: &executable::SelectionSet, depth: usize) -> Result<(), LimitError> {
        for selection in &set.selections {
            match selection {
                Selection::Field(field) => self.field(field, depth)?,
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = self.document.fragments.get(&spread.fragment_name) {
                        self.set(&fragment.selection_set, depth)?;
                    }
                }
                Selection::InlineFragment(inline) => self.set(&inline.selection_set, depth)?,
            }
        }
        Ok(())
    }

    fn field(&mut self, field: &executable::Field, depth: usize) -> Result<(), LimitError> {
        let limits = self.limits;
        if limits.max_depth > 0 && depth > limits.max_depth {
            return Err(LimitError::Depth { actual: depth, max: limits.max_depth });
        }
        if field.alias.is_some() {
            self.aliases += 1;
            if limits.max_aliases > 0 && self.aliases > limits.max_aliases {
                return Err(LimitError::Aliases { max: limits.max_aliases });
            }
        }
        self.visits += 1;
        if self.visits > MAX_VISITS {
            return Err(LimitError::Expansion { max: MAX_VISITS });
        }
        if field.selection_set.selections.is_empty() {
            return Ok(());
        }
        self.set(&field.selection_set, depth + 1)
    }
}

#[cfg(test)]
mod tests {
    use apollo_compiler::{ExecutableDocument, Schema};
    use serde_json::json;

    use super::*;

    const SCHEMA: &str = "
        type Query { users: [User!]! topProducts(first: Int): [Product!]! user(id: ID!): User }
        type User { id: ID! name: String reviews: [Review!]! }
        type Review { id: ID! body: String product: Product author: User }
        type Product { upc: ID! name: String price: Int reviews: [Review!]! }
    ";

    fn estimate(query: &str, variables: serde_json::Value, limits: &OperationLimits) -> Result<u64, LimitError> {
        let schema = Schema::parse_and_validate(SCHEMA, "schema.graphql").expect("valid schema");
        let document = ExecutableDocument::parse_and_validate(&schema, query, "query.graphql").expect("valid query");
        let operation = document.operations.get(None).expect("one operation");
        let variables = variables.as_object().cloned().unwrap_or_default();
        let normalized = crate::operation::normalize(&document, operation, &variables);
        cost(&normalized, &variables, limits)
    }

    fn limits() -> OperationLimits {
        OperationLimits::default()
    }

    #[test]
    fn scalars_are_free_objects_cost_one_and_lists_multiply() {
        // 10 users × (1 + 10 reviews × (1 + product 1)) = 10 × 21 = 210.
        let query = "{ users { id name reviews { body product { name price } } } }";
        assert_eq!(estimate(query, json!({}), &limits()), Ok(210));
    }

    #[test]
    fn a_list_takes_its_size_from_first_or_a_variable() {
        assert_eq!(estimate("{ topProducts(first: 3) { name } }", json!({}), &limits()), Ok(3));
        let query = "query($n: Int) { topProducts(first: $n) { reviews { id } } }";
        assert_eq!(estimate(query, json!({ "n": 2 }), &limits()), Ok(2 * (1 + 10)));
    }

    #[test]
    fn repeated_fields_and_fragments_cost_once() {
        let once = estimate("{ users { reviews { id } } }", json!({}), &limits());
        let repeated = format!(
            "{{ users {{ {} ...R ...R }} }} fragment R on User {{ reviews {{ id }} }}",
            "reviews { id body } ".repeat(500)
        );
        assert_eq!(estimate(&repeated, json!({}), &limits()), once);
    }

    #[test]
    fn the_weights_are_configurable() {
        let query = "{ users { id name reviews { body } } }";
        let weighted = OperationLimits { object_cost: 2, leaf_cost: 1, list_size: 5, ..limits() };
        // 5 users × (2 + 2 scalars + 5 reviews × (2 + 1)) = 5 × 19 = 95.
        assert_eq!(estimate(query, json!({}), &weighted), Ok(95));
    }

    #[test]
    fn the_benchmark_shape_passes_the_default_limit_and_one_list_deeper_does_not() {
        // The shape of the gateway benchmark's query: users → reviews → product → reviews →
        // author → reviews → product (four lists), and the top products' branch.
        let benchmark = "{
            users { id name reviews { id body product { upc name price reviews { id body
                author { id name reviews { id body product { upc name price } } } } } } }
            topProducts { upc name reviews { id body author { id name reviews { id body product { upc name } } } } }
        }";
        let estimated = estimate(benchmark, json!({}), &limits()).expect("passes the default limit");
        assert_eq!(estimated, 22_210 + 2_210);
        let deeper =
            "{ users { reviews { product { reviews { author { reviews { product { reviews { id } } } } } } } } }";
        assert_eq!(
            estimate(deeper, json!({}), &limits()),
            Err(LimitError::Cost { actual: 122_210, max: crate::config::limits::DEFAULT_MAX_COST })
        );
        let off = OperationLimits { max_cost: 0, ..limits() };
        assert!(estimate(deeper, json!({}), &off).is_ok());
    }
}
