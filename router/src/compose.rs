//! Composition: subgraph SDLs → a Federation v2 supergraph (join v0.3).
//!
//! Merge rules: object and interface fields are united (a field resolved by several subgraphs must
//! be `@shareable`, a key field, or `@external` in all but one), keys, `@external`, `@requires`,
//! `@provides`, `@override` and `@interfaceObject` become join metadata; unions and enums are
//! united (enum values per subgraph), input objects keep the fields every subgraph has;
//! `@inaccessible` and `@tag` are carried, and so are `@authenticated` and `@requiresScopes`
//! ([`access`]). Errors name the subgraph, the type and the field.

mod access;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use apollo_compiler::Schema;
use apollo_compiler::ast::{DirectiveList, Value};
use apollo_compiler::schema::{Component, ExtendedType, FieldDefinition, InputValueDefinition};

use self::access::Access;

/// A subgraph to compose.
#[derive(Debug, Clone)]
pub struct SubgraphSdl {
    pub name: String,
    pub url: String,
    pub sdl: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CompositionError {
    pub message: String,
}

fn error(message: impl Into<String>) -> CompositionError {
    CompositionError { message: message.into() }
}

/// Definitions a subgraph SDL may use without declaring them.
const FEDERATION_DEFINITIONS: &str = r#"
scalar _FieldSet
scalar FieldSet
scalar federation__FieldSet
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }
directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA
directive @key(fields: _FieldSet!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
directive @requires(fields: _FieldSet!) on FIELD_DEFINITION
directive @provides(fields: _FieldSet!) on FIELD_DEFINITION
directive @external(reason: String) on OBJECT | FIELD_DEFINITION
directive @shareable repeatable on OBJECT | FIELD_DEFINITION
directive @extends on OBJECT | INTERFACE
directive @override(from: String!, label: String) on FIELD_DEFINITION
directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION
directive @tag(name: String!) repeatable on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION | SCHEMA
directive @interfaceObject on OBJECT
directive @composeDirective(name: String!) repeatable on SCHEMA
directive @authenticated on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
directive @policy(policies: [[String!]!]!) on FIELD_DEFINITION | OBJECT | INTERFACE | SCALAR | ENUM
"#;

const INTERNAL_TYPES: &[&str] =
    &["_Any", "_Entity", "_Service", "_FieldSet", "FieldSet", "federation__FieldSet", "link__Import", "link__Purpose"];

#[derive(Default)]
struct MergedField {
    description: Option<String>,
    /// graph index → (type as declared, arguments printed, directives of interest)
    per_graph: BTreeMap<usize, FieldInGraph>,
    inaccessible: bool,
    tags: BTreeSet<String>,
    access: Access,
    /// Resolved through an `@interfaceObject` for the interface: no subgraph has it on this type.
    via_interface: Option<String>,
}

#[derive(Clone)]
struct FieldInGraph {
    ty: String,
    arguments: Vec<String>,
    external: bool,
    shareable: bool,
    key_field: bool,
    requires: Option<String>,
    provides: Option<String>,
    override_from: Option<String>,
    override_label: Option<String>,
}

#[derive(Default)]
struct MergedType {
    kind: &'static str,
    description: Option<String>,
    /// graph → (keys, is interface object, extension)
    graphs: BTreeMap<usize, (Vec<(String, bool)>, bool)>,
    fields: BTreeMap<String, MergedField>,
    /// kept in first-seen order
    field_order: Vec<String>,
    implements: BTreeMap<usize, Vec<String>>,
    members: BTreeMap<usize, Vec<String>>,
    values: BTreeMap<String, BTreeSet<usize>>,
    value_order: Vec<String>,
    inaccessible_values: BTreeSet<String>,
    inaccessible: bool,
    tags: BTreeSet<String>,
    access: Access,
}

fn graph_enum_name(name: &str) -> String {
    let mut out: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    if out.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn string_arg(directives: &DirectiveList, directive: &str, arg: &str) -> Option<String> {
    directives.get(directive)?.specified_argument_by_name(arg).and_then(|v| v.as_str()).map(str::to_owned)
}

fn tag_name(directive: &apollo_compiler::ast::Directive) -> Option<String> {
    directive.specified_argument_by_name("name").and_then(|v| v.as_str()).map(str::to_owned)
}

fn tags(directives: &DirectiveList) -> Vec<String> {
    directives.get_all("tag").filter_map(|d| tag_name(d)).collect()
}

fn type_tags(directives: &apollo_compiler::schema::DirectiveList) -> Vec<String> {
    directives.get_all("tag").filter_map(|d| tag_name(d)).collect()
}

fn print_args(arguments: &[apollo_compiler::Node<InputValueDefinition>]) -> Vec<String> {
    arguments
        .iter()
        .map(|a| {
            let mut printed = match &a.default_value {
                Some(default) => format!("{}: {} = {}", a.name, a.ty, default),
                None => format!("{}: {}", a.name, a.ty),
            };
            if a.directives.has("inaccessible") {
                printed.push_str(" @inaccessible");
            }
            printed
        })
        .collect()
}

fn escape_block(description: &str) -> String {
    description.replace("\"\"\"", "\\\"\"\"")
}

/// Composes the subgraphs into a supergraph SDL.
pub fn compose(subgraphs: &[SubgraphSdl]) -> Result<String, Vec<CompositionError>> {
    let mut errors = Vec::new();
    let mut types: BTreeMap<String, MergedType> = BTreeMap::new();
    let mut roots: BTreeMap<&'static str, bool> = BTreeMap::new();
    let mut uses_inaccessible = false;
    let mut uses_tag = false;
    for (graph, subgraph) in subgraphs.iter().enumerate() {
        let source = format!("{FEDERATION_DEFINITIONS}\n{}", subgraph.sdl);
        let schema = match Schema::builder()
            .adopt_orphan_extensions()
            .parse(source, format!("{}.graphql", subgraph.name))
            .build()
        {
            Ok(schema) => schema,
            Err(e) => {
                errors.push(error(format!("subgraph \"{}\": invalid SDL: {}", subgraph.name, e.errors)));
                continue;
            }
        };
        // Root types may have other names in a subgraph (`schema { query: RootQuery }`).
        let mut root_names: BTreeMap<String, &'static str> = BTreeMap::new();
        let definition = &schema.schema_definition;
        for (name, canonical) in [
            (&definition.query, "Query"),
            (&definition.mutation, "Mutation"),
            (&definition.subscription, "Subscription"),
        ] {
            let actual = name.as_ref().map(|n| n.name.to_string()).unwrap_or_else(|| canonical.to_owned());
            root_names.insert(actual, canonical);
        }
        let fed1 = !subgraph.sdl.contains("specs.apollo.dev/federation/v2");
        // Fields named in any key of this subgraph (nested ones included) may be shared.
        let all_key_names: BTreeSet<String> = schema
            .types
            .values()
            .flat_map(|t| {
                t.directives()
                    .get_all("key")
                    .filter_map(|d| d.specified_argument_by_name("fields").and_then(|v| v.as_str()).map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .flat_map(|k| {
                k.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect();
        for (type_name, ty) in &schema.types {
            if ty.is_built_in() || INTERNAL_TYPES.contains(&type_name.as_str()) || type_name.starts_with("federation__")
            {
                continue;
            }
            let name =
                root_names.get(type_name.as_str()).map(|c| (*c).to_owned()).unwrap_or_else(|| type_name.to_string());
            if let Some(canonical) = root_names.get(type_name.as_str()) {
                roots.insert(canonical, true);
            }
            let merged = types.entry(name.clone()).or_default();
            let directives = ty.directives();
            let interface_object = directives.has("interfaceObject");
            let kind = match ty {
                ExtendedType::Object(_) if interface_object => "interface",
                ExtendedType::Object(_) => "type",
                ExtendedType::Interface(_) => "interface",
                ExtendedType::Union(_) => "union",
                ExtendedType::Enum(_) => "enum",
                ExtendedType::InputObject(_) => "input",
                ExtendedType::Scalar(_) => "scalar",
            };
            if merged.kind.is_empty() || (merged.kind == "type" && kind == "interface") {
                merged.kind = kind;
            } else if merged.kind != kind && !(merged.kind == "interface" && kind == "type") {
                errors.push(error(format!(
                    "type \"{name}\" is a {} in some subgraphs and a {kind} in subgraph \"{}\"",
                    merged.kind, subgraph.name
                )));
                continue;
            }
            if merged.description.is_none() {
                merged.description = ty.description().map(|d| d.to_string());
            }
            merged.inaccessible |= directives.has("inaccessible");
            merged.tags.extend(type_tags(directives));
            if matches!(kind, "type" | "interface" | "scalar" | "enum") {
                merged.access.merge(Access::read(directives.iter().map(|d| &d.node)));
            }
            let keys: Vec<(String, bool)> = directives
                .get_all("key")
                .filter_map(|d| {
                    let fields = d.specified_argument_by_name("fields").and_then(|v| v.as_str())?.to_owned();
                    let resolvable =
                        d.specified_argument_by_name("resolvable").and_then(|v| v.to_bool()).unwrap_or(true);
                    Some((fields, resolvable))
                })
                .collect();
            let own_key_fields: BTreeSet<String> = keys
                .iter()
                .flat_map(|(k, _)| {
                    k.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect();
            // A value type (no key of its own) used inside keys: its fields are key fields too.
            let key_fields = if keys.is_empty() { all_key_names.clone() } else { own_key_fields };
            merged.graphs.insert(graph, (keys, interface_object));
            let type_shareable = directives.has("shareable") || (fed1 && kind != "interface");
            match ty {
                ExtendedType::Object(o) => {
                    merged
                        .implements
                        .insert(graph, o.implements_interfaces.iter().map(|i| i.name.to_string()).collect());
                    add_fields(
                        merged,
                        graph,
                        &o.fields,
                        type_shareable,
                        &key_fields,
                        directives.has("extends"),
                        directives.has("external"),
                    );
                }
                ExtendedType::Interface(i) => {
                    merged
                        .implements
                        .insert(graph, i.implements_interfaces.iter().map(|i| i.name.to_string()).collect());
                    add_fields(merged, graph, &i.fields, true, &key_fields, false, false);
                }
                ExtendedType::Union(u) => {
                    merged.members.insert(graph, u.members.iter().map(|m| m.name.to_string()).collect());
                }
                ExtendedType::Enum(e) => {
                    for (value, definition) in &e.values {
                        if !merged.values.contains_key(value.as_str()) {
                            merged.value_order.push(value.to_string());
                        }
                        merged.values.entry(value.to_string()).or_default().insert(graph);
                        if definition.directives.has("inaccessible") {
                            uses_inaccessible = true;
                            merged.inaccessible_values.insert(value.to_string());
                        }
                    }
                }
                ExtendedType::InputObject(input) => {
                    for (field_name, field) in &input.fields {
                        let entry = merged.fields.entry(field_name.to_string()).or_default();
                        if entry.per_graph.is_empty() {
                            merged.field_order.push(field_name.to_string());
                        }
                        entry.inaccessible |= field.directives.has("inaccessible");
                        let ty = match &field.default_value {
                            Some(default) => format!("{} = {}", field.ty, default),
                            None => field.ty.to_string(),
                        };
                        entry.per_graph.insert(graph, plain_field(ty, Vec::new()));
                    }
                }
                ExtendedType::Scalar(_) => {}
            }
            uses_inaccessible |= merged.inaccessible || merged.fields.values().any(|f| f.inaccessible);
            uses_tag |= !merged.tags.is_empty() || merged.fields.values().any(|f| !f.tags.is_empty());
        }
    }
    add_interface_object_fields(&mut types);
    check_shareable(&types, subgraphs, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(print(subgraphs, &types, &roots, uses_inaccessible, uses_tag))
}

/// Fields an `@interfaceObject` subgraph adds to an interface appear on every implementation,
/// resolved through the interface (`@join__field` without a graph).
fn add_interface_object_fields(types: &mut BTreeMap<String, MergedType>) {
    // (object, field, type, description, the interface field's requirements)
    let mut additions: Vec<(String, String, String, Option<String>, Access)> = Vec::new();
    for (interface, ty) in types.iter() {
        if ty.kind != "interface" || !ty.graphs.values().any(|(_, io)| *io) {
            continue;
        }
        let io_graphs: BTreeSet<usize> = ty.graphs.iter().filter(|(_, (_, io))| *io).map(|(g, _)| *g).collect();
        for (object, other) in types.iter() {
            if other.kind != "type" || !other.implements.values().flatten().any(|i| i == interface) {
                continue;
            }
            for field_name in &ty.field_order {
                let field = &ty.fields[field_name];
                if other.fields.contains_key(field_name) || !field.per_graph.keys().any(|g| io_graphs.contains(g)) {
                    continue;
                }
                let field_ty = field.per_graph.values().next().map(|f| f.ty.clone()).unwrap_or_default();
                additions.push((
                    object.clone(),
                    field_name.clone(),
                    field_ty,
                    field.description.clone(),
                    field.access.clone(),
                ));
            }
        }
    }
    for (object, field_name, field_ty, description, access) in additions {
        let Some(ty) = types.get_mut(&object) else { continue };
        ty.field_order.push(field_name.clone());
        let field = MergedField { description, via_interface: Some(field_ty), access, ..Default::default() };
        ty.fields.insert(field_name, field);
    }
}

fn plain_field(ty: String, arguments: Vec<String>) -> FieldInGraph {
    FieldInGraph {
        ty,
        arguments,
        external: false,
        shareable: false,
        key_field: false,
        requires: None,
        provides: None,
        override_from: None,
        override_label: None,
    }
}

fn add_fields(
    merged: &mut MergedType,
    graph: usize,
    fields: &apollo_compiler::collections::IndexMap<apollo_compiler::Name, Component<FieldDefinition>>,
    type_shareable: bool,
    key_fields: &BTreeSet<String>,
    extends: bool,
    type_external: bool,
) {
    for (field_name, field) in fields {
        if field_name.starts_with("_") && (field_name == "_entities" || field_name == "_service") {
            continue;
        }
        let entry = merged.fields.entry(field_name.to_string()).or_default();
        if entry.per_graph.is_empty() {
            merged.field_order.push(field_name.to_string());
        }
        if entry.description.is_none() {
            entry.description = field.description.as_ref().map(|d| d.to_string());
        }
        entry.inaccessible |= field.directives.has("inaccessible");
        entry.tags.extend(tags(&field.directives));
        entry.access.merge(Access::read(field.directives.iter()));
        let d = &field.directives;
        let mut info = plain_field(field.ty.to_string(), print_args(&field.arguments));
        // `@external` on a key field of a type extension (`extend type`, `@extends`) only says the
        // type is owned elsewhere: the subgraph can still give the key.
        let in_extension = extends || matches!(field.origin, apollo_compiler::schema::ComponentOrigin::Extension(_));
        info.external =
            (d.has("external") || type_external) && !(in_extension && key_fields.contains(field_name.as_str()));
        info.shareable = type_shareable || d.has("shareable");
        info.key_field = key_fields.contains(field_name.as_str());
        info.requires = string_arg(d, "requires", "fields");
        info.provides = string_arg(d, "provides", "fields");
        info.override_from = string_arg(d, "override", "from");
        info.override_label = string_arg(d, "override", "label");
        entry.per_graph.insert(graph, info);
    }
}

fn check_shareable(
    types: &BTreeMap<String, MergedType>,
    subgraphs: &[SubgraphSdl],
    errors: &mut Vec<CompositionError>,
) {
    for (type_name, ty) in types {
        if ty.kind != "type" {
            continue;
        }
        for (field_name, field) in &ty.fields {
            let overridden: BTreeSet<String> =
                field.per_graph.values().filter_map(|f| f.override_from.clone()).collect();
            let resolving: Vec<(usize, &FieldInGraph)> = field
                .per_graph
                .iter()
                .filter(|(g, f)| !f.external && !overridden.contains(&subgraphs[**g].name))
                .map(|(g, f)| (*g, f))
                .collect();
            if resolving.len() > 1 && resolving.iter().any(|(_, f)| !f.shareable && !f.key_field) {
                let names: Vec<String> = resolving.iter().map(|(g, _)| format!("\"{}\"", subgraphs[*g].name)).collect();
                let culprit = resolving
                    .iter()
                    .find(|(_, f)| !f.shareable && !f.key_field)
                    .map(|(g, _)| subgraphs[*g].name.clone());
                errors.push(error(format!(
                    "INVALID_FIELD_SHARING: non-shareable field \"{type_name}.{field_name}\" is resolved from subgraphs {} and is not @shareable in subgraph \"{}\"",
                    names.join(" and "),
                    culprit.unwrap_or_default()
                )));
            }
        }
    }
}

/// The supergraph type of a field: the subgraphs' type, or the most nullable of them.
fn supergraph_type(field: &MergedField, kinds: &BTreeMap<String, &'static str>) -> String {
    if let Some(ty) = &field.via_interface {
        return ty.clone();
    }
    let types: BTreeSet<&str> = field.per_graph.values().map(|f| f.ty.as_str()).collect();
    if types.len() == 1 {
        return types.into_iter().next().unwrap_or_default().to_owned();
    }
    let named = |t: &str| t.trim_matches(|c: char| c == '[' || c == ']' || c == '!').to_owned();
    let is_abstract = |t: &str| matches!(kinds.get(&named(t)), Some(&"union" | &"interface"));
    // A subgraph may narrow an abstract type to one of its objects: the supergraph keeps the
    // abstract type; otherwise the most nullable variant.
    let candidates: Vec<&str> = if types.iter().any(|t| is_abstract(t)) {
        types.iter().filter(|t| is_abstract(t)).copied().collect()
    } else {
        types.iter().copied().collect()
    };
    candidates.iter().min_by_key(|t| t.matches('!').count()).map(|t| (*t).to_owned()).unwrap_or_default()
}

fn print(
    subgraphs: &[SubgraphSdl],
    types: &BTreeMap<String, MergedType>,
    roots: &BTreeMap<&'static str, bool>,
    uses_inaccessible: bool,
    uses_tag: bool,
) -> String {
    let graph_ids: Vec<String> = subgraphs.iter().map(|s| graph_enum_name(&s.name)).collect();
    let mut out = String::new();
    out.push_str("schema\n  @link(url: \"https://specs.apollo.dev/link/v1.0\")\n  @link(url: \"https://specs.apollo.dev/join/v0.3\", for: EXECUTION)\n");
    if uses_inaccessible {
        out.push_str("  @link(url: \"https://specs.apollo.dev/inaccessible/v0.2\", for: SECURITY)\n");
    }
    if uses_tag {
        out.push_str("  @link(url: \"https://specs.apollo.dev/tag/v0.3\")\n");
    }
    let uses = |test: fn(&Access) -> bool| {
        types.values().any(|t| test(&t.access) || t.fields.values().any(|f| test(&f.access)))
    };
    let uses_authenticated = uses(|a| a.authenticated);
    let uses_scopes = uses(|a| a.scopes.is_some());
    out.push_str(&access::links(uses_authenticated, uses_scopes));
    out.push_str("{\n");
    for root in ["Query", "Mutation", "Subscription"] {
        if roots.contains_key(root) && types.contains_key(root) {
            let _ = writeln!(out, "  {}: {root}", root.to_ascii_lowercase());
        }
    }
    out.push_str("}\n\n");
    if uses_inaccessible {
        out.push_str("directive @inaccessible on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION\n\n");
    }
    out.push_str(&access::definitions(uses_authenticated, uses_scopes));
    out.push_str(JOIN_DEFINITIONS);
    if uses_tag {
        out.push_str("directive @tag(name: String!) repeatable on FIELD_DEFINITION | OBJECT | INTERFACE | UNION | ARGUMENT_DEFINITION | SCALAR | ENUM | ENUM_VALUE | INPUT_OBJECT | INPUT_FIELD_DEFINITION | SCHEMA\n\n");
    }
    out.push_str("scalar join__FieldSet\n\nenum join__Graph {\n");
    for (subgraph, id) in subgraphs.iter().zip(&graph_ids) {
        let _ = writeln!(out, "  {id} @join__graph(name: \"{}\", url: \"{}\")", subgraph.name, subgraph.url);
    }
    out.push_str("}\n\nscalar link__Import\n\nenum link__Purpose {\n  \"\"\"\n  `SECURITY` features provide metadata necessary to securely resolve fields.\n  \"\"\"\n  SECURITY\n\n  \"\"\"\n  `EXECUTION` features provide metadata necessary for operation execution.\n  \"\"\"\n  EXECUTION\n}\n");
    let kinds: BTreeMap<String, &'static str> = types.iter().map(|(n, t)| (n.clone(), t.kind)).collect();
    for (name, ty) in types {
        out.push('\n');
        print_type(&mut out, name, ty, subgraphs, &graph_ids, &kinds);
    }
    out
}

fn print_common(out: &mut String, inaccessible: bool, tags: &BTreeSet<String>, access: &Access) {
    if inaccessible {
        out.push_str(" @inaccessible");
    }
    for tag in tags {
        let _ = write!(out, " @tag(name: {})", Value::String(tag.clone()));
    }
    access.print(out);
}

fn print_type(
    out: &mut String,
    name: &str,
    ty: &MergedType,
    subgraphs: &[SubgraphSdl],
    graph_ids: &[String],
    kinds: &BTreeMap<String, &'static str>,
) {
    if let Some(description) = &ty.description {
        let _ = writeln!(out, "\"\"\"\n{}\n\"\"\"", escape_block(description));
    }
    let _ = write!(out, "{} {name}", ty.kind);
    if ty.kind == "type" || ty.kind == "interface" {
        let interfaces: BTreeSet<&String> = ty.implements.values().flatten().collect();
        if !interfaces.is_empty() {
            let list: Vec<&str> = interfaces.iter().map(|s| s.as_str()).collect();
            let _ = write!(out, " implements {}", list.join(" & "));
        }
    }
    out.push('\n');
    for (graph, implements) in &ty.implements {
        for interface in implements {
            let _ = writeln!(out, "  @join__implements(graph: {}, interface: \"{interface}\")", graph_ids[*graph]);
        }
    }
    for (graph, (keys, interface_object)) in &ty.graphs {
        let id = &graph_ids[*graph];
        if keys.is_empty() {
            if *interface_object {
                let _ = writeln!(out, "  @join__type(graph: {id}, isInterfaceObject: true)");
            } else {
                let _ = writeln!(out, "  @join__type(graph: {id})");
            }
        }
        for (key, resolvable) in keys {
            let mut args = format!("graph: {id}, key: {}", Value::String(key.clone()));
            if !resolvable {
                args.push_str(", resolvable: false");
            }
            if *interface_object {
                args.push_str(", isInterfaceObject: true");
            }
            let _ = writeln!(out, "  @join__type({args})");
        }
    }
    if ty.kind == "union" {
        for (graph, members) in &ty.members {
            for member in members {
                let _ = writeln!(out, "  @join__unionMember(graph: {}, member: \"{member}\")", graph_ids[*graph]);
            }
        }
    }
    let mut common = String::new();
    print_common(&mut common, ty.inaccessible, &ty.tags, &ty.access);
    if !common.is_empty() {
        let _ = writeln!(out, " {}", common.trim());
    }
    match ty.kind {
        "union" => {
            let members: BTreeSet<&String> = ty.members.values().flatten().collect();
            let list: Vec<&str> = members.iter().map(|s| s.as_str()).collect();
            let _ = writeln!(out, " = {}", list.join(" | "));
        }
        "scalar" => {}
        "enum" => {
            out.push_str("{\n");
            for value in &ty.value_order {
                let graphs = &ty.values[value];
                let _ = write!(out, "  {value}");
                for graph in graphs {
                    let _ = write!(out, " @join__enumValue(graph: {})", graph_ids[*graph]);
                }
                if ty.inaccessible_values.contains(value) {
                    out.push_str(" @inaccessible");
                }
                out.push('\n');
            }
            out.push_str("}\n");
        }
        _ => print_fields(out, ty, subgraphs, graph_ids, kinds),
    }
}

fn print_fields(
    out: &mut String,
    ty: &MergedType,
    subgraphs: &[SubgraphSdl],
    graph_ids: &[String],
    kinds: &BTreeMap<String, &'static str>,
) {
    let type_graphs: BTreeSet<usize> = ty.graphs.keys().copied().collect();
    out.push_str("{\n");
    for field_name in &ty.field_order {
        let field = &ty.fields[field_name];
        // Input objects keep the fields every subgraph that has the type has.
        if ty.kind == "input" && field.per_graph.len() != type_graphs.len() {
            continue;
        }
        if let Some(description) = &field.description {
            let _ = writeln!(out, "  \"\"\"\n  {}\n  \"\"\"", escape_block(description));
        }
        let first = field.per_graph.values().next();
        let arguments = first.map(|f| f.arguments.clone()).unwrap_or_default();
        let _ = write!(out, "  {field_name}");
        if !arguments.is_empty() {
            let _ = write!(out, "({})", arguments.join(", "));
        }
        let supergraph_ty = if ty.kind == "input" {
            first.map(|f| f.ty.clone()).unwrap_or_default()
        } else {
            supergraph_type(field, kinds)
        };
        let _ = write!(out, ": {supergraph_ty}");
        if ty.kind != "input" {
            print_join_fields(out, field, &type_graphs, &supergraph_ty, subgraphs, graph_ids);
        }
        let mut common = String::new();
        print_common(&mut common, field.inaccessible, &field.tags, &field.access);
        out.push_str(&common);
        out.push('\n');
    }
    out.push_str("}\n");
}

fn print_join_fields(
    out: &mut String,
    field: &MergedField,
    type_graphs: &BTreeSet<usize>,
    supergraph_ty: &str,
    subgraphs: &[SubgraphSdl],
    graph_ids: &[String],
) {
    if field.via_interface.is_some() {
        out.push_str(" @join__field");
        return;
    }
    let defined: BTreeSet<usize> = field.per_graph.keys().copied().collect();
    let special = field.per_graph.values().any(|f| {
        f.external || f.requires.is_some() || f.provides.is_some() || f.override_from.is_some() || f.ty != supergraph_ty
    });
    if &defined == type_graphs && !special {
        return;
    }
    let overridden: BTreeSet<&str> = field.per_graph.values().filter_map(|f| f.override_from.as_deref()).collect();
    for (graph, f) in &field.per_graph {
        let mut args = vec![format!("graph: {}", graph_ids[*graph])];
        if let Some(requires) = &f.requires {
            args.push(format!("requires: {}", Value::String(requires.clone())));
        }
        if let Some(provides) = &f.provides {
            args.push(format!("provides: {}", Value::String(provides.clone())));
        }
        if f.ty != supergraph_ty {
            args.push(format!("type: \"{}\"", f.ty));
        }
        if f.external {
            args.push("external: true".into());
        }
        if let Some(from) = &f.override_from {
            args.push(format!("override: {}", Value::String(from.clone())));
            if let Some(label) = &f.override_label {
                args.push(format!("overrideLabel: {}", Value::String(label.clone())));
            }
        }
        if overridden.contains(subgraphs[*graph].name.as_str()) {
            let name = subgraphs[*graph].name.as_str();
            let label = field
                .per_graph
                .values()
                .find(|o| o.override_from.as_deref() == Some(name))
                .and_then(|o| o.override_label.clone());
            if let Some(label) = label {
                // A progressive override: this graph still serves while the label is inactive.
                args.push(format!("overrideLabel: {}", Value::String(label)));
            } else if f.key_field {
                // Overridden here: kept only for keys and requirements.
                args.push("usedOverridden: true".into());
            } else {
                continue;
            }
        }
        let _ = write!(out, " @join__field({})", args.join(", "));
    }
}

const JOIN_DEFINITIONS: &str = "directive @join__enumValue(graph: join__Graph!) repeatable on ENUM_VALUE

directive @join__field(graph: join__Graph, requires: join__FieldSet, provides: join__FieldSet, type: String, external: Boolean, override: String, usedOverridden: Boolean, overrideLabel: String) repeatable on FIELD_DEFINITION | INPUT_FIELD_DEFINITION

directive @join__graph(name: String!, url: String!) on ENUM_VALUE

directive @join__implements(graph: join__Graph!, interface: String!) repeatable on OBJECT | INTERFACE

directive @join__type(graph: join__Graph!, key: join__FieldSet, extension: Boolean! = false, resolvable: Boolean! = true, isInterfaceObject: Boolean! = false) repeatable on OBJECT | INTERFACE | UNION | ENUM | INPUT_OBJECT | SCALAR

directive @join__unionMember(graph: join__Graph!, member: String!) repeatable on UNION

directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA

";
