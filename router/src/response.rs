//! Shapes the merged subgraph data into the client's response: only the fields asked for, in
//! the order asked, with aliases and `__typename`, and GraphQL null propagation. Values are moved
//! out of the merged tree, not copied.

use apollo_compiler::Name;
use apollo_compiler::ast::Type;
use apollo_compiler::schema::ExtendedType;
use std::collections::HashMap;
use std::rc::Rc;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::operation::{Field, Selection};
use crate::supergraph::Supergraph;

/// A non-null field was null: the nearest nullable parent becomes null.
struct NullBubble;

/// The fields that apply to objects of one type under one set of selections, by response key.
type Collected<'s> = Rc<Vec<(&'s str, &'s Field, Vec<&'s [Selection]>)>>;

/// Shapes one response; remembers the collected fields per (type, selections) so the objects of
/// a list are shaped without collecting their fields again.
struct Projector<'a, 's> {
    sg: &'a Supergraph,
    collected: HashMap<(String, Vec<usize>), Collected<'s>>,
}

pub fn project(sg: &Supergraph, root_type: &Name, selections: &[Selection], data: Value) -> Value {
    let mut object = match data {
        Value::Object(object) => object,
        _ => Map::new(),
    };
    let mut projector = Projector { sg, collected: HashMap::new() };
    match projector.object(root_type, &[selections], &mut object) {
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
                if sg.is_possible(&fragment.on, typename) {
                    collect(sg, typename, &fragment.selections, out);
                }
            }
        }
    }
}

impl<'s> Projector<'_, 's> {
    fn fields(&mut self, typename: &str, selections: &[&'s [Selection]]) -> Collected<'s> {
        let key = (typename.to_owned(), selections.iter().map(|s| s.as_ptr() as usize).collect::<Vec<_>>());
        if let Some(found) = self.collected.get(&key) {
            return found.clone();
        }
        let mut fields = IndexMap::new();
        for set in selections {
            collect(self.sg, typename, set, &mut fields);
        }
        let fields: Collected<'s> = Rc::new(fields.into_iter().map(|(k, (f, subs))| (k, f, subs)).collect());
        self.collected.insert(key, fields.clone());
        fields
    }

    fn object(
        &mut self,
        ty: &Name,
        selections: &[&'s [Selection]],
        object: &mut Map<String, Value>,
    ) -> Result<Map<String, Value>, NullBubble> {
        let typename = object.get("__typename").and_then(Value::as_str).unwrap_or(ty.as_str()).to_owned();
        let fields = self.fields(&typename, selections);
        let mut out = Map::with_capacity(fields.len());
        for (key, field, subs) in fields.iter() {
            if field.name == "__typename" {
                out.insert((*key).to_owned(), Value::String(typename.clone()));
                continue;
            }
            let value = object.remove(*key).unwrap_or(Value::Null);
            let projected = self.value(&field.full_ty, subs, value)?;
            out.insert((*key).to_owned(), projected);
        }
        Ok(out)
    }

    fn value(&mut self, ty: &Type, selections: &[&'s [Selection]], value: Value) -> Result<Value, NullBubble> {
        match ty {
            Type::NonNullNamed(name) => nullable(self.named(name, selections, value)),
            Type::NonNullList(inner) => nullable(self.list(inner, selections, value)),
            Type::Named(name) => Ok(self.named(name, selections, value)),
            Type::List(inner) => Ok(self.list(inner, selections, value)),
        }
    }

    fn list(&mut self, inner: &Type, selections: &[&'s [Selection]], value: Value) -> Value {
        let Value::Array(items) = value else { return Value::Null };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match self.value(inner, selections, item) {
                Ok(v) => out.push(v),
                Err(NullBubble) => return Value::Null,
            }
        }
        Value::Array(out)
    }

    fn named(&mut self, name: &Name, selections: &[&'s [Selection]], value: Value) -> Value {
        let sg = self.sg;
        match value {
            Value::Null => Value::Null,
            Value::Object(mut object) if !selections.is_empty() => {
                // An object of a type clients cannot see (`@inaccessible`) is not a valid answer.
                let typename = object.get("__typename").and_then(Value::as_str);
                if typename.is_some_and(|t| !sg.api.types.contains_key(t)) {
                    return Value::Null;
                }
                match self.object(name, selections, &mut object) {
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
}

fn nullable(value: Value) -> Result<Value, NullBubble> {
    if value.is_null() { Err(NullBubble) } else { Ok(value) }
}
