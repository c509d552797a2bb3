//! Query planning: which subgraph resolves which part of an operation, and in what order.
//!
//! A plan is a tree of fetches. Root fetches (parallel for queries, in order for mutations)
//! each carry children: `_entities` fetches that run once their parent's data is merged, keyed on
//! the objects found at a path. Fields a subgraph cannot resolve are moved to a subgraph that can,
//! through a key both share; `@requires` fields travel in the representation, `@provides` lets a
//! subgraph resolve external fields below the providing field.

use std::fmt::Write as _;

use apollo_compiler::Name;
use apollo_compiler::ast::OperationType;
use indexmap::IndexMap;

use crate::fieldset::{FieldSet, FieldSetItem};
use crate::operation::{Field, Fragment, Operation, Selection};
use crate::supergraph::{GraphId, Labels, Supergraph};

#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot plan {coordinate}: {reason}")]
pub struct PlanError {
    pub coordinate: String,
    pub reason: String,
}

/// Which objects an entity fetch applies to, and what it sends about each.
#[derive(Debug, Clone)]
pub struct EntityFetch {
    /// Response keys from the root; lists are traversed.
    pub path: Vec<Name>,
    /// The entity type asked for: the objects' own type, or an interface (`@interfaceObject`),
    /// which is then also the `__typename` of the representations.
    pub entity: Name,
    /// The object types (by `__typename`) that take part.
    pub types: Vec<Name>,
    /// The fields of a representation besides `__typename`.
    pub representation: FieldSet,
}

#[derive(Debug, Clone)]
pub struct FetchNode {
    pub graph: GraphId,
    pub entity: Option<EntityFetch>,
    /// The subgraph operation.
    pub operation: String,
    /// Variables of the client operation it uses.
    pub variables: Vec<Name>,
    /// Fetches that need this one's data; they run in parallel once it is merged.
    pub children: Vec<FetchNode>,
    /// Fetches that need this one's data and all its children's: they run after the whole subtree.
    pub after: Vec<FetchNode>,
    /// `(alias, response key)`: fields aliased in the subgraph operation to avoid conflicts,
    /// renamed back in its response.
    pub renames: Vec<(String, String)>,
    /// The client's response keys this fetch fills at its root or on each entity (without
    /// `__typename`): where a failed fetch reports its error.
    pub keys: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// Mutations run root fetches one after another.
    pub sequential: bool,
    pub roots: Vec<FetchNode>,
}

struct Draft {
    graph: GraphId,
    entity: Option<EntityFetch>,
    selections: Vec<Selection>,
    children: Vec<Draft>,
    after: Vec<Draft>,
}

impl Draft {
    fn new(graph: GraphId, entity: Option<EntityFetch>) -> Self {
        Self { graph, entity, selections: Vec::new(), children: Vec::new(), after: Vec::new() }
    }
}

pub fn plan(supergraph: &Supergraph, operation: &Operation) -> Result<Plan, PlanError> {
    plan_with_labels(supergraph, operation, &Labels::default())
}

/// Plans for a request with these progressive-override labels active.
pub fn plan_with_labels(supergraph: &Supergraph, operation: &Operation, labels: &Labels) -> Result<Plan, PlanError> {
    let planner = Planner { sg: supergraph, op: operation, labels };
    planner.plan()
}

struct Planner<'a> {
    sg: &'a Supergraph,
    op: &'a Operation,
    labels: &'a Labels,
}

fn err(coordinate: impl Into<String>, reason: impl Into<String>) -> PlanError {
    PlanError { coordinate: coordinate.into(), reason: reason.into() }
}

fn typename_field() -> Selection {
    Selection::Field(Field {
        alias: None,
        name: Name::new("__typename").expect("valid name"),
        arguments: Vec::new(),
        ty: Name::new("String").expect("valid name"),
        full_ty: apollo_compiler::ast::Type::NonNullNamed(Name::new("String").expect("valid name")),
        selections: Vec::new(),
    })
}

impl Planner<'_> {
    fn can_resolve(&self, ty: &str, field: &str, graph: GraphId) -> bool {
        self.sg.can_resolve_with(ty, field, graph, self.labels)
    }

    fn resolvers_of(&self, ty: &str, field: &str) -> Vec<GraphId> {
        self.sg.resolvers_of_with(ty, field, self.labels)
    }

    fn plan(&self) -> Result<Plan, PlanError> {
        let root = &self.op.root_type;
        let sequential = self.op.kind == OperationType::Mutation;
        let mut fields = Vec::new();
        flatten_root(&self.op.selections, root, &mut fields, self.sg);
        let mut groups: Vec<(GraphId, Vec<Selection>)> = Vec::new();
        for field in fields {
            if field.name.starts_with("__") {
                continue;
            }
            let candidates = self.resolvers_of(root, &field.name);
            if candidates.is_empty() {
                return Err(err(format!("{root}.{}", field.name), "no subgraph resolves it"));
            }
            // The cheapest subgraph for the field's whole subtree; among equals, one already used.
            let costs: Vec<(GraphId, Option<usize>)> =
                candidates.iter().map(|g| (*g, self.cost_of_field(*g, root, &field))).collect();
            let best = costs.iter().filter_map(|(_, c)| *c).min();
            let cheapest: Vec<GraphId> =
                costs.iter().filter(|(_, c)| c.is_some() && *c == best).map(|(g, _)| *g).collect();
            if cheapest.is_empty() && !sequential && candidates.len() > 1 {
                // No subgraph resolves the whole subtree and the type has no key to jump with:
                // ask each subgraph that has the field for the parts it can resolve.
                for (graph, part) in self.split_shared_root(&candidates, &field) {
                    match groups.iter_mut().find(|(g, _)| *g == graph) {
                        Some((_, selections)) => selections.push(Selection::Field(part)),
                        None => groups.push((graph, vec![Selection::Field(part)])),
                    }
                }
                continue;
            }
            let cheapest = if cheapest.is_empty() { candidates.clone() } else { cheapest };
            let existing = if sequential {
                groups.last_mut().filter(|(g, _)| cheapest.contains(g))
            } else {
                groups.iter_mut().find(|(g, _)| cheapest.contains(g))
            };
            match existing {
                Some((_, selections)) => selections.push(Selection::Field(field)),
                None => groups.push((cheapest[0], vec![Selection::Field(field)])),
            }
        }
        let mut roots = Vec::new();
        for (graph, selections) in groups {
            let mut draft = Draft::new(graph, None);
            draft.selections = self.walk(graph, root, &selections, &[], None, &mut draft)?;
            roots.push(self.finish(draft));
        }
        Ok(Plan { sequential, roots })
    }

    /// Plans `selections` on `ty` inside `graph`; returns what `graph` is asked for and pushes
    /// fetches for the rest as children of `draft`.
    fn walk(
        &self,
        graph: GraphId,
        ty: &Name,
        selections: &[Selection],
        path: &[Name],
        provided: Option<&FieldSet>,
        draft: &mut Draft,
    ) -> Result<Vec<Selection>, PlanError> {
        self.walk_inner(graph, ty, selections, path, provided, draft, false)
    }

    /// `requires_met`: the selections are an entity fetch's own fields, whose `@requires` travel in
    /// its representation.
    #[allow(clippy::too_many_arguments)]
    fn walk_inner(
        &self,
        graph: GraphId,
        ty: &Name,
        selections: &[Selection],
        path: &[Name],
        provided: Option<&FieldSet>,
        draft: &mut Draft,
        requires_met: bool,
    ) -> Result<Vec<Selection>, PlanError> {
        // An abstract type is planned per object type the subgraph can return; one it knows
        // without any (an interface object, or an interface implemented elsewhere) like an object.
        if self.sg.is_abstract(ty)
            && !self.sg.is_interface_object_in(ty, graph)
            && !self.sg.possible_types_in(ty, graph).is_empty()
        {
            return self.walk_abstract(graph, ty, selections, path, provided, draft);
        }
        let mut local = Vec::new();
        let mut remote: IndexMap<(GraphId, Name), Vec<Selection>> = IndexMap::new();
        self.split(graph, ty, selections, path, provided, draft, &mut local, &mut remote, requires_met)?;
        if remote.is_empty() {
            return Ok(local);
        }
        local.push(typename_field());
        for ((target, entity), fields) in remote {
            self.entity_jump(graph, target, &entity, ty, fields, path, provided, draft, &mut local)?;
        }
        Ok(local)
    }

    #[allow(clippy::too_many_arguments)]
    fn split(
        &self,
        graph: GraphId,
        ty: &Name,
        selections: &[Selection],
        path: &[Name],
        provided: Option<&FieldSet>,
        draft: &mut Draft,
        local: &mut Vec<Selection>,
        remote: &mut IndexMap<(GraphId, Name), Vec<Selection>>,
        requires_met: bool,
    ) -> Result<(), PlanError> {
        // An interface this subgraph only knows as an object (`@interfaceObject`): the real type
        // of each object, and fields of the implementations, come from a subgraph that has it.
        let interface_object = self.sg.is_abstract(ty) && self.sg.is_interface_object_in(ty, graph);
        for selection in selections {
            match selection {
                Selection::Field(field) if field.name == "__typename" && interface_object => {
                    let target = self.real_interface_target(graph, ty)?;
                    remote.entry(target).or_default().push(selection.clone());
                }
                Selection::Fragment(fragment) if interface_object && &fragment.on != ty => {
                    let target = self.real_interface_target(graph, ty)?;
                    remote.entry(target).or_default().push(selection.clone());
                }
                Selection::Field(field) if field.name == "__typename" => local.push(selection.clone()),
                Selection::Field(field) => {
                    let provided_here = provided.and_then(|p| self.provided_sub(p, ty, &field.name));
                    let here = provided_here.is_some() || self.can_resolve(ty, &field.name, graph);
                    // A field this subgraph has, but whose subtree it cannot reach, is better
                    // taken from a subgraph that can (a shareable field).
                    let feasible_here = here
                        && (provided_here.is_some()
                            || field.selections.is_empty()
                            || self.cost_of_field(graph, ty, field).is_some()
                            || !self.has_feasible_elsewhere(graph, ty, field));
                    let needs_requires = feasible_here
                        && !requires_met
                        && provided_here.is_none()
                        && self.sg.field_in_graph(ty, &field.name, graph).is_some_and(|f| f.requires.is_some())
                        && self.key_for(graph, graph, ty).is_some();
                    if needs_requires {
                        // Resolved here, but only through `_entities` with the required fields.
                        remote.entry((graph, ty.clone())).or_default().push(selection.clone());
                    } else if feasible_here {
                        let own = self.sg.field_in_graph(ty, &field.name, graph).and_then(|f| f.provides.as_ref());
                        let sub_provided = provided_here.or(own);
                        let mut sub_path = path.to_vec();
                        sub_path.push(field.response_key().clone());
                        // The subgraph may type the field more narrowly than the supergraph.
                        let in_graph = self.sg.field_in_graph(ty, &field.name, graph).and_then(|f| f.type_name.clone());
                        let narrowed = in_graph.filter(|t| t != &field.ty);
                        let sub_ty = narrowed.clone().unwrap_or_else(|| field.ty.clone());
                        // Subfields no subgraph can reach from this field's own type (it has no key
                        // there) are fetched through the parent entity instead.
                        let (kept, through_parent) = self.parent_jumps(graph, ty, field, &sub_ty, sub_provided);
                        for (target, part) in through_parent {
                            remote.entry((target, ty.clone())).or_default().push(Selection::Field(part));
                        }
                        let mut selections = if field.selections.is_empty() {
                            Vec::new()
                        } else {
                            self.walk(graph, &sub_ty, &kept, &sub_path, sub_provided, draft)?
                        };
                        if narrowed.is_some() && !field.selections.is_empty() {
                            selections.push(typename_field());
                        }
                        local.push(Selection::Field(Field { selections, ..field.clone() }));
                    } else {
                        let preferred: Vec<GraphId> = remote.keys().map(|(g, _)| *g).collect();
                        let target = self.choose_field_target(graph, ty, field, &preferred, provided)?;
                        remote.entry(target).or_default().push(selection.clone());
                    }
                }
                Selection::Fragment(fragment) => {
                    if self.applies(ty, &fragment.on) {
                        self.split(
                            graph,
                            ty,
                            &fragment.selections,
                            path,
                            provided,
                            draft,
                            local,
                            remote,
                            requires_met,
                        )?;
                    }
                }
            }
        }
        Ok(())
    }

    /// An abstract type: expanded into one fragment per object type `graph` may return.
    fn walk_abstract(
        &self,
        graph: GraphId,
        ty: &Name,
        selections: &[Selection],
        path: &[Name],
        provided: Option<&FieldSet>,
        draft: &mut Draft,
    ) -> Result<Vec<Selection>, PlanError> {
        let mut local = vec![typename_field()];
        for object in self.sg.possible_types_in(ty, graph) {
            let applicable = self.applicable_to(&object, selections);
            if applicable.is_empty() {
                continue;
            }
            let selections = self.walk(graph, &object, &applicable, path, provided, draft)?;
            local.push(Selection::Fragment(Fragment { on: object, selections }));
        }
        Ok(local)
    }

    /// The selections that apply to objects of type `object`, fragments resolved.
    fn applicable_to(&self, object: &Name, selections: &[Selection]) -> Vec<Selection> {
        let mut out = Vec::new();
        for selection in selections {
            match selection {
                Selection::Field(_) => out.push(selection.clone()),
                Selection::Fragment(fragment) if self.applies(object, &fragment.on) => {
                    out.extend(self.applicable_to(object, &fragment.selections));
                }
                Selection::Fragment(_) => {}
            }
        }
        out
    }

    /// Whether a fragment on `condition` applies to an object of type `object`.
    fn applies(&self, object: &Name, condition: &Name) -> bool {
        self.sg.is_possible(condition, object)
    }

    /// Where to resolve `ty.field` from `from`, and as which entity type.
    fn choose_target(
        &self,
        from: GraphId,
        ty: &Name,
        field: &str,
        preferred: impl Iterator<Item = GraphId>,
    ) -> Result<(GraphId, Name), PlanError> {
        self.choose_target_provided(from, ty, field, preferred, None)
    }

    /// [`choose_target`](Self::choose_target) where `provided` is what the current position
    /// `@provides` (its key fields count).
    fn choose_target_provided(
        &self,
        from: GraphId,
        ty: &Name,
        field: &str,
        preferred: impl Iterator<Item = GraphId>,
        provided: Option<&FieldSet>,
    ) -> Result<(GraphId, Name), PlanError> {
        let candidates: Vec<GraphId> = self
            .sg
            .resolvers_of(ty, field)
            .into_iter()
            .filter(|g| *g != from && self.reachable_provided(from, *g, ty, provided))
            .collect();
        let preferred: Vec<GraphId> = preferred.collect();
        if let Some(g) = candidates.iter().find(|g| preferred.contains(g)).or(candidates.first()) {
            return Ok((*g, ty.clone()));
        }
        // A field of an implementation that an `@interfaceObject` subgraph resolves for the interface.
        for interface in self.sg.interfaces_of(ty) {
            for g in self.resolvers_of(&interface, field) {
                if g != from
                    && self.sg.is_interface_object_in(&interface, g)
                    && self.key_for_entity(from, g, &interface, ty).is_some()
                {
                    return Ok((g, interface));
                }
            }
        }
        // Fields of an interface-object type that only the subgraphs with the real interface have.
        if self.sg.is_interface_object_in(ty, from)
            && let Ok(target) = self.real_interface_target(from, ty)
            && self.can_resolve(ty, field, target.0)
        {
            return Ok(target);
        }
        Err(err(format!("{ty}.{field}"), "no subgraph both resolves it and shares a key with its parent"))
    }

    /// Like [`choose_target`](Self::choose_target), but among several subgraphs prefers the one
    /// that can resolve the field's whole subtree (or gets stuck on the fewest subfields).
    fn choose_field_target(
        &self,
        from: GraphId,
        ty: &Name,
        field: &Field,
        preferred: &[GraphId],
        provided: Option<&FieldSet>,
    ) -> Result<(GraphId, Name), PlanError> {
        let first = self.choose_target_provided(from, ty, &field.name, preferred.iter().copied(), provided)?;
        if field.selections.is_empty() || first.1 != *ty {
            return Ok(first);
        }
        let candidates: Vec<GraphId> = self
            .sg
            .resolvers_of(ty, &field.name)
            .into_iter()
            .filter(|g| *g != from && self.reachable_provided(from, *g, ty, provided))
            .collect();
        let rank = |g: &GraphId| {
            let cost = self.cost_of_field(*g, ty, field);
            let stuck = field
                .selections
                .iter()
                .filter(|s| match s {
                    Selection::Field(sub) => {
                        !sub.name.starts_with("__")
                            && !self.can_resolve(&field.ty, &sub.name, *g)
                            && self.choose_target(*g, &field.ty, &sub.name, std::iter::empty()).is_err()
                    }
                    Selection::Fragment(_) => false,
                })
                .count();
            (cost.is_none(), stuck, cost.unwrap_or(usize::MAX), !preferred.contains(g))
        };
        Ok(candidates.iter().min_by_key(|g| rank(g)).map(|g| (*g, ty.clone())).unwrap_or(first))
    }

    /// A subgraph that has `interface` as a real interface with a key `from` can give.
    fn real_interface_target(&self, from: GraphId, interface: &Name) -> Result<(GraphId, Name), PlanError> {
        self.sg
            .graphs_of_type(interface)
            .into_iter()
            .find(|g| {
                *g != from
                    && !self.sg.is_interface_object_in(interface, *g)
                    && self.key_for(from, *g, interface).is_some()
            })
            .map(|g| (g, interface.clone()))
            .ok_or_else(|| {
                err(interface.to_string(), "no subgraph has the interface with a key to resolve its objects")
            })
    }

    /// A resolvable key of `ty` in `to` whose fields `from` can provide.
    fn key_for(&self, from: GraphId, to: GraphId, ty: &Name) -> Option<FieldSet> {
        self.key_for_entity(from, to, ty, ty)
    }

    /// [`key_for`](Self::key_for), also accepting key fields `from` does not own but that the
    /// current position `@provides`.
    fn key_for_provided(&self, from: GraphId, to: GraphId, ty: &Name, provided: Option<&FieldSet>) -> Option<FieldSet> {
        let Some(provided) = provided else { return self.key_for(from, to, ty) };
        let keys = &self.sg.type_graph(ty, to)?.keys;
        keys.iter()
            .filter(|k| k.resolvable)
            .find(|k| self.provided_set(from, ty, &k.fields, Some(provided)))
            .map(|k| k.fields.clone())
    }

    fn provided_set(&self, graph: GraphId, ty: &Name, set: &FieldSet, provided: Option<&FieldSet>) -> bool {
        set.0.iter().all(|item| match item {
            FieldSetItem::Field { name, sub, .. } => {
                let here = provided.and_then(|p| self.provided_sub(p, ty, name));
                (here.is_some() || self.can_resolve(ty, name, graph))
                    && (sub.0.is_empty()
                        || self
                            .sg
                            .field_type(ty, name)
                            .is_some_and(|inner| self.provided_set(graph, &inner, sub, here)))
            }
            FieldSetItem::Fragment { on, sub } => {
                Name::new(on).ok().is_some_and(|on| self.provided_set(graph, &on, sub, provided))
            }
        })
    }

    /// A resolvable key of `entity` in `to` whose fields `from` can provide for objects of `ty`.
    fn key_for_entity(&self, from: GraphId, to: GraphId, entity: &Name, ty: &Name) -> Option<FieldSet> {
        let keys = &self.sg.type_graph(entity, to)?.keys;
        keys.iter()
            .filter(|k| k.resolvable)
            .find(|k| self.resolvable_set(from, ty, &k.fields))
            .map(|k| k.fields.clone())
    }

    fn resolvable_set(&self, graph: GraphId, ty: &Name, set: &FieldSet) -> bool {
        set.0.iter().all(|item| match item {
            FieldSetItem::Field { name, sub, .. } => {
                self.can_resolve(ty, name, graph)
                    && (sub.0.is_empty()
                        || self.sg.field_type(ty, name).is_some_and(|inner| self.resolvable_set(graph, &inner, sub)))
            }
            FieldSetItem::Fragment { on, sub } => {
                Name::new(on).ok().is_some_and(|on| self.resolvable_set(graph, &on, sub))
            }
        })
    }

    /// Moves `fields` of `ty` to `target` through an `_entities` fetch after `draft`.
    #[allow(clippy::too_many_arguments)]
    fn entity_jump(
        &self,
        from: GraphId,
        target: GraphId,
        entity: &Name,
        ty: &Name,
        fields: Vec<Selection>,
        path: &[Name],
        provided: Option<&FieldSet>,
        draft: &mut Draft,
        local: &mut Vec<Selection>,
    ) -> Result<(), PlanError> {
        let chain = if entity == ty {
            self.jump_chain(from, target, ty, fields, path, provided, local)?
        } else {
            vec![self.interface_jump(from, target, entity, ty, fields, path, local)?]
        };
        // Fetches that supply `@requires` fields come first; each waits for the one before.
        let nested = chain.into_iter().rev().reduce(|inner, mut outer| {
            outer.after.push(inner);
            outer
        });
        draft.children.extend(nested);
        Ok(())
    }

    /// The fetches that move `fields` to `target`, in the order they must run: first those that
    /// fetch `@requires` fields `from` cannot give, last the jump itself.
    #[allow(clippy::too_many_arguments)]
    fn jump_chain(
        &self,
        from: GraphId,
        target: GraphId,
        ty: &Name,
        fields: Vec<Selection>,
        path: &[Name],
        provided: Option<&FieldSet>,
        local: &mut Vec<Selection>,
    ) -> Result<Vec<Draft>, PlanError> {
        // Fields whose `@requires` ask one field with different arguments need different
        // representations: one jump each, in sequence.
        let groups = self.requirement_groups(ty, target, fields);
        if groups.len() > 1 {
            let mut chain = Vec::new();
            for group in groups {
                chain.extend(self.jump_chain(from, target, ty, group, path, provided, local)?);
            }
            return Ok(chain);
        }
        let fields = groups.into_iter().next().unwrap_or_default();
        let mut chain = Vec::new();
        let key = match self.key_for_provided(from, target, ty, provided) {
            Some(key) => {
                local.extend(self.selections_of(ty, &key));
                key
            }
            None => {
                // Two hops: fetch the target's key from a subgraph `from` can reach first.
                let (via, key) = self.key_via(from, target, ty).ok_or_else(|| err(ty.to_string(), "no usable key"))?;
                let key_fields = self.selections_of(ty, &key);
                chain.extend(self.jump_chain(from, via, ty, key_fields, path, None, local)?);
                key
            }
        };
        let mut representation = key;
        let mut prerequisites: IndexMap<(GraphId, Name), Vec<Selection>> = IndexMap::new();
        for selection in &fields {
            let Selection::Field(field) = selection else { continue };
            let Some(requires) = self.sg.field_in_graph(ty, &field.name, target).and_then(|f| f.requires.clone())
            else {
                continue;
            };
            // Required fields with arguments travel under an alias naming the arguments, so
            // that requirements of one field with other arguments do not collide.
            let requires = aliased_requirements(requires);
            for required in self.selections_of(ty, &requires) {
                let Selection::Field(required_field) = &required else { continue };
                if self.can_resolve(ty, &required_field.name, from) {
                    let mut sub_path = path.to_vec();
                    sub_path.push(required_field.response_key().clone());
                    // Fetches below a required field must finish before the jump: collect them
                    // apart and put them first in the chain.
                    let mut below = Draft::new(from, None);
                    let selections = if required_field.selections.is_empty() {
                        Vec::new()
                    } else {
                        self.walk(from, &required_field.ty, &required_field.selections, &sub_path, None, &mut below)?
                    };
                    chain.extend(below.children);
                    local.push(Selection::Field(Field { selections, ..required_field.clone() }));
                } else {
                    let preferred: Vec<GraphId> = prerequisites.keys().map(|(g, _)| *g).collect();
                    let via = self.choose_target(from, ty, &required_field.name, preferred.into_iter())?;
                    prerequisites.entry(via).or_default().push(required.clone());
                }
            }
            representation.0.extend(requires.0);
        }
        for ((via, _), required) in prerequisites {
            chain.extend(self.jump_chain(from, via, ty, required, path, None, local)?);
        }
        let entity =
            EntityFetch { path: path.to_vec(), entity: ty.clone(), types: self.object_types(ty), representation };
        let mut child = Draft::new(target, Some(entity));
        child.selections = self.walk_inner(target, ty, &fields, path, None, &mut child, true)?;
        chain.push(child);
        Ok(chain)
    }

    /// `fields` split so that no two in a group require one field with different arguments.
    fn requirement_groups(&self, ty: &Name, target: GraphId, fields: Vec<Selection>) -> Vec<Vec<Selection>> {
        // Per group: the (field, arguments) its members require, and the members.
        type Group = (Vec<(String, String)>, Vec<Selection>);
        let mut groups: Vec<Group> = Vec::new();
        for selection in fields {
            let needs: Vec<(String, String)> = match &selection {
                Selection::Field(field) => self
                    .sg
                    .field_in_graph(ty, &field.name, target)
                    .and_then(|f| f.requires.as_ref())
                    .map(|r| {
                        r.0.iter()
                            .filter_map(|item| match item {
                                FieldSetItem::Field { name, arguments, .. } if !arguments.is_empty() => {
                                    Some((name.clone(), arguments_key(arguments)))
                                }
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                Selection::Fragment(_) => Vec::new(),
            };
            let fits =
                |have: &[(String, String)]| needs.iter().all(|(n, a)| have.iter().all(|(hn, ha)| hn != n || ha == a));
            match groups.iter_mut().find(|(have, _)| fits(have)) {
                Some((have, members)) => {
                    have.extend(needs);
                    members.push(selection);
                }
                None => groups.push((needs, vec![selection])),
            }
        }
        groups.into_iter().map(|(_, members)| members).collect()
    }

    /// A jump to `target` asking for the objects as the interface `entity`
    /// (`@interfaceObject`, either direction).
    #[allow(clippy::too_many_arguments)]
    fn interface_jump(
        &self,
        from: GraphId,
        target: GraphId,
        entity: &Name,
        ty: &Name,
        fields: Vec<Selection>,
        path: &[Name],
        local: &mut Vec<Selection>,
    ) -> Result<Draft, PlanError> {
        let key =
            self.key_for_entity(from, target, entity, ty).ok_or_else(|| err(entity.to_string(), "no usable key"))?;
        local.extend(self.selections_of(ty, &key));
        let mut representation = key;
        // `@requires` of an interface object's fields, given by `from` for the objects.
        for selection in &fields {
            let Selection::Field(field) = selection else { continue };
            let requires = self.sg.field_in_graph(entity, &field.name, target).and_then(|f| f.requires.clone());
            let Some(requires) = requires.filter(|r| self.resolvable_set(from, ty, r)) else { continue };
            local.extend(self.selections_of(ty, &requires));
            representation.0.extend(requires.0);
        }
        let fetch = EntityFetch {
            path: path.to_vec(),
            entity: entity.clone(),
            types: self.object_types(entity),
            representation,
        };
        let mut child = Draft::new(target, Some(fetch));
        child.selections = self.walk_inner(target, entity, &fields, path, None, &mut child, true)?;
        Ok(child)
    }

    /// The `__typename`s an entity fetch for `entity` applies to.
    fn object_types(&self, entity: &Name) -> Vec<Name> {
        let mut types = vec![entity.clone()];
        if self.sg.is_abstract(entity) {
            types.extend(self.sg.possible_types(entity));
        }
        types
    }

    /// Splits `field`'s subfields into those `graph` plans itself and those that must be fetched
    /// as `field { subfield }` through an entity jump on the parent type `ty`.
    fn parent_jumps(
        &self,
        graph: GraphId,
        ty: &Name,
        field: &Field,
        sub_ty: &Name,
        provided: Option<&FieldSet>,
    ) -> (Vec<Selection>, Vec<(GraphId, Field)>) {
        if field.selections.is_empty() || self.sg.is_abstract(sub_ty) || provided.is_some() {
            return (field.selections.clone(), Vec::new());
        }
        let mut kept = Vec::new();
        let mut moved: IndexMap<GraphId, Vec<Selection>> = IndexMap::new();
        for selection in &field.selections {
            let Selection::Field(sub) = selection else {
                kept.push(selection.clone());
                continue;
            };
            let stuck = !sub.name.starts_with("__")
                && !self.can_resolve(sub_ty, &sub.name, graph)
                && self.choose_target(graph, sub_ty, &sub.name, std::iter::empty()).is_err();
            let via = stuck
                .then(|| {
                    self.resolvers_of(sub_ty, &sub.name)
                        .into_iter()
                        .find(|g| *g != graph && self.can_resolve(ty, &field.name, *g) && self.reachable(graph, *g, ty))
                })
                .flatten();
            match via {
                Some(target) => moved.entry(target).or_default().push(selection.clone()),
                None => kept.push(selection.clone()),
            }
        }
        if kept.is_empty() {
            kept.push(typename_field());
        }
        let moved = moved.into_iter().map(|(g, selections)| (g, Field { selections, ..field.clone() })).collect();
        (kept, moved)
    }

    /// Splits a shared root field's subfields among the subgraphs that have the field.
    fn split_shared_root(&self, candidates: &[GraphId], field: &Field) -> Vec<(GraphId, Field)> {
        let mut parts: IndexMap<GraphId, Vec<Selection>> = IndexMap::new();
        for selection in &field.selections {
            let single = std::slice::from_ref(selection);
            let graph = candidates
                .iter()
                .copied()
                .find(|g| self.cost(*g, &field.ty, single, None, 0).is_some())
                .unwrap_or(candidates[0]);
            parts.entry(graph).or_default().push(selection.clone());
        }
        parts.into_iter().map(|(graph, selections)| (graph, Field { selections, ..field.clone() })).collect()
    }

    /// Whether `from` can hand objects of `ty` to `to`, directly or through one other subgraph.
    fn reachable(&self, from: GraphId, to: GraphId, ty: &Name) -> bool {
        self.key_for(from, to, ty).is_some() || self.key_via(from, to, ty).is_some()
    }

    /// [`reachable`](Self::reachable), counting key fields provided at the current position.
    fn reachable_provided(&self, from: GraphId, to: GraphId, ty: &Name, provided: Option<&FieldSet>) -> bool {
        self.key_for_provided(from, to, ty, provided).is_some() || self.key_via(from, to, ty).is_some()
    }

    /// A subgraph `via` reachable from `from` that can give a resolvable key of `ty` in `to`.
    fn key_via(&self, from: GraphId, to: GraphId, ty: &Name) -> Option<(GraphId, FieldSet)> {
        let keys = &self.sg.type_graph(ty, to)?.keys;
        for key in keys.iter().filter(|k| k.resolvable) {
            for via in self.sg.graphs_of_type(ty) {
                if via != from
                    && via != to
                    && self.key_for(from, via, ty).is_some()
                    && self.resolvable_set(via, ty, &key.fields)
                {
                    return Some((via, key.fields.clone()));
                }
            }
        }
        None
    }

    /// How many entity fetches resolving `field` (on `ty`) in `graph` takes; `None` if it cannot.
    fn cost_of_field(&self, graph: GraphId, ty: &Name, field: &Field) -> Option<usize> {
        if field.selections.is_empty() {
            return Some(0);
        }
        let provides = self.sg.field_in_graph(ty, &field.name, graph).and_then(|f| f.provides.as_ref());
        self.cost(graph, &field.ty, &field.selections, provides, 0)
    }

    fn has_feasible_elsewhere(&self, graph: GraphId, ty: &Name, field: &Field) -> bool {
        self.sg
            .resolvers_of(ty, &field.name)
            .into_iter()
            .any(|g| g != graph && self.reachable(graph, g, ty) && self.cost_of_field(g, ty, field).is_some())
    }

    /// Entity fetches needed to resolve `selections` on `ty` from `graph`; `None` if impossible.
    fn cost(
        &self,
        graph: GraphId,
        ty: &Name,
        selections: &[Selection],
        provided: Option<&FieldSet>,
        depth: usize,
    ) -> Option<usize> {
        if depth > 32 {
            return None;
        }
        let objects = if self.sg.is_abstract(ty) { self.sg.possible_types_in(ty, graph) } else { vec![ty.clone()] };
        let mut total = 0;
        for object in &objects {
            let mut jumps: Vec<GraphId> = Vec::new();
            for selection in self.applicable_to(object, selections) {
                let Selection::Field(field) = selection else { continue };
                if field.name.starts_with("__") {
                    continue;
                }
                let provided_here = provided.and_then(|p| self.provided_sub(p, object, &field.name));
                if provided_here.is_some() || self.can_resolve(object, &field.name, graph) {
                    if !field.selections.is_empty() {
                        let own = self.sg.field_in_graph(object, &field.name, graph).and_then(|f| f.provides.as_ref());
                        total += self.cost(graph, &field.ty, &field.selections, provided_here.or(own), depth + 1)?;
                    }
                    continue;
                }
                let (target, _) =
                    self.choose_target_provided(graph, object, &field.name, std::iter::empty(), provided).ok()?;
                if !jumps.contains(&target) {
                    jumps.push(target);
                }
                if !field.selections.is_empty() {
                    total += self.cost(target, &field.ty, &field.selections, None, depth + 1)?;
                }
            }
            total += jumps.len();
        }
        Some(total)
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
        let mut seen: std::collections::HashMap<String, (Option<usize>, String)> = std::collections::HashMap::new();
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

    /// The sub-field-set `provides` lists for `ty.field`, if it lists it (fragments count only
    /// when they apply to `ty`).
    fn provided_sub<'a>(&self, provides: &'a FieldSet, ty: &Name, field: &str) -> Option<&'a FieldSet> {
        provides.0.iter().find_map(|item| match item {
            FieldSetItem::Field { name, sub, .. } if name == field => Some(sub),
            FieldSetItem::Fragment { on, sub } => {
                Name::new(on).ok().filter(|on| self.applies(ty, on)).and_then(|_| self.provided_sub(sub, ty, field))
            }
            _ => None,
        })
    }

    /// Turns a field set on `ty` into selections (types from the supergraph).
    fn selections_of(&self, ty: &Name, set: &FieldSet) -> Vec<Selection> {
        set.0
            .iter()
            .filter_map(|item| match item {
                FieldSetItem::Field { name, arguments, sub, source } => {
                    let definition = self.sg.schema.type_field(ty, name).ok()?;
                    let inner = definition.ty.inner_named_type().clone();
                    Some(Selection::Field(Field {
                        alias: source.as_ref().and_then(|s| Name::new(s).ok()),
                        name: definition.name.clone(),
                        arguments: arguments.clone(),
                        ty: inner.clone(),
                        full_ty: definition.ty.clone(),
                        selections: self.selections_of(&inner, sub),
                    }))
                }
                FieldSetItem::Fragment { on, sub } => {
                    let on = Name::new(on).ok()?;
                    Some(Selection::Fragment(Fragment { selections: self.selections_of(&on, sub), on }))
                }
            })
            .collect()
    }

    fn finish(&self, mut draft: Draft) -> FetchNode {
        let mut renames = Vec::new();
        let root_type = match &draft.entity {
            Some(entity) => entity.entity.clone(),
            None => self.op.root_type.clone(),
        };
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
        let children = draft.children.into_iter().map(|c| self.finish(c)).collect();
        let after = draft.after.into_iter().map(|c| self.finish(c)).collect();
        FetchNode { graph: draft.graph, entity: draft.entity, operation, variables, children, after, renames, keys }
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

fn flatten_root(selections: &[Selection], root: &Name, out: &mut Vec<Field>, sg: &Supergraph) {
    for selection in selections {
        match selection {
            Selection::Field(field) => out.push(field.clone()),
            Selection::Fragment(fragment) if &fragment.on == root || sg.is_possible(&fragment.on, root) => {
                flatten_root(&fragment.selections, root, out, sg);
            }
            Selection::Fragment(_) => {}
        }
    }
}

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

fn collect_value_variables(value: &apollo_compiler::ast::Value, out: &mut Vec<Name>) {
    use apollo_compiler::ast::Value;
    match value {
        Value::Variable(name) if !out.contains(name) => out.push(name.clone()),
        Value::List(items) => items.iter().for_each(|v| collect_value_variables(v, out)),
        Value::Object(fields) => fields.iter().for_each(|(_, v)| collect_value_variables(v, out)),
        _ => {}
    }
}

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

/// A stable text for a field's arguments (what distinguishes two requirements of one field).
fn arguments_key(arguments: &[apollo_compiler::Node<apollo_compiler::ast::Argument>]) -> String {
    arguments.iter().map(|a| format!("{}:{}", a.name, a.value)).collect::<Vec<_>>().join(",")
}

/// The requirement with each top-level field that has arguments read from (and fetched under) an
/// alias derived from them.
fn aliased_requirements(requires: FieldSet) -> FieldSet {
    FieldSet(
        requires
            .0
            .into_iter()
            .map(|item| match item {
                FieldSetItem::Field { name, arguments, sub, source: None } if !arguments.is_empty() => {
                    let digest = arguments_key(&arguments)
                        .bytes()
                        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
                    let source = Some(format!("_req_{name}_{digest:016x}"));
                    FieldSetItem::Field { name, arguments, sub, source }
                }
                other => other,
            })
            .collect(),
    )
}
