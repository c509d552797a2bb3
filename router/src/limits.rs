//! Operation limits, checked after validation and before planning, so an abusive operation is
//! refused before it costs the subgraphs anything: depth, aliases, root fields, an estimated
//! cost, and tokens (counted while parsing). Each refusal has its own stable code.
//!
//! The cost is an estimate in the spirit of the GraphQL cost directives: every field costs 1 times
//! the product of the list sizes above it; a list's size is its `first`, `last` or `limit`
//! argument (a literal or a variable) or, without one, `list_size`. Fragment spreads count as
//! often as they are spread (so fragment and alias bombs are measured as executed), and the walk
//! stops as soon as a limit is passed: measuring cannot itself be the attack.
//!
//! The limits in force come from `limits:` ([`crate::config::limits`]).

use apollo_compiler::ast::Value;
use apollo_compiler::executable::{self, ExecutableDocument, Selection};
use serde_json::Map;

use crate::config::limits::OperationLimits;

/// The walk's own bound when no cost limit is set: field visits (fragment bombs expand
/// exponentially; this caps the work of measuring them).
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
    #[error("the operation's estimated cost exceeds {max}")]
    Cost { max: u64 },
}

impl LimitError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Depth { .. } => "MAX_DEPTH_LIMIT",
            Self::Aliases { .. } => "MAX_ALIASES_LIMIT",
            Self::RootFields { .. } => "MAX_ROOT_FIELDS_LIMIT",
            Self::Tokens { .. } => "MAX_TOKENS_LIMIT",
            Self::Cost { .. } => "MAX_COST_LIMIT",
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
    variables: &'a Map<String, serde_json::Value>,
    limits: &'a OperationLimits,
    aliases: usize,
    cost: u64,
    visits: u64,
}

/// Checks `operation` of `document` against `limits` (variables decide list sizes).
pub fn check(
    document: &ExecutableDocument,
    operation: &executable::Operation,
    variables: &Map<String, serde_json::Value>,
    limits: &OperationLimits,
) -> Result<(), LimitError> {
    let mut walk = Walk { document, variables, limits, aliases: 0, cost: 0, visits: 0 };
    let mut roots = 0;
    walk.count_roots(&operation.selection_set, &mut roots)?;
    walk.set(&operation.selection_set, 1, 1)?;
    Ok(())
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

    /// Walks a selection set at `depth` whose fields each cost `multiplier`.
    fn set(&mut self, set: &executable::SelectionSet, depth: usize, multiplier: u64) -> Result<(), LimitError> {
        for selection in &set.selections {
            match selection {
                Selection::Field(field) => self.field(field, depth, multiplier)?,
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = self.document.fragments.get(&spread.fragment_name) {
                        self.set(&fragment.selection_set, depth, multiplier)?;
                    }
                }
                Selection::InlineFragment(inline) => self.set(&inline.selection_set, depth, multiplier)?,
            }
        }
        Ok(())
    }

    fn field(&mut self, field: &executable::Field, depth: usize, multiplier: u64) -> Result<(), LimitError> {
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
        self.cost = self.cost.saturating_add(multiplier);
        let cost_cap = if limits.max_cost > 0 { limits.max_cost } else { u64::MAX };
        if self.cost > cost_cap || self.visits > MAX_VISITS {
            return Err(LimitError::Cost { max: if limits.max_cost > 0 { limits.max_cost } else { MAX_VISITS } });
        }
        if field.selection_set.selections.is_empty() {
            return Ok(());
        }
        let size = self.list_size(field);
        self.set(&field.selection_set, depth + 1, multiplier.saturating_mul(size))
    }

    fn list_size(&self, field: &executable::Field) -> u64 {
        let sized = field.arguments.iter().find(|a| matches!(a.name.as_str(), "first" | "last" | "limit"));
        let given = sized.and_then(|argument| match argument.value.as_ref() {
            Value::Int(n) => n.try_to_i32().ok().map(i64::from),
            Value::Variable(name) => self.variables.get(name.as_str()).and_then(serde_json::Value::as_i64),
            _ => None,
        });
        match given {
            Some(n) => u64::try_from(n).unwrap_or(0).max(1),
            None if field.definition.ty.is_list() => self.limits.list_size.max(1),
            None => 1,
        }
    }
}
