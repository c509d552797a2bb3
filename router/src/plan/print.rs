//! A finished draft printed as a subgraph operation: conflicting fields aliased, the variables it
//! uses declared, `_entities` around an entity fetch's selections.

use std::collections::HashMap;
use std::fmt::Write as _;

use apollo_compiler::Name;
use apollo_compiler::ast::{OperationType, Value};

use super::{Draft, EntityFetch, FetchNode, Planner};
use crate::operation::{Field, Selection, merge_into};
use crate::supergraph::GraphId;

impl Planner<'_> {
    /// Turns `draft` and the drafts below it into fetch nodes with their subgraph operations.
    pub(super) fn finish(&self, mut draft: Draft) -> FetchNode {
        let mut renames = Vec::new();
        let root_type = match &draft.entity {
            Some(entity) => entity.entity.clone(),
            None => self.op.root_type.clone(),
        };
        // A key or requirement selected for several jumps is asked for once.
        draft.selections = merged(std::mem::take(&mut draft.selections), &root_type);
        let mut counter = 0;
        self.dealias(draft.graph, &root_type, &mut draft.selections, &mut counter, &mut renames);
        let mut variables = Vec::new();
        collect_variables(&draft.selections, &mut variables);
        let declarations: Vec<String> = variables
            .iter()
            .filter_map(|v| self.op.variable_types.iter().find(|(n, _)| n == v).map(|(n, t)| format!("${n}: {t}")))
            .collect();
        let mut operation = String::new();
        match &draft.entity {
            None => {
                let keyword = match self.op.kind {
                    OperationType::Mutation => "mutation",
                    OperationType::Subscription => "subscription",
                    OperationType::Query => "query",
                };
                operation.push_str(keyword);
                if !declarations.is_empty() {
                    let _ = write!(operation, "({})", declarations.join(", "));
                }
                print_selections(&mut operation, &draft.selections);
            }
            Some(entity) => {
                let mut all = vec!["$representations: [_Any!]!".to_owned()];
                all.extend(declarations);
                let _ = write!(
                    operation,
                    "query({}) {{ _entities(representations: $representations) {{ __typename",
                    all.join(", ")
                );
                let _ = write!(operation, " ... on {}", entity.entity);
                print_selections(&mut operation, &draft.selections);
                operation.push_str(" } }");
            }
        }
        let mut keys = Vec::new();
        top_keys(&draft.selections, &mut keys);
        for key in &mut keys {
            if let Some((_, original)) = renames.iter().find(|(alias, _)| alias == key) {
                key.clone_from(original);
            }
        }
        let children = merge_siblings(draft.children).into_iter().map(|c| self.finish(c)).collect();
        let after = merge_siblings(draft.after).into_iter().map(|c| self.finish(c)).collect();
        FetchNode { graph: draft.graph, entity: draft.entity, operation, variables, children, after, renames, keys }
    }

    /// Aliases fields that would conflict in one selection set of the subgraph operation: the same
    /// response key in sibling fragments with another field, arguments or type (a subgraph may
    /// type `id` as `ID!` on one object and `ID` on another), or with sub-selections that could.
    fn dealias(
        &self,
        graph: GraphId,
        parent: &Name,
        selections: &mut [Selection],
        counter: &mut usize,
        renames: &mut Vec<(String, String)>,
    ) {
        let mut seen: HashMap<String, (Option<usize>, String)> = HashMap::new();
        let mut to_alias: Vec<(usize, usize)> = Vec::new();
        for (i, selection) in selections.iter().enumerate() {
            let (owner, fields): (Option<usize>, Vec<(usize, &Field, &Name)>) = match selection {
                Selection::Field(field) => (None, vec![(0, field, parent)]),
                Selection::Fragment(fragment) => (
                    Some(i),
                    fragment
                        .selections
                        .iter()
                        .enumerate()
                        .filter_map(|(j, s)| match s {
                            Selection::Field(f) => Some((j, f, &fragment.on)),
                            Selection::Fragment(_) => None,
                        })
                        .collect(),
                ),
            };
            for (j, field, on) in fields {
                let signature = self.signature(graph, on, field);
                match seen.get(field.response_key().as_str()) {
                    None => {
                        seen.insert(field.response_key().to_string(), (owner, signature));
                    }
                    Some((first_owner, first)) => {
                        let conflict = *first_owner != owner && (first != &signature || !field.selections.is_empty());
                        if conflict && let Some(fragment) = owner {
                            to_alias.push((fragment, j));
                        }
                    }
                }
            }
        }
        for (i, j) in to_alias {
            if let Selection::Fragment(fragment) = &mut selections[i]
                && let Some(Selection::Field(field)) = fragment.selections.get_mut(j)
            {
                *counter += 1;
                let alias = format!("{}__fed{}", field.response_key(), counter);
                renames.push((alias.clone(), field.response_key().to_string()));
                field.alias = Name::new(&alias).ok();
            }
        }
        for selection in selections.iter_mut() {
            match selection {
                Selection::Field(field) => {
                    let ty = field.ty.clone();
                    self.dealias(graph, &ty, &mut field.selections, counter, renames);
                }
                Selection::Fragment(fragment) => {
                    for inner in fragment.selections.iter_mut() {
                        if let Selection::Field(field) = inner {
                            let ty = field.ty.clone();
                            self.dealias(graph, &ty, &mut field.selections, counter, renames);
                        }
                    }
                }
            }
        }
    }

    /// What makes two same-named selections the same field in a subgraph: name, arguments and
    /// the subgraph's type for it.
    fn signature(&self, graph: GraphId, on: &Name, field: &Field) -> String {
        let args: Vec<String> = field.arguments.iter().map(|a| format!("{}:{}", a.name, a.value)).collect();
        let ty = self
            .sg
            .field_in_graph(on, &field.name, graph)
            .and_then(|f| f.type_string.clone())
            .unwrap_or_else(|| field.full_ty.to_string());
        format!("{}({}):{}", field.name, args.join(","), ty)
    }
}

/// The response keys of the fields at the top of `selections`, through fragments, once each.
fn top_keys(selections: &[Selection], out: &mut Vec<String>) {
    for selection in selections {
        match selection {
            Selection::Field(field) if field.name != "__typename" => {
                let key = field.response_key().to_string();
                if !out.contains(&key) {
                    out.push(key);
                }
            }
            Selection::Field(_) => {}
            Selection::Fragment(fragment) => top_keys(&fragment.selections, out),
        }
    }
}

/// The client's variables used in the arguments of `selections`, in order of first use.
fn collect_variables(selections: &[Selection], out: &mut Vec<Name>) {
    for selection in selections {
        match selection {
            Selection::Field(field) => {
                for argument in &field.arguments {
                    collect_value_variables(&argument.value, out);
                }
                collect_variables(&field.selections, out);
            }
            Selection::Fragment(fragment) => collect_variables(&fragment.selections, out),
        }
    }
}

fn collect_value_variables(value: &Value, out: &mut Vec<Name>) {
    match value {
        Value::Variable(name) if !out.contains(name) => out.push(name.clone()),
        Value::List(items) => items.iter().for_each(|v| collect_value_variables(v, out)),
        Value::Object(fields) => fields.iter().for_each(|(_, v)| collect_value_variables(v, out)),
        _ => {}
    }
}

/// Appends ` { … }`: `selections` on one line, as the subgraph operation has them.
fn print_selections(out: &mut String, selections: &[Selection]) {
    out.push_str(" {");
    for selection in selections {
        match selection {
            Selection::Field(field) => {
                out.push(' ');
                if let Some(alias) = &field.alias {
                    let _ = write!(out, "{alias}: ");
                }
                out.push_str(&field.name);
                if !field.arguments.is_empty() {
                    let args: Vec<String> =
                        field.arguments.iter().map(|a| format!("{}: {}", a.name, a.value)).collect();
                    let _ = write!(out, "({})", args.join(", "));
                }
                if !field.selections.is_empty() {
                    print_selections(out, &field.selections);
                }
            }
            Selection::Fragment(fragment) => {
                let _ = write!(out, " ... on {}", fragment.on);
                print_selections(out, &fragment.selections);
            }
        }
    }
    out.push_str(" }");
}

/// Sibling fetches (they run at the same time) to one subgraph for the same objects, sent the
/// same representations, become one fetch: a key fetched for several jumps is fetched once, and
/// what waits on either waits on the one.
fn merge_siblings(drafts: Vec<Draft>) -> Vec<Draft> {
    let mut out: Vec<Draft> = Vec::new();
    for draft in drafts {
        match out.iter_mut().find(|d| d.graph == draft.graph && same_objects(d.entity.as_ref(), draft.entity.as_ref()))
        {
            Some(existing) => {
                existing.selections.extend(draft.selections);
                existing.children.extend(draft.children);
                existing.after.extend(draft.after);
            }
            None => out.push(draft),
        }
    }
    out
}

fn same_objects(a: Option<&EntityFetch>, b: Option<&EntityFetch>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => {
            a.path == b.path && a.entity == b.entity && a.types == b.types && a.representation == b.representation
        }
        _ => false,
    }
}

/// `selections` (on `parent`) with identical fields and fragments merged, at every level.
fn merged(selections: Vec<Selection>, parent: &Name) -> Vec<Selection> {
    let mut out = Vec::new();
    for selection in selections {
        let selection = match selection {
            Selection::Field(field) => {
                let selections = merged(field.selections, &field.ty);
                Selection::Field(Field { selections, ..field })
            }
            Selection::Fragment(fragment) => {
                let selections = merged(fragment.selections, &fragment.on);
                Selection::Fragment(crate::operation::Fragment { selections, ..fragment })
            }
        };
        merge_into(&mut out, selection, parent);
    }
    out
}
