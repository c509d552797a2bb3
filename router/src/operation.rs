//! Operations: parse and validate against the API schema, coerce variables, and normalise into
//! the tree the planner reads (fragment spreads inlined, `@skip`/`@include` applied).

use std::collections::HashMap;

use apollo_compiler::ast::{OperationType, Value};
use apollo_compiler::executable::{self, ExecutableDocument};

use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Node, Schema};
use serde_json::Map;

/// A request error, reported to the client before anything is fetched.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RequestError {
    #[error("{0}")]
    Parse(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    Variables(String),
    #[error("{0}")]
    UnknownOperation(String),
    #[error(transparent)]
    Limit(#[from] crate::limits::LimitError),
    #[error("introspection is disabled on this router")]
    IntrospectionDisabled,
}

impl RequestError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Parse(_) => "GRAPHQL_PARSE_FAILED",
            Self::Validation(_) => "GRAPHQL_VALIDATION_FAILED",
            Self::Variables(_) => "BAD_USER_INPUT",
            Self::UnknownOperation(_) => "GRAPHQL_VALIDATION_FAILED",
            Self::Limit(limit) => limit.code(),
            Self::IntrospectionDisabled => "INTROSPECTION_DISABLED",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Selection {
    Field(Field),
    Fragment(Fragment),
}

#[derive(Debug, Clone)]
pub struct Field {
    pub alias: Option<Name>,
    pub name: Name,
    pub arguments: Vec<Node<executable::Argument>>,
    /// The named type of the field's value.
    pub ty: Name,
    /// The full type (for null propagation).
    pub full_ty: apollo_compiler::ast::Type,
    pub selections: Vec<Selection>,
}

impl Field {
    pub fn response_key(&self) -> &Name {
        self.alias.as_ref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone)]
pub struct Fragment {
    pub on: Name,
    pub selections: Vec<Selection>,
}

/// A validated, normalised operation.
#[derive(Debug, Clone)]
pub struct Operation {
    pub kind: OperationType,
    pub root_type: Name,
    pub selections: Vec<Selection>,
    /// `$name: Type` of every variable, for subgraph operations.
    pub variable_types: Vec<(Name, String)>,
    pub is_introspection_only: bool,
}

pub struct Prepared {
    pub document: Valid<ExecutableDocument>,
    pub operation_name: Option<String>,
}

/// Parses (stopping after `max_tokens` tokens; `0`: no limit) and validates an operation.
pub fn parse(api: &Valid<Schema>, query: &str, max_tokens: usize) -> Result<Valid<ExecutableDocument>, RequestError> {
    let mut parser = apollo_compiler::parser::Parser::new();
    if max_tokens > 0 {
        parser = parser.token_limit(max_tokens);
    }
    let ast = parser.parse_ast(query, "operation.graphql").map_err(|e| {
        if max_tokens > 0 && parser.tokens_reached() >= max_tokens {
            RequestError::Limit(crate::limits::LimitError::Tokens { max: max_tokens })
        } else {
            RequestError::Parse(plain(&e.errors))
        }
    })?;
    ast.to_executable_validate(api).map_err(|e| RequestError::Validation(plain(&e.errors)))
}

/// The diagnostics as plain sentences with their line and column: no source excerpts (a client
/// has its own query; and excerpts of the schema would need sources the API schema lacks).
fn plain(errors: &apollo_compiler::validation::DiagnosticList) -> String {
    let lines: Vec<String> = errors
        .iter()
        .map(|diagnostic| match diagnostic.line_column_range() {
            Some(range) => format!("{} (line {}, column {})", diagnostic.error, range.start.line, range.start.column),
            None => diagnostic.error.to_string(),
        })
        .collect();
    lines.join("; ")
}

/// The operation to run and its coerced variables.
pub fn select<'a>(
    api: &Valid<Schema>,
    document: &'a Valid<ExecutableDocument>,
    operation_name: Option<&str>,
    variables: &Map<String, serde_json::Value>,
) -> Result<(&'a Node<executable::Operation>, Map<String, serde_json::Value>), RequestError> {
    let operation =
        document.operations.get(operation_name).map_err(|e| RequestError::UnknownOperation(e.message().to_string()))?;
    let json: apollo_compiler::response::JsonMap = variables
        .iter()
        .map(|(k, v)| (k.as_str().into(), apollo_compiler::response::JsonValue::from(v.clone())))
        .collect();
    let coerced = apollo_compiler::request::coerce_variable_values(api, operation, &json)
        .map_err(|e| RequestError::Variables(e.message().to_string()))?;
    let coerced = serde_json::to_value(coerced.into_inner()).expect("JSON values serialise");
    let coerced = match coerced {
        serde_json::Value::Object(map) => map,
        _ => Map::new(),
    };
    Ok((operation, coerced))
}

/// Normalises the operation for planning, given the coerced variables.
pub fn normalize(
    document: &ExecutableDocument,
    operation: &executable::Operation,
    variables: &Map<String, serde_json::Value>,
) -> Operation {
    let root_type = operation.object_type().clone();
    let selections = normalize_set(document, &operation.selection_set, variables);
    // With its default: a nullable variable with a default may stand where a non-null one is expected.
    let variable_types = operation
        .variables
        .iter()
        .map(|v| {
            let declared = match &v.default_value {
                Some(default) => format!("{} = {default}", v.ty),
                None => v.ty.to_string(),
            };
            (v.name.clone(), declared)
        })
        .collect();
    let is_introspection_only = is_introspection_only(&selections);
    Operation { kind: operation.operation_type, root_type, selections, variable_types, is_introspection_only }
}

fn is_introspection_only(selections: &[Selection]) -> bool {
    selections.iter().all(|s| match s {
        Selection::Field(f) => f.name.starts_with("__"),
        Selection::Fragment(f) => is_introspection_only(&f.selections),
    })
}

fn included(directives: &executable::DirectiveList, variables: &Map<String, serde_json::Value>) -> bool {
    let flag = |name: &str| -> Option<bool> {
        let d = directives.get(name)?;
        match d.specified_argument_by_name("if").map(|v| v.as_ref()) {
            Some(Value::Boolean(b)) => Some(*b),
            Some(Value::Variable(v)) => Some(variables.get(v.as_str()).and_then(|v| v.as_bool()).unwrap_or(false)),
            _ => None,
        }
    };
    !flag("skip").unwrap_or(false) && flag("include").unwrap_or(true)
}

/// Normalises a selection set: `@skip`/`@include` applied, named fragments inlined (each
/// normalised once), and identical selections merged — fields with the same response key, name
/// and arguments become one field with the union of their sub-selections; fragments on the
/// enclosing type are flattened, fragments on the same type merged. A document whose fragments
/// double at every level (`fragment B1 on User { ...B0 ...B0 }` … `B19`) thus stays as small as
/// what it selects, and `{ bio bio bio … }` becomes `{ bio }`.
fn normalize_set(
    document: &ExecutableDocument,
    set: &executable::SelectionSet,
    variables: &Map<String, serde_json::Value>,
) -> Vec<Selection> {
    Normalizer { document, variables, fragments: HashMap::new() }.set(set)
}

struct Normalizer<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Map<String, serde_json::Value>,
    /// Named fragments already normalised, by name.
    fragments: HashMap<Name, Vec<Selection>>,
}

impl Normalizer<'_> {
    fn set(&mut self, set: &executable::SelectionSet) -> Vec<Selection> {
        let mut out = Vec::new();
        for selection in &set.selections {
            match selection {
                executable::Selection::Field(field) => {
                    if !included(&field.directives, self.variables) {
                        continue;
                    }
                    let field = Field {
                        alias: field.alias.clone(),
                        name: field.name.clone(),
                        arguments: field.arguments.clone(),
                        ty: field.ty().inner_named_type().clone(),
                        full_ty: field.ty().clone(),
                        selections: self.set(&field.selection_set),
                    };
                    merge_into(&mut out, Selection::Field(field), &set.ty);
                }
                executable::Selection::InlineFragment(fragment) => {
                    if !included(&fragment.directives, self.variables) {
                        continue;
                    }
                    let on = fragment.type_condition.clone().unwrap_or_else(|| set.ty.clone());
                    let selections = self.set(&fragment.selection_set);
                    merge_into(&mut out, Selection::Fragment(Fragment { on, selections }), &set.ty);
                }
                executable::Selection::FragmentSpread(spread) => {
                    if !included(&spread.directives, self.variables) {
                        continue;
                    }
                    let Some(fragment) = self.document.fragments.get(&spread.fragment_name) else { continue };
                    let selections = match self.fragments.get(&spread.fragment_name) {
                        Some(done) => done.clone(),
                        None => {
                            let done = self.set(&fragment.selection_set);
                            self.fragments.insert(spread.fragment_name.clone(), done.clone());
                            done
                        }
                    };
                    let on = fragment.type_condition().clone();
                    merge_into(&mut out, Selection::Fragment(Fragment { on, selections }), &set.ty);
                }
            }
        }
        out
    }
}

/// Adds `selection` to `out` (a selection set on `parent`), merged with what is already there.
pub(crate) fn merge_into(out: &mut Vec<Selection>, selection: Selection, parent: &Name) {
    match selection {
        Selection::Field(field) => {
            let same = out.iter_mut().find_map(|s| match s {
                Selection::Field(f) if same_field(f, &field) => Some(f),
                _ => None,
            });
            match same {
                Some(existing) => {
                    let ty = existing.ty.clone();
                    for sub in field.selections {
                        merge_into(&mut existing.selections, sub, &ty);
                    }
                }
                None => out.push(Selection::Field(field)),
            }
        }
        // A fragment on the enclosing type adds its selections to it.
        Selection::Fragment(fragment) if &fragment.on == parent => {
            for sub in fragment.selections {
                merge_into(out, sub, parent);
            }
        }
        Selection::Fragment(fragment) => {
            let same = out.iter_mut().find_map(|s| match s {
                Selection::Fragment(f) if f.on == fragment.on => Some(f),
                _ => None,
            });
            match same {
                Some(existing) => {
                    let on = existing.on.clone();
                    for sub in fragment.selections {
                        merge_into(&mut existing.selections, sub, &on);
                    }
                }
                None if fragment.selections.is_empty() => {}
                None => out.push(Selection::Fragment(fragment)),
            }
        }
    }
}

/// The same response key, field and arguments (validation guarantees that two fields with one
/// response key on one type agree; across type conditions they may not, and then stay apart).
fn same_field(a: &Field, b: &Field) -> bool {
    a.response_key() == b.response_key()
        && a.name == b.name
        && a.arguments.len() == b.arguments.len()
        && a.arguments.iter().zip(&b.arguments).all(|(x, y)| x.name == y.name && x.value == y.value)
}
