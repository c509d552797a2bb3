//! Authorization from the supergraph: `@authenticated` and `@requiresScopes(scopes: [[..]])`
//! on object types, interfaces, fields, scalars and enums. Unauthorized fields are removed from
//! the operation before planning, so no subgraph is asked for them; the client gets `null` there
//! and one `UNAUTHORIZED_FIELD_OR_TYPE` error per removed field, and the rest of the data.
//!
//! A field selected on type `P` is unauthorized when an unmet requirement is on
//! - the field itself, or (when `P` is an interface) on that field of any implementation;
//! - the field's named type (object, interface, scalar or enum);
//! - `P` or any object type a value of `P` may be: a field read through an interface or a
//!   union member could come from a protected object. `__typename` is always allowed, and a
//!   fragment on an unprotected type keeps its fields.
//!
//! `@requiresScopes` lists alternatives (any one suffices) of scope sets (all needed); it is
//! never met by an anonymous request. Whether a field is removed depends only on its parent
//! type, its name and the claims, so a named fragment is filtered once for all its spreads.

use std::collections::{BTreeSet, HashMap, HashSet};

use apollo_compiler::ast::Value;
use apollo_compiler::executable::{self, ExecutableDocument, Selection, SelectionSet};
use apollo_compiler::schema::{DirectiveList, ExtendedType};
use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Node, Schema, name};
use indexmap::IndexMap;
use serde_json::json;

use crate::edge::auth::Claims;
use crate::supergraph::Supergraph;

/// The code of the error reported for each removed field.
pub const UNAUTHORIZED: &str = "UNAUTHORIZED_FIELD_OR_TYPE";

/// Errors reported per operation at most: a fragment spread many times must not multiply them
/// without bound.
const MAX_ERRORS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Requirement {
    Authenticated,
    /// Alternatives (OR) of scope sets (AND).
    Scopes(Vec<Vec<String>>),
}

impl Requirement {
    fn met(&self, claims: Option<&Claims>) -> bool {
        match (self, claims) {
            (_, None) => false,
            (Self::Authenticated, Some(_)) => true,
            (Self::Scopes(any), Some(claims)) => any.iter().any(|all| all.iter().all(|s| claims.has_scope(s))),
        }
    }
}

/// The requirements of a supergraph, indexed for the checks of [`Policies::apply`].
#[derive(Debug, Clone, Default)]
pub struct Policies {
    /// Selection-set type → its own requirements and those of the objects it may be.
    types: HashMap<Name, Vec<Requirement>>,
    /// `(parent type, field)` → the field's requirements (on the parent and, for an interface,
    /// on its implementations) and those of its named type.
    fields: HashMap<(Name, Name), Vec<Requirement>>,
}

/// What [`Policies::apply`] did to an operation.
#[derive(Debug, Default)]
pub struct Applied {
    /// The operation without its unauthorized fields (only it and the fragments it uses,
    /// unused variables dropped), validated against the API schema; `None` when nothing was
    /// removed, or when the whole operation was (see [`refused`](Self::refused)).
    pub document: Option<Valid<ExecutableDocument>>,
    /// Every root field was removed: run nothing, answer with `data: null` (or the original
    /// operation shaped over no data) and [`errors`](Self::errors).
    pub refused: bool,
    /// One per removed field and response path: `{message, path, extensions: {code}}`. Paths
    /// are response keys; inside lists they name the field without list indices.
    pub errors: Vec<serde_json::Value>,
    /// Which fields were removed (`Type.field` coordinates, sorted), for plan cache keys; empty
    /// when nothing was removed.
    pub signature: String,
}

impl Policies {
    /// The policies of a supergraph; empty when it uses neither directive.
    pub fn from_supergraph(supergraph: &Supergraph) -> Self {
        let schema = &supergraph.schema;
        let names = DirectiveNames::of(schema);
        if names.authenticated.is_none() && names.scopes.is_none() {
            return Self::default();
        }
        let own_type: HashMap<&Name, Vec<Requirement>> = schema
            .types
            .iter()
            .map(|(name, ty)| (name, names.requirements(ty.directives())))
            .filter(|(_, requirements)| !requirements.is_empty())
            .collect();
        let mut policies = Self::default();
        for (name, ty) in &schema.types {
            let mut requirements = own_type.get(name).cloned().unwrap_or_default();
            if matches!(ty, ExtendedType::Interface(_) | ExtendedType::Union(_)) {
                for object in supergraph.possible_types_of(name) {
                    requirements.extend(own_type.get(object).into_iter().flatten().cloned());
                }
            }
            insert(&mut policies.types, name.clone(), requirements);
            let (fields, is_interface) = match ty {
                ExtendedType::Object(o) => (&o.fields, false),
                ExtendedType::Interface(i) => (&i.fields, true),
                _ => continue,
            };
            for (field_name, field) in fields {
                let mut requirements = names.requirements_ast(&field.directives);
                if is_interface {
                    for object in supergraph.possible_types_of(name) {
                        if let Ok(implementation) = schema.type_field(object, field_name) {
                            requirements.extend(names.requirements_ast(&implementation.directives));
                        }
                    }
                }
                requirements.extend(own_type.get(field.ty.inner_named_type()).into_iter().flatten().cloned());
                insert(&mut policies.fields, (name.clone(), field_name.clone()), requirements);
            }
        }
        policies
    }

    /// Whether the supergraph has no requirement at all ([`apply`](Self::apply) is then free).
    pub fn is_empty(&self) -> bool {
        self.types.is_empty() && self.fields.is_empty()
    }

    /// Removes from `operation_name` of `document` (validated against `api`) the fields `claims`
    /// may not read.
    pub fn apply(
        &self,
        api: &Valid<Schema>,
        document: &Valid<ExecutableDocument>,
        operation_name: Option<&str>,
        claims: Option<&Claims>,
    ) -> Applied {
        if self.is_empty() {
            return Applied::default();
        }
        // An unknown operation is the caller's error to report; there is nothing to filter.
        let Ok(operation) = document.operations.get(operation_name) else { return Applied::default() };
        let mut decide = Decide { policies: self, claims, denied: BTreeSet::new(), fragments: HashSet::new() };
        decide.set(document, &operation.selection_set);
        if decide.denied.is_empty() {
            return Applied::default();
        }
        let denied = decide.denied;
        let mut report = Report { document, denied: &denied, errors: IndexMap::new(), visits: 0 };
        report.set(&operation.selection_set, &mut Vec::new());
        let errors = report.errors.into_values().collect();
        let signature = denied.iter().map(|(ty, field)| format!("{ty}.{field}")).collect::<Vec<_>>().join(",");
        let filter = Filter { api, denied: &denied };
        let rewritten = filter.document(document, operation);
        let refused = rewritten.is_none();
        Applied { document: rewritten, refused, errors, signature }
    }

    fn allows(&self, parent: &Name, field: &Name, claims: Option<&Claims>) -> bool {
        let met =
            |requirements: Option<&Vec<Requirement>>| requirements.is_none_or(|r| r.iter().all(|r| r.met(claims)));
        met(self.types.get(parent)) && met(self.fields.get(&(parent.clone(), field.clone())))
    }
}

fn insert<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Vec<Requirement>>, key: K, mut requirements: Vec<Requirement>) {
    let mut seen = HashSet::new();
    requirements.retain(|r| seen.insert(r.clone()));
    if !requirements.is_empty() {
        map.insert(key, requirements);
    }
}

/// The names the supergraph gives the two directives (a `@link` may rename them).
struct DirectiveNames {
    authenticated: Option<String>,
    scopes: Option<String>,
}

impl DirectiveNames {
    fn of(schema: &Schema) -> Self {
        Self { authenticated: linked_name(schema, "authenticated"), scopes: linked_name(schema, "requiresScopes") }
    }

    fn requirement(&self, directive: &apollo_compiler::ast::Directive) -> Option<Requirement> {
        let name = Some(directive.name.as_str());
        if name == self.authenticated.as_deref() {
            return Some(Requirement::Authenticated);
        }
        if name != self.scopes.as_deref() {
            return None;
        }
        let Some(Value::List(alternatives)) = directive.specified_argument_by_name("scopes").map(|v| v.as_ref()) else {
            return Some(Requirement::Scopes(Vec::new()));
        };
        let sets = alternatives
            .iter()
            .map(|set| match set.as_ref() {
                Value::List(scopes) => scopes.iter().filter_map(|s| s.as_str()).map(str::to_owned).collect(),
                Value::String(scope) => vec![scope.clone()],
                _ => Vec::new(),
            })
            .collect();
        Some(Requirement::Scopes(sets))
    }

    fn requirements(&self, directives: &DirectiveList) -> Vec<Requirement> {
        directives.iter().filter_map(|d| self.requirement(d)).collect()
    }

    fn requirements_ast(&self, directives: &apollo_compiler::ast::DirectiveList) -> Vec<Requirement> {
        directives.iter().filter_map(|d| self.requirement(d)).collect()
    }
}

/// The name of the directive of spec `spec` (`https://specs.apollo.dev/<spec>/v…`): renamed by
/// an `import: [{name: "@spec", as: "@x"}]`, else by `as:`, else the spec's name. Without a
/// link, a definition under the spec's name counts.
fn linked_name(schema: &Schema, spec: &str) -> Option<String> {
    let default = format!("@{spec}");
    for link in schema.schema_definition.directives.get_all("link") {
        let url = link.specified_argument_by_name("url").and_then(|v| v.as_str()).unwrap_or_default();
        if !url.contains(&format!("/{spec}/v")) {
            continue;
        }
        if let Some(Value::List(imports)) = link.specified_argument_by_name("import").map(|v| v.as_ref()) {
            for import in imports {
                let Value::Object(fields) = import.as_ref() else { continue };
                let field = |key: &str| fields.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.as_str());
                if let (Some(name), Some(renamed)) = (field("name"), field("as"))
                    && name == default
                {
                    return Some(renamed.trim_start_matches('@').to_owned());
                }
            }
        }
        let namespace = link.specified_argument_by_name("as").and_then(|v| v.as_str()).unwrap_or(spec);
        return Some(namespace.to_owned());
    }
    schema.directive_definitions.contains_key(spec).then(|| spec.to_owned())
}

/// First pass: which `(parent, field)` coordinates of the operation are denied.
struct Decide<'a> {
    policies: &'a Policies,
    claims: Option<&'a Claims>,
    denied: BTreeSet<(Name, Name)>,
    fragments: HashSet<Name>,
}

impl Decide<'_> {
    fn set(&mut self, document: &ExecutableDocument, set: &SelectionSet) {
        for selection in &set.selections {
            match selection {
                Selection::Field(field) if field.name == "__typename" => {}
                Selection::Field(field) => {
                    if self.policies.allows(&set.ty, &field.name, self.claims) {
                        self.set(document, &field.selection_set);
                    } else {
                        self.denied.insert((set.ty.clone(), field.name.clone()));
                    }
                }
                Selection::InlineFragment(inline) => self.set(document, &inline.selection_set),
                Selection::FragmentSpread(spread) => {
                    if self.fragments.insert(spread.fragment_name.clone())
                        && let Some(fragment) = document.fragments.get(&spread.fragment_name)
                    {
                        self.set(document, &fragment.selection_set);
                    }
                }
            }
        }
    }
}

/// Second pass: one error per denied field and response path.
struct Report<'a> {
    document: &'a ExecutableDocument,
    denied: &'a BTreeSet<(Name, Name)>,
    errors: IndexMap<Vec<String>, serde_json::Value>,
    visits: usize,
}

impl Report<'_> {
    fn set(&mut self, set: &SelectionSet, path: &mut Vec<String>) {
        for selection in &set.selections {
            // Bounded: fragments spread within fragments multiply the paths to walk.
            self.visits += 1;
            if self.errors.len() >= MAX_ERRORS || self.visits > 100_000 {
                return;
            }
            match selection {
                Selection::Field(field) => {
                    path.push(field.response_key().to_string());
                    if self.denied.contains(&(set.ty.clone(), field.name.clone())) {
                        let error = json!({
                            "message": format!("not authorized to query `{}.{}`", set.ty, field.name),
                            "path": path.clone(),
                            "extensions": { "code": UNAUTHORIZED },
                        });
                        self.errors.entry(path.clone()).or_insert(error);
                    } else {
                        self.set(&field.selection_set, path);
                    }
                    path.pop();
                }
                Selection::InlineFragment(inline) => self.set(&inline.selection_set, path),
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = self.document.fragments.get(&spread.fragment_name) {
                        self.set(&fragment.selection_set, path);
                    }
                }
            }
        }
    }
}

/// Third pass: the document without the denied fields.
struct Filter<'a> {
    api: &'a Valid<Schema>,
    denied: &'a BTreeSet<(Name, Name)>,
}

impl Filter<'_> {
    /// The filtered document, or `None` when no root field is left (or, which would be a bug,
    /// the result does not validate: then nothing runs rather than too much).
    fn document(
        &self,
        document: &ExecutableDocument,
        operation: &executable::Operation,
    ) -> Option<Valid<ExecutableDocument>> {
        // No root field left: nothing to run.
        if !self.any_kept(document, &operation.selection_set) {
            return None;
        }
        let mut operation = operation.clone();
        operation.selection_set = self.set(&operation.selection_set);
        let mut out = ExecutableDocument::new();
        out.sources = document.sources.clone();
        let mut used = Used::default();
        used.set(&operation.selection_set);
        let mut queue: Vec<Name> = used.fragments.iter().cloned().collect();
        while let Some(name) = queue.pop() {
            let Some(fragment) = document.fragments.get(&name) else { continue };
            let mut fragment = (**fragment).clone();
            fragment.selection_set = self.set(&fragment.selection_set);
            let before: HashSet<Name> = used.fragments.clone();
            used.set(&fragment.selection_set);
            queue.extend(used.fragments.difference(&before).cloned());
            out.fragments.insert(name, Node::new(fragment));
        }
        operation.variables.retain(|v| used.variables.contains(&v.name));
        out.operations.insert(operation);
        match out.validate(self.api) {
            Ok(valid) => Some(valid),
            Err(invalid) => {
                tracing::error!(errors = %invalid.errors, "an operation filtered by authorization policies is invalid; refusing it");
                None
            }
        }
    }

    /// Whether a field of `set` (through its fragments) is kept.
    fn any_kept(&self, document: &ExecutableDocument, set: &SelectionSet) -> bool {
        set.selections.iter().any(|selection| match selection {
            Selection::Field(field) => !self.denied.contains(&(set.ty.clone(), field.name.clone())),
            Selection::InlineFragment(inline) => self.any_kept(document, &inline.selection_set),
            Selection::FragmentSpread(spread) => {
                document.fragments.get(&spread.fragment_name).is_some_and(|f| self.any_kept(document, &f.selection_set))
            }
        })
    }

    fn set(&self, set: &SelectionSet) -> SelectionSet {
        let mut out = SelectionSet::new(set.ty.clone());
        for selection in &set.selections {
            match selection {
                Selection::Field(field) => {
                    if self.denied.contains(&(set.ty.clone(), field.name.clone())) {
                        continue;
                    }
                    if field.selection_set.selections.is_empty() {
                        out.push(selection.clone());
                    } else {
                        let mut field = (**field).clone();
                        field.selection_set = self.set(&field.selection_set);
                        out.push(field);
                    }
                }
                Selection::InlineFragment(inline) => {
                    let mut inline = (**inline).clone();
                    inline.selection_set = self.set(&inline.selection_set);
                    out.push(inline);
                }
                Selection::FragmentSpread(_) => out.push(selection.clone()),
            }
        }
        if out.selections.is_empty()
            && let Ok(typename) = out.new_field(self.api, name!("__typename"))
        {
            out.push(typename);
        }
        out
    }
}

/// The fragments and variables a selection set uses.
#[derive(Default)]
struct Used {
    fragments: HashSet<Name>,
    variables: HashSet<Name>,
}

impl Used {
    fn set(&mut self, set: &SelectionSet) {
        for selection in &set.selections {
            match selection {
                Selection::Field(field) => {
                    for argument in &field.arguments {
                        self.value(&argument.value);
                    }
                    self.directives(&field.directives);
                    self.set(&field.selection_set);
                }
                Selection::InlineFragment(inline) => {
                    self.directives(&inline.directives);
                    self.set(&inline.selection_set);
                }
                Selection::FragmentSpread(spread) => {
                    self.directives(&spread.directives);
                    self.fragments.insert(spread.fragment_name.clone());
                }
            }
        }
    }

    fn directives(&mut self, directives: &executable::DirectiveList) {
        for argument in directives.iter().flat_map(|d| d.arguments.iter()) {
            self.value(&argument.value);
        }
    }

    fn value(&mut self, value: &Value) {
        match value {
            Value::Variable(name) => {
                self.variables.insert(name.clone());
            }
            Value::List(items) => items.iter().for_each(|item| self.value(item)),
            Value::Object(fields) => fields.iter().for_each(|(_, v)| self.value(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
