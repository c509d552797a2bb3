//! Shapes the merged subgraph data into the client's response: only the fields asked for, in
//! the order asked, with aliases and `__typename`, and GraphQL null propagation.

use apollo_compiler::Name;
use apollo_compiler::ast::Type;
use apollo_compiler::schema::ExtendedType;
use serde_json::{Map, Value};

use crate::operation::Selection;
use crate::supergraph::Supergraph;

/// A non-null field was null: the nearest nullable parent becomes null.
struct NullBubble;

pub fn project(sg: &Supergraph, root_type: &Name, selections: &[Selection], data: &Value) -> Value {
    let empty = Map::new();
    let object = data.as_object().unwrap_or(&empty);
    let mut out = Map::new();
    match project_object(sg, root_type, selections, object, &mut out) {
        Ok(()) => Value::Object(out),
        Err(NullBubble) => Value::Null,
    }
}

fn project_object(
    sg: &Supergraph,
    ty: &Name,
    selections: &[Selection],
    object: &Map<String, Value>,
    out: &mut Map<String, Value>,
) -> Result<(), NullBubble> {
    let typename = object.get("__typename").and_then(Value::as_str).unwrap_or(ty.as_str()).to_owned();
    for selection in selections {
        match selection {
            Selection::Field(field) => {
                let key = field.response_key().to_string();
                if field.name == "__typename" {
                    out.insert(key, Value::String(typename.clone()));
                    continue;
                }
                let value = object.get(key.as_str()).unwrap_or(&Value::Null);
                match project_value(sg, &field.full_ty, &field.selections, value) {
                    Ok(projected) => merge_into(out, key, projected),
                    Err(NullBubble) => return Err(NullBubble),
                }
            }
            Selection::Fragment(fragment) => {
                if applies(sg, &typename, &fragment.on) {
                    project_object(sg, ty, &fragment.selections, object, out)?;
                }
            }
        }
    }
    Ok(())
}

fn merge_into(out: &mut Map<String, Value>, key: String, value: Value) {
    match (out.get_mut(&key), value) {
        (Some(Value::Object(existing)), Value::Object(more)) => {
            for (k, v) in more {
                merge_into(existing, k, v);
            }
        }
        (Some(Value::Array(existing)), Value::Array(more)) if existing.len() == more.len() => {
            for (slot, v) in existing.iter_mut().zip(more) {
                if let (Value::Object(a), Value::Object(b)) = (slot, v) {
                    for (k, v) in b {
                        merge_into(a, k, v);
                    }
                }
            }
        }
        (_, value) => {
            out.insert(key, value);
        }
    }
}

fn applies(sg: &Supergraph, typename: &str, condition: &Name) -> bool {
    typename == condition.as_str() || sg.possible_types(condition).iter().any(|t| t == typename)
}

fn project_value(sg: &Supergraph, ty: &Type, selections: &[Selection], value: &Value) -> Result<Value, NullBubble> {
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

fn project_list(sg: &Supergraph, inner: &Type, selections: &[Selection], value: &Value) -> Value {
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

fn project_named(sg: &Supergraph, name: &Name, selections: &[Selection], value: &Value) -> Value {
    match value {
        Value::Null => Value::Null,
        Value::Object(object) if !selections.is_empty() => {
            // An object of a type clients cannot see (`@inaccessible`) is not a valid answer.
            let typename = object.get("__typename").and_then(Value::as_str);
            if typename.is_some_and(|t| !sg.api.types.contains_key(t)) {
                return Value::Null;
            }
            let mut out = Map::new();
            match project_object(sg, name, selections, object, &mut out) {
                Ok(()) => Value::Object(out),
                Err(NullBubble) => Value::Null,
            }
        }
        other => match sg.api.types.get(name) {
            // An enum value the client cannot see (inaccessible) is not a valid answer.
            Some(ExtendedType::Enum(e)) => match other.as_str() {
                Some(v) if e.values.contains_key(v) => other.clone(),
                _ => Value::Null,
            },
            _ => other.clone(),
        },
    }
}
