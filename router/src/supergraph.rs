//! The supergraph: its subgraphs, the join metadata of every type and field, and the API
//! schema clients see (join machinery and `@inaccessible` elements removed).

use std::collections::HashMap;

use apollo_compiler::collections::HashMap as ApolloHashMap;

use apollo_compiler::ast::{Directive, DirectiveLocation, Value};
use apollo_compiler::schema::{ExtendedType, Implementers};
use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Node, Schema};

use crate::fieldset::FieldSet;

/// An index into [`Supergraph::graphs`].
pub type GraphId = usize;

#[derive(Debug, Clone)]
pub struct Graph {
    /// The `join__Graph` enum value, e.g. `IDENTITY`.
    pub id: Name,
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone)]
pub struct Key {
    pub fields: FieldSet,
    pub resolvable: bool,
}

/// A type as one subgraph has it.
#[derive(Debug, Clone, Default)]
pub struct TypeInGraph {
    pub keys: Vec<Key>,
    pub interface_object: bool,
}

/// A field as one subgraph has it (`@join__field`).
#[derive(Debug, Clone, Default)]
pub struct FieldInGraph {
    pub requires: Option<FieldSet>,
    pub provides: Option<FieldSet>,
    pub external: bool,
    /// Present only so that keys and requirements resolve: another graph overrides it.
    pub used_overridden: bool,
    /// This graph takes the field over from another (`override:`).
    pub overrides: bool,
    /// A progressive override (`overrideLabel`, e.g. `percent(25)`): the overriding graph's entry
    /// is in force while the label is active, the original graph's while it is not.
    pub override_label: Option<String>,
    /// The field's named type in this subgraph, when it differs from the supergraph's
    /// (`@join__field(type:)`, e.g. an object where the supergraph has a union).
    pub type_name: Option<Name>,
    /// The field's full type in this subgraph when `@join__field(type:)` gives it, e.g. `ID!`.
    pub type_string: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SupergraphError {
    #[error("the supergraph is not valid GraphQL:\n{0}")]
    Invalid(String),
    #[error("the supergraph has no `join__Graph` enum: is it a Federation v2 supergraph?")]
    NoGraphs,
    #[error("{location}: {message}")]
    Join { location: String, message: String },
    #[error("the API schema derived from the supergraph is invalid:\n{0}")]
    Api(String),
}

pub struct Supergraph {
    pub schema: Valid<Schema>,
    pub api: Valid<Schema>,
    pub api_implementers: ApolloHashMap<Name, Implementers>,
    pub graphs: Vec<Graph>,
    types: HashMap<Name, HashMap<GraphId, TypeInGraph>>,
    /// `(type, field)` → the graphs that declare it. A field without `@join__field` is in every
    /// graph of its type, and is absent here.
    fields: HashMap<(Name, Name), HashMap<GraphId, FieldInGraph>>,
    /// abstract type → graph → its possible object types in that graph.
    possible: HashMap<Name, HashMap<GraphId, Vec<Name>>>,
    /// abstract or object type → its possible object types in the supergraph (computed once:
    /// the response and representation code asks per object).
    all_possible: HashMap<Name, Vec<Name>>,
    labels: Vec<String>,
}

impl std::fmt::Debug for Supergraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supergraph").field("graphs", &self.graphs).finish()
    }
}

fn arg<'a>(directive: &'a Directive, name: &str) -> Option<&'a Value> {
    directive.specified_argument_by_name(name).map(|v| v.as_ref())
}

fn arg_str<'a>(directive: &'a Directive, name: &str) -> Option<&'a str> {
    arg(directive, name).and_then(Value::as_str)
}

fn arg_bool(directive: &Directive, name: &str) -> Option<bool> {
    arg(directive, name).and_then(Value::to_bool)
}

impl Supergraph {
    pub fn parse(sdl: &str) -> Result<Self, SupergraphError> {
        let schema = Schema::parse_and_validate(sdl, "supergraph.graphql")
            .map_err(|e| SupergraphError::Invalid(e.errors.to_string()))?;
        let graphs = read_graphs(&schema)?;
        let graph_index: HashMap<Name, GraphId> = graphs.iter().enumerate().map(|(i, g)| (g.id.clone(), i)).collect();
        let graph_of = |d: &Directive, location: &str| -> Result<GraphId, SupergraphError> {
            let value = arg(d, "graph").and_then(Value::as_enum).ok_or_else(|| SupergraphError::Join {
                location: location.to_owned(),
                message: format!("@{} without a graph", d.name),
            })?;
            graph_index.get(value).copied().ok_or_else(|| SupergraphError::Join {
                location: location.to_owned(),
                message: format!("unknown graph {value}"),
            })
        };
        let mut types: HashMap<Name, HashMap<GraphId, TypeInGraph>> = HashMap::new();
        let mut fields: HashMap<(Name, Name), HashMap<GraphId, FieldInGraph>> = HashMap::new();
        let mut possible: HashMap<Name, HashMap<GraphId, Vec<Name>>> = HashMap::new();
        let mut has_join_implements = false;

        for (type_name, ty) in &schema.types {
            if ty.is_built_in() || is_machinery(type_name) {
                continue;
            }
            let location = type_name.to_string();
            let entry = types.entry(type_name.clone()).or_default();
            for d in ty.directives().get_all("join__type") {
                let graph = graph_of(d, &location)?;
                let in_graph = entry.entry(graph).or_default();
                if let Some(key) = arg_str(d, "key") {
                    let fields = FieldSet::parse(&schema, type_name, key).map_err(|message| SupergraphError::Join {
                        location: location.clone(),
                        message: format!("bad key {key:?}: {message}"),
                    })?;
                    in_graph.keys.push(Key { fields, resolvable: arg_bool(d, "resolvable").unwrap_or(true) });
                }
                in_graph.interface_object |= arg_bool(d, "isInterfaceObject").unwrap_or(false);
            }
            for d in ty.directives().get_all("join__implements") {
                has_join_implements = true;
                let graph = graph_of(d, &location)?;
                if let Some(interface) = arg_str(d, "interface").and_then(|s| Name::new(s).ok()) {
                    possible.entry(interface).or_default().entry(graph).or_default().push(type_name.clone());
                }
            }
            if let ExtendedType::Union(union) = ty {
                let members = ty.directives().get_all("join__unionMember").collect::<Vec<_>>();
                for d in &members {
                    let graph = graph_of(d, &location)?;
                    if let Some(member) = arg_str(d, "member").and_then(|s| Name::new(s).ok()) {
                        possible.entry(type_name.clone()).or_default().entry(graph).or_default().push(member);
                    }
                }
                if members.is_empty() {
                    // join v0.1/v0.2: every member in every graph that has the union.
                    let graphs_of_union: Vec<GraphId> = entry.keys().copied().collect();
                    for graph in graphs_of_union {
                        let list = possible.entry(type_name.clone()).or_default().entry(graph).or_default();
                        list.extend(union.members.iter().map(|m| m.name.clone()));
                    }
                }
            }
            for (field_name, directives) in field_directives(ty) {
                let location = format!("{type_name}.{field_name}");
                for d in directives.iter().filter(|d| d.name == "join__field") {
                    // `@join__field` without a graph: no subgraph resolves the field on this type
                    // directly (an `@interfaceObject` does, through the interface).
                    let entries = fields.entry((type_name.clone(), field_name.clone())).or_default();
                    let Some(_) = arg(d, "graph") else { continue };
                    let _ = entries;
                    let graph = graph_of(d, &location)?;
                    let parse = |name: &str| -> Result<Option<FieldSet>, SupergraphError> {
                        arg_str(d, name)
                            .map(|s| {
                                FieldSet::parse(&schema, &field_type_name(&schema, type_name, &field_name, name), s)
                                    .map_err(|message| SupergraphError::Join {
                                        location: location.clone(),
                                        message: format!("bad {name} {s:?}: {message}"),
                                    })
                            })
                            .transpose()
                    };
                    let field = FieldInGraph {
                        requires: parse("requires")?,
                        provides: parse("provides")?,
                        external: arg_bool(d, "external").unwrap_or(false),
                        used_overridden: arg_bool(d, "usedOverridden").unwrap_or(false),
                        overrides: arg_str(d, "override").is_some(),
                        override_label: arg_str(d, "overrideLabel").map(str::to_owned),
                        type_string: arg_str(d, "type").map(str::to_owned),
                        type_name: arg_str(d, "type")
                            .and_then(|t| Name::new(t.trim_matches(|c: char| c == '[' || c == ']' || c == '!')).ok()),
                    };
                    fields.entry((type_name.clone(), field_name.clone())).or_default().insert(graph, field);
                }
            }
        }
        if !has_join_implements {
            // join v0.1/v0.2: an object implements an interface in every graph that has both.
            for (type_name, ty) in &schema.types {
                let ExtendedType::Object(object) = ty else { continue };
                for interface in &object.implements_interfaces {
                    let graphs_of_object: Vec<GraphId> =
                        types.get(type_name).map(|g| g.keys().copied().collect()).unwrap_or_default();
                    for graph in graphs_of_object {
                        if types.get(&interface.name).is_some_and(|g| g.contains_key(&graph)) {
                            possible
                                .entry(interface.name.clone())
                                .or_default()
                                .entry(graph)
                                .or_default()
                                .push(type_name.clone());
                        }
                    }
                }
            }
        }
        let api = crate::api_schema::derive(&schema)?;
        let api_implementers = api.implementers_map();
        let mut labels: Vec<String> =
            fields.values().flat_map(|g| g.values()).filter_map(|f| f.override_label.clone()).collect();
        labels.sort();
        labels.dedup();
        let implementers = schema.implementers_map();
        let all_possible = schema
            .types
            .iter()
            .map(|(name, ty)| {
                let objects: Vec<Name> = match ty {
                    ExtendedType::Object(o) => vec![o.name.clone()],
                    ExtendedType::Union(u) => u.members.iter().map(|m| m.name.clone()).collect(),
                    ExtendedType::Interface(_) => {
                        implementers.get(name).map(|i| i.objects.iter().cloned().collect()).unwrap_or_default()
                    }
                    _ => Vec::new(),
                };
                (name.clone(), objects)
            })
            .collect();
        Ok(Self { schema, api, api_implementers, graphs, types, fields, possible, all_possible, labels })
    }

    /// Whether `graph` has the type.
    pub fn type_in_graph(&self, ty: &str, graph: GraphId) -> bool {
        self.types.get(ty).is_some_and(|g| g.contains_key(&graph))
    }

    pub fn type_graph(&self, ty: &str, graph: GraphId) -> Option<&TypeInGraph> {
        self.types.get(ty).and_then(|g| g.get(&graph))
    }

    /// The graphs that have the type.
    pub fn graphs_of_type(&self, ty: &str) -> Vec<GraphId> {
        let mut graphs: Vec<GraphId> = self.types.get(ty).map(|g| g.keys().copied().collect()).unwrap_or_default();
        graphs.sort_unstable();
        graphs
    }

    pub fn field_in_graph(&self, ty: &str, field: &str, graph: GraphId) -> Option<&FieldInGraph> {
        let key = (Name::new(ty).ok()?, Name::new(field).ok()?);
        self.fields.get(&key).and_then(|g| g.get(&graph))
    }

    fn field_entries(&self, ty: &str, field: &str) -> Option<&HashMap<GraphId, FieldInGraph>> {
        let key = (Name::new(ty).ok()?, Name::new(field).ok()?);
        self.fields.get(&key)
    }

    /// Whether `graph` can resolve `ty.field` itself (not external, not overridden away), with
    /// no progressive-override label active.
    pub fn can_resolve(&self, ty: &str, field: &str, graph: GraphId) -> bool {
        self.can_resolve_with(ty, field, graph, &Labels::default())
    }

    /// [`can_resolve`](Self::can_resolve) for a request with these active override labels.
    pub fn can_resolve_with(&self, ty: &str, field: &str, graph: GraphId, labels: &Labels) -> bool {
        if field.starts_with("__") {
            return true;
        }
        match self.field_entries(ty, field) {
            Some(entries) => entries.get(&graph).is_some_and(|f| in_force(f, labels)),
            None => self.type_in_graph(ty, graph),
        }
    }

    /// Graphs that can resolve `ty.field`, in a stable order.
    pub fn resolvers_of(&self, ty: &str, field: &str) -> Vec<GraphId> {
        self.resolvers_of_with(ty, field, &Labels::default())
    }

    /// [`resolvers_of`](Self::resolvers_of) for a request with these active override labels.
    pub fn resolvers_of_with(&self, ty: &str, field: &str, labels: &Labels) -> Vec<GraphId> {
        let mut graphs: Vec<GraphId> = match self.field_entries(ty, field) {
            Some(entries) => entries.iter().filter(|(_, f)| in_force(f, labels)).map(|(g, _)| *g).collect(),
            None => self.graphs_of_type(ty),
        };
        graphs.sort_unstable();
        graphs
    }

    /// Every progressive-override label of the supergraph.
    pub fn override_labels(&self) -> &[String] {
        &self.labels
    }

    /// The object types a value of abstract type `ty` may have when it comes from `graph`.
    pub fn possible_types_in(&self, ty: &str, graph: GraphId) -> Vec<Name> {
        if let Some(ExtendedType::Object(_)) = self.schema.types.get(ty) {
            return vec![Name::new(ty).expect("a type name")];
        }
        // Only object types: an interface implementing `ty` contributes through its own objects.
        let mut objects: Vec<Name> = Vec::new();
        for candidate in self.possible.get(ty).and_then(|g| g.get(&graph)).into_iter().flatten() {
            match self.schema.types.get(candidate) {
                Some(ExtendedType::Object(_)) => objects.push(candidate.clone()),
                Some(ExtendedType::Interface(_)) => objects.extend(self.possible_types_in(candidate, graph)),
                _ => {}
            }
        }
        objects.dedup();
        objects
    }

    /// All object types of an abstract type in the supergraph.
    pub fn possible_types(&self, ty: &str) -> Vec<Name> {
        self.possible_types_of(ty).to_vec()
    }

    /// The object types `ty` may be (itself for an object), without allocating.
    pub fn possible_types_of(&self, ty: &str) -> &[Name] {
        self.all_possible.get(ty).map_or(&[], Vec::as_slice)
    }

    /// Whether an object of type `typename` is a `condition` (a fragment on it applies).
    pub fn is_possible(&self, condition: &str, typename: &str) -> bool {
        condition == typename || self.possible_types_of(condition).iter().any(|t| t == typename)
    }

    /// Whether `graph` declares the interface `ty` as an object (`@interfaceObject`).
    pub fn is_interface_object_in(&self, ty: &str, graph: GraphId) -> bool {
        self.type_graph(ty, graph).is_some_and(|t| t.interface_object)
    }

    /// The interfaces an object type implements in the supergraph.
    pub fn interfaces_of(&self, ty: &str) -> Vec<Name> {
        match self.schema.types.get(ty) {
            Some(ExtendedType::Object(o)) => o.implements_interfaces.iter().map(|i| i.name.clone()).collect(),
            _ => Vec::new(),
        }
    }

    pub fn is_abstract(&self, ty: &str) -> bool {
        matches!(self.schema.types.get(ty), Some(ExtendedType::Interface(_) | ExtendedType::Union(_)))
    }

    pub fn is_union(&self, ty: &str) -> bool {
        matches!(self.schema.types.get(ty), Some(ExtendedType::Union(_)))
    }

    /// The supergraph type of `ty.field`'s value (named type).
    pub fn field_type(&self, ty: &str, field: &str) -> Option<Name> {
        let ty = self.schema.types.get(ty)?;
        let definition = match ty {
            ExtendedType::Object(o) => o.fields.get(field),
            ExtendedType::Interface(i) => i.fields.get(field),
            _ => None,
        }?;
        Some(definition.ty.inner_named_type().clone())
    }
}

/// The type a `requires` field set is read on (the parent), or a `provides` one (the field's type).
fn field_type_name(schema: &Schema, ty: &Name, field: &Name, directive_argument: &str) -> Name {
    if directive_argument != "provides" {
        return ty.clone();
    }
    schema.type_field(ty, field).map(|f| f.ty.inner_named_type().clone()).unwrap_or_else(|_| ty.clone())
}

/// The progressive-override labels active for one request.
pub type Labels = std::collections::BTreeSet<String>;

/// Whether a subgraph's `@join__field` entry resolves the field, given the active labels.
fn in_force(f: &FieldInGraph, labels: &Labels) -> bool {
    if f.external {
        return false;
    }
    match &f.override_label {
        None => !f.used_overridden,
        Some(label) if f.overrides => labels.contains(label),
        Some(label) => !labels.contains(label),
    }
}

/// The share of requests a `percent(n)` label is active for; other labels are never active.
pub fn label_percent(label: &str) -> Option<f64> {
    let inner = label.strip_prefix("percent(")?.strip_suffix(')')?;
    inner.trim().parse::<f64>().ok().filter(|p| (0.0..=100.0).contains(p))
}

fn is_machinery(name: &str) -> bool {
    name.starts_with("join__") || name.starts_with("link__") || name.starts_with("core__")
}

fn field_directives(ty: &ExtendedType) -> Vec<(Name, Vec<Node<Directive>>)> {
    let collect = |fields: &apollo_compiler::collections::IndexMap<
        Name,
        apollo_compiler::schema::Component<apollo_compiler::schema::FieldDefinition>,
    >| { fields.iter().map(|(n, f)| (n.clone(), f.directives.iter().cloned().collect())).collect() };
    match ty {
        ExtendedType::Object(o) => collect(&o.fields),
        ExtendedType::Interface(i) => collect(&i.fields),
        _ => Vec::new(),
    }
}

fn read_graphs(schema: &Schema) -> Result<Vec<Graph>, SupergraphError> {
    let Some(ExtendedType::Enum(graphs)) = schema.types.get("join__Graph") else {
        return Err(SupergraphError::NoGraphs);
    };
    graphs
        .values
        .iter()
        .map(|(id, value)| {
            let d = value.directives.get("join__graph").ok_or_else(|| SupergraphError::Join {
                location: format!("join__Graph.{id}"),
                message: "missing @join__graph(name:, url:)".into(),
            })?;
            Ok(Graph {
                id: id.clone(),
                name: arg_str(d, "name").unwrap_or(id.as_str()).to_owned(),
                url: arg_str(d, "url").unwrap_or_default().to_owned(),
            })
        })
        .collect()
}

/// Whether a directive definition belongs to the executable language (kept in the API schema).
pub(crate) fn is_executable_location(location: &DirectiveLocation) -> bool {
    matches!(
        location,
        DirectiveLocation::Query
            | DirectiveLocation::Mutation
            | DirectiveLocation::Subscription
            | DirectiveLocation::Field
            | DirectiveLocation::FragmentDefinition
            | DirectiveLocation::FragmentSpread
            | DirectiveLocation::InlineFragment
            | DirectiveLocation::VariableDefinition
    )
}
