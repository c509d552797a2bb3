//! Shapes the merged subgraph data into the client's response: only the fields asked for, in
//! the order asked, with aliases and `__typename`, and GraphQL null propagation.
//!
//! [`write`] writes the response straight into the output buffer from the merged tree (read,
//! never copied or rebuilt). Null propagation writes ahead and rolls back: a non-null field that
//! turns out null truncates the buffer to where its nearest nullable parent began, which then
//! writes `null` instead.

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

/// Writes `data` shaped by `selections` (on `root_type`) as JSON into `out`; returns whether the
/// written data is `null` (a non-null root field was null).
pub fn write(sg: &Supergraph, root_type: &Name, selections: &[Selection], data: &Value, out: &mut Vec<u8>) -> bool {
    let empty = Map::new();
    let object = data.as_object().unwrap_or(&empty);
    let mut writer = Writer { sg, collected: HashMap::new(), out };
    let start = writer.out.len();
    match writer.object(root_type, &[selections], object) {
        Ok(()) => false,
        Err(NullBubble) => {
            writer.out.truncate(start);
            writer.out.extend_from_slice(b"null");
            true
        }
    }
}

/// Writes one response (see [`write`]).
struct Writer<'a, 's, 'o> {
    sg: &'a Supergraph,
    collected: HashMap<(String, Vec<usize>), Collected<'s>>,
    out: &'o mut Vec<u8>,
}

impl<'s> Writer<'_, 's, '_> {
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

    /// `{"key":value,…}`; `Err` when a non-null field is null (the caller rolls back).
    fn object(
        &mut self,
        ty: &Name,
        selections: &[&'s [Selection]],
        object: &Map<String, Value>,
    ) -> Result<(), NullBubble> {
        let typename = object.get("__typename").and_then(Value::as_str).unwrap_or(ty.as_str());
        let fields = self.fields(typename, selections);
        let mut cursor = Cursor { entries: object.iter(), object };
        self.out.push(b'{');
        for (i, (key, field, subs)) in fields.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            // Response keys are GraphQL names: nothing to escape.
            self.out.push(b'"');
            self.out.extend_from_slice(key.as_bytes());
            self.out.extend_from_slice(b"\":");
            if field.name == "__typename" {
                write_string(self.out, typename);
                continue;
            }
            let value = cursor.get(key);
            self.value(&field.full_ty, subs, value)?;
        }
        self.out.push(b'}');
        Ok(())
    }

    /// Writes a value of type `ty`; `Err` when it is null and `ty` is non-null.
    fn value(&mut self, ty: &Type, selections: &[&'s [Selection]], value: Option<&Value>) -> Result<(), NullBubble> {
        let start = self.out.len();
        let null = match ty {
            Type::NonNullNamed(name) | Type::Named(name) => self.named(name, selections, value),
            Type::NonNullList(inner) | Type::List(inner) => self.list(inner, selections, value),
        };
        if null && ty.is_non_null() {
            self.out.truncate(start);
            return Err(NullBubble);
        }
        Ok(())
    }

    /// Writes a list (or `null`); returns whether it wrote `null`.
    fn list(&mut self, inner: &Type, selections: &[&'s [Selection]], value: Option<&Value>) -> bool {
        let Some(Value::Array(items)) = value else {
            self.out.extend_from_slice(b"null");
            return true;
        };
        let start = self.out.len();
        self.out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            if self.value(inner, selections, Some(item)).is_err() {
                self.out.truncate(start);
                self.out.extend_from_slice(b"null");
                return true;
            }
        }
        self.out.push(b']');
        false
    }

    /// Writes an object, enum or scalar (or `null`); returns whether it wrote `null`.
    fn named(&mut self, name: &Name, selections: &[&'s [Selection]], value: Option<&Value>) -> bool {
        let sg = self.sg;
        match value {
            None | Some(Value::Null) => {
                self.out.extend_from_slice(b"null");
                true
            }
            Some(Value::Object(object)) if !selections.is_empty() => {
                // An object of a type clients cannot see (`@inaccessible`) is not a valid answer.
                let typename = object.get("__typename").and_then(Value::as_str);
                let start = self.out.len();
                if typename.is_some_and(|t| !sg.api.types.contains_key(t))
                    || self.object(name, selections, object).is_err()
                {
                    self.out.truncate(start);
                    self.out.extend_from_slice(b"null");
                    return true;
                }
                false
            }
            Some(other) => {
                // An enum value the client cannot see (inaccessible) is not a valid answer.
                if let Some(ExtendedType::Enum(e)) = sg.api.types.get(name)
                    && !other.as_str().is_some_and(|v| e.values.contains_key(v))
                {
                    self.out.extend_from_slice(b"null");
                    return true;
                }
                if serde_json::to_writer(&mut *self.out, other).is_err() {
                    self.out.extend_from_slice(b"null");
                    return true;
                }
                false
            }
        }
    }
}

/// Reads an object's fields in the order they are asked for. The merged data mostly holds them
/// in that order already (subgraphs answer in the order of the planned selections), so the next
/// entries are tried first — a comparison instead of a hash lookup — and the map answers the rest.
struct Cursor<'v> {
    entries: serde_json::map::Iter<'v>,
    object: &'v Map<String, Value>,
}

impl<'v> Cursor<'v> {
    /// How many entries past the cursor are looked at before asking the map.
    const LOOKAHEAD: usize = 3;

    fn get(&mut self, key: &str) -> Option<&'v Value> {
        let mut ahead = self.entries.clone();
        for (k, v) in ahead.by_ref().take(Self::LOOKAHEAD) {
            if k == key {
                self.entries = ahead;
                return Some(v);
            }
        }
        self.object.get(key)
    }
}

fn write_string(out: &mut Vec<u8>, text: &str) {
    // Serialising a `&str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SUPERGRAPH: &str = r#"
schema @link(url: "https://specs.apollo.dev/link/v1.0") @link(url: "https://specs.apollo.dev/join/v0.3", for: EXECUTION) { query: Query }
directive @join__field(graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, external: Boolean, override: String, usedOverridden: Boolean) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION
directive @join__graph(name: String!, url: String!) on ENUM_VALUE
directive @join__implements(graph: join__Graph!, interface: String!) repeatable on OBJECT | INTERFACE
directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR
directive @join__unionMember(graph: join__Graph!, member: String!) repeatable on UNION
directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA
scalar join__FieldSet
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }
enum join__Graph { A @join__graph(name: "a", url: "http://a") }
type Query @join__type(graph: A) { items: [Item!]  strict: [Item!]!  first: Item  node: Node  color: Color }
type Item implements Node @join__type(graph: A) @join__implements(graph: A, interface: "Node") { id: ID!  name: String! note: String }
type Other implements Node @join__type(graph: A) @join__implements(graph: A, interface: "Node") { id: ID! size: Int }
interface Node @join__type(graph: A) { id: ID! }
enum Color @join__type(graph: A) { RED GREEN }
"#;

    /// The written response of `query` over `data`.
    fn written(query: &str, data: Value) -> Value {
        let sg = Supergraph::parse(SUPERGRAPH).expect("valid supergraph");
        let document = crate::operation::parse(&sg.api, query, 0).expect("valid query");
        let variables = serde_json::Map::new();
        let (operation, variables) =
            crate::operation::select(&sg.api, &document, None, &variables).expect("one operation");
        let normalized = crate::operation::normalize(&document, operation, &variables);
        let mut out = Vec::new();
        write(&sg, &normalized.root_type, &normalized.selections, &data, &mut out);
        serde_json::from_slice(&out).expect("valid JSON")
    }

    #[test]
    fn only_the_selected_fields_come_out_in_the_order_asked() {
        let data = json!({ "first": { "name": "n", "id": "1", "note": "x", "extra": true } });
        let out = written("{ first { name id } }", data);
        assert_eq!(serde_json::to_string(&out).expect("text"), r#"{"first":{"name":"n","id":"1"}}"#);
    }

    #[test]
    fn fields_held_in_another_order_are_still_found() {
        let data = json!({ "first": { "note": "x", "z": 1, "y": 2, "w": 3, "v": 4, "name": "n", "id": "1" } });
        let out = written("{ first { id name note } }", data);
        assert_eq!(serde_json::to_string(&out).expect("text"), r#"{"first":{"id":"1","name":"n","note":"x"}}"#);
    }

    #[test]
    fn a_null_non_null_field_nulls_its_nearest_nullable_parent() {
        let data = json!({ "first": { "id": "1", "name": null } });
        assert_eq!(written("{ first { id name } }", data), json!({ "first": null }));
    }

    #[test]
    fn a_null_non_null_list_item_nulls_the_list_and_a_non_null_list_its_parent() {
        let items = json!([{ "id": "1", "name": "a" }, { "id": "2", "name": null }]);
        let out = written("{ items { id name } }", json!({ "items": items.clone() }));
        assert_eq!(out, json!({ "items": null }), "[Item!] with a null item is null");
        let out = written("{ strict { id name } }", json!({ "strict": items }));
        assert_eq!(out, Value::Null, "[Item!]! bubbles to the root data");
    }

    #[test]
    fn aliases_and_typename_are_written_from_the_response_keys() {
        let data = json!({ "x": { "__typename": "Item", "id": "1" } });
        let out = written("{ x: first { __typename id } }", data);
        assert_eq!(out, json!({ "x": { "__typename": "Item", "id": "1" } }));
    }

    #[test]
    fn abstract_types_take_the_fields_of_their_runtime_type() {
        let data = json!({ "node": { "__typename": "Other", "id": "7", "size": 3 } });
        let query = "{ node { __typename id ... on Item { name } ... on Other { size } } }";
        assert_eq!(written(query, data), json!({ "node": { "__typename": "Other", "id": "7", "size": 3 } }));
    }

    #[test]
    fn strings_are_escaped_and_unknown_enum_values_are_null() {
        let data = json!({ "first": { "id": "q\"\n", "name": "ü" }, "color": "BLUE" });
        let out = written("{ first { id name } color }", data);
        assert_eq!(out, json!({ "first": { "id": "q\"\n", "name": "ü" }, "color": null }));
    }
}
