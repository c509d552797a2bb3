//! Choosing a subgraph for a field the current one cannot resolve, and the cost of a subtree
//! (how many entity fetches resolving it from a subgraph takes).

use apollo_compiler::Name;

use super::{At, PlanError, Planner, err};
use crate::fieldset::FieldSet;
use crate::operation::{Field, Selection};
use crate::supergraph::GraphId;

impl Planner<'_> {
    /// Where to resolve `ty.field` from `from`, and as which entity type.
    pub(super) fn choose_target(
        &self,
        from: GraphId,
        ty: &Name,
        field: &str,
        preferred: impl Iterator<Item = GraphId>,
    ) -> Result<(GraphId, Name), PlanError> {
        self.choose_target_provided(from, ty, field, preferred, None, None)
    }

    /// [`choose_target`](Self::choose_target) where `provided` is what the current position
    /// `@provides` and `known` what is already in the data there (their key fields count).
    fn choose_target_provided(
        &self,
        from: GraphId,
        ty: &Name,
        field: &str,
        preferred: impl Iterator<Item = GraphId>,
        provided: Option<&FieldSet>,
        known: Option<&FieldSet>,
    ) -> Result<(GraphId, Name), PlanError> {
        let candidates = self.candidates(from, ty, field, provided, known);
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

    /// The subgraphs other than `from` that resolve `ty.field` and that `from` can reach: those
    /// it hands a key to directly first, then those whose key takes other fetches first.
    fn candidates(
        &self,
        from: GraphId,
        ty: &Name,
        field: &str,
        provided: Option<&FieldSet>,
        known: Option<&FieldSet>,
    ) -> Vec<GraphId> {
        let mut candidates: Vec<(bool, GraphId)> = self
            .resolvers_of(ty, field)
            .into_iter()
            .filter(|g| *g != from && self.reachable_provided(from, *g, ty, provided, known))
            .map(|g| {
                let direct =
                    self.key_for_provided(from, g, ty, provided).is_some() || self.key_known(g, ty, known).is_some();
                (!direct, g)
            })
            .collect();
        // Stable: among equals, the supergraph's order.
        candidates.sort_by_key(|(indirect, _)| *indirect);
        candidates.into_iter().map(|(_, g)| g).collect()
    }

    /// Like [`choose_target`](Self::choose_target), but among several subgraphs prefers the one
    /// that can resolve the field's whole subtree (or gets stuck on the fewest subfields).
    pub(super) fn choose_field_target(
        &self,
        at: At<'_>,
        field: &Field,
        preferred: &[GraphId],
    ) -> Result<(GraphId, Name), PlanError> {
        let At { graph: from, ty, provided, known, .. } = at;
        let first = self.choose_target_provided(from, ty, &field.name, preferred.iter().copied(), provided, known)?;
        if field.selections.is_empty() || first.1 != *ty {
            return Ok(first);
        }
        let candidates = self.candidates(from, ty, &field.name, provided, known);
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

    /// How many entity fetches resolving `field` (on `ty`) in `graph` takes; `None` if it cannot.
    pub(super) fn cost_of_field(&self, graph: GraphId, ty: &Name, field: &Field) -> Option<usize> {
        if field.selections.is_empty() {
            return Some(0);
        }
        let provides = self.sg.field_in_graph(ty, &field.name, graph).and_then(|f| f.provides.as_ref());
        self.cost(graph, &field.ty, &field.selections, provides, 0)
    }

    /// Whether a subgraph other than `graph`, reachable from it, can resolve `field`'s subtree.
    pub(super) fn has_feasible_elsewhere(&self, graph: GraphId, ty: &Name, field: &Field) -> bool {
        self.resolvers_of(ty, &field.name)
            .into_iter()
            .any(|g| g != graph && self.reachable(graph, g, ty) && self.cost_of_field(g, ty, field).is_some())
    }

    /// Entity fetches needed to resolve `selections` on `ty` from `graph`; `None` if impossible.
    pub(super) fn cost(
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
                    self.choose_target_provided(graph, object, &field.name, std::iter::empty(), provided, None).ok()?;
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
}
