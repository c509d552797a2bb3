//! Shapes the merged subgraph data into the client's response: only the fields asked for, in
//! the order asked, with aliases and `__typename`, and GraphQL null propagation. Values are moved
//! out of the merged tree, not copied.

use apollo_compiler::Name;
use apollo_compiler::ast::Type;
use apollo_compiler::schema::ExtendedType;
use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::operation::{Field, Selection};
use crate::supergraph::Supergraph;

/// A non-null field was null: the nearest nullable parent becomes null.
struct NullBubble;

pub fn project(sg: &Supergraph, root_type: &Name, selections: &[Selection], data: Value) -> Value {
    let mut object = match data {
        Value::Object(object) => object,
        _ => Map::new(),
    };
    match project_object(sg, root_type, &[selections], &mut object) {
        Ok(out) => Value::Object(out),
        Err(NullBubble) => Value::Null,
    }
}

/// The fields that apply to an object of type `typename`, by response key, with the
/// sub-selections of every occurrence (the spec's CollectFields).
fn collect<'s>(
    sg: &Supergraph,
    typename: &str,
    selections: &'s [Selection],
    out: &mut IndexMap<&'s str, (&'s Field, Vec<&'s [Selection]>)>,
) {
    for selection in selections {
        match selection {
            Selection::Field(field) => {
                let entry = out.entry(field.response_key().as_str()).or_insert_with(|| (field, Vec::new()));
                if !field.selections.is_empty() {
                    entry.1.push(&field.selections);
                }
            }
            Selection::Fragment(fragment) => {
                if applies(sg, typename, &fragment.on) {
                    collect(sg, typename, &fragment.selections, out);
                }
            }
        }
    }
}

fn project_object(
    sg: &Supergraph,
    ty: &Name,
    selections: &[&[Selection]],
    object: &mut Map<String, Value>,
) -> Result<Map<String, Value>, NullBubble> {
    let typename = object.get("__typename").and_then(Value::as_str).unwrap_or(ty.as_str()).to_owned();
    let mut fields = IndexMap::new();
    for set in selections {
        collect(sg, &typename, set, &mut fields);
    }
    let mut out = Map::with_capacity(fields.len());
    for (key, (field, subs)) in fields {
        if field.name == "__typename" {
            out.insert(key.to_owned(), Value::String(typename.clone()));
            continue;
        }
        let value = object.remove(key).unwrap_or(Value::Null);
        let projected = project_value(sg, &field.full_ty, &subs, value)?;
        out.insert(key.to_owned(), projected);
    }
    Ok(out)
}

fn applies(sg: &Supergraph, typename: &str, condition: &Name) -> bool {
    typename == condition.as_str() || sg.possible_types(condition).iter().any(|t| t == typename)
}

fn project_value(sg: &Supergraph, ty: &Type, selections: &[&[Selection]], value: Value) -> Result<Value, NullBubble> {
    match ty {
        Type::NonNullNamed(name) => nullable(project_named(sg, name, selections, value)),
        Type::NonNullList(inner) => nullable(project_list(sg, inner, selections, value)),
        Type::Named(name) => Ok(project_named(sg, name, selections, value)),
        Type::List(inner) => Ok(project_list(sg, inner, selections, value)),
    }
}

fn nullable(value: Value) -> Result<Value, NullBubble> {
    if value.is_null() { Err(NullBubble) } else { Ok(value) }
}

fn project_list(sg: &Supergraph, inner: &Type, selections: &[&[Selection]], value: Value) -> Value {
    let Value::Array(items) = value else { return Value::Null };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match project_value(sg, inner, selections, item) {
            Ok(v) => out.push(v),
            Err(NullBubble) => return Value::Null,
        }
    }
    Value::Array(out)
}

fn project_named(sg: &Supergraph, name: &Name, selections: &[&[Selection]], value: Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::Object(mut object) if !selections.is_empty() => {
            // An object of a type clients cannot see (`@inaccessible`) is not a valid answer.
            let typename = object.get("__typename").and_then(Value::as_str);
            if typename.is_some_and(|t| !sg.api.types.contains_key(t)) {
                return Value::Null;
            }
            match project_object(sg, name, selections, &mut object) {
                Ok(out) => Value::Object(out),
                Err(NullBubble) => Value::Null,
            }
        }
        other => match sg.api.types.get(name) {
            // An enum value the client cannot see (inaccessible) is not a valid answer.
            Some(ExtendedType::Enum(e)) => match other.as_str() {
                Some(v) if e.values.contains_key(v) => other,
                _ => Value::Null,
            },
            _ => other,
        },
    }
}
