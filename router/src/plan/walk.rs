//! The walk over a selection set in one subgraph: what the subgraph resolves stays in its fetch,
//! the rest is moved to other subgraphs through entity jumps.

use apollo_compiler::Name;
use indexmap::IndexMap;

use super::{At, Draft, PlanError, Planner, typename_field};
use crate::fieldset::FieldSet;
use crate::operation::{Field, Selection};
use crate::supergraph::GraphId;

/// A selection set split by [`Planner::split`].
#[derive(Default)]
struct Split {
    /// What the current subgraph is asked for.
    local: Vec<Selection>,
    /// Fields moved elsewhere, by `(target subgraph, entity type asked for)`.
    remote: IndexMap<(GraphId, Name), Vec<Selection>>,
}

impl Planner<'_> {
    /// Plans `selections` on `at.ty` inside `at.graph`; returns what the subgraph is asked for and
    /// pushes fetches for the rest as children of `draft`.
    pub(super) fn walk(
        &self,
        at: At<'_>,
        selections: &[Selection],
        draft: &mut Draft,
    ) -> Result<Vec<Selection>, PlanError> {
        self.walk_inner(at, selections, draft, false)
    }

    /// `requires_met`: the selections are an entity fetch's own fields, whose `@requires` travel in
    /// its representation.
    pub(super) fn walk_inner(
        &self,
        at: At<'_>,
        selections: &[Selection],
        draft: &mut Draft,
        requires_met: bool,
    ) -> Result<Vec<Selection>, PlanError> {
        let At { graph, ty, .. } = at;
        // An abstract type is planned per object type the subgraph can return; one it knows
        // without any (an interface object, or an interface implemented elsewhere) like an object.
        if self.sg.is_abstract(ty)
            && !self.sg.is_interface_object_in(ty, graph)
            && !self.sg.possible_types_in(ty, graph).is_empty()
        {
            return self.walk_abstract(at, selections, draft);
        }
        let mut split = Split::default();
        self.split(at, selections, requires_met, draft, &mut split)?;
        let Split { mut local, remote } = split;
        if remote.is_empty() {
            return Ok(local);
        }
        local.push(typename_field());
        for ((target, entity), fields) in remote {
            self.entity_jump(at, target, &entity, fields, draft, &mut local)?;
        }
        Ok(local)
    }

    /// Sorts `selections` on `at.ty` into `out`: what `at.graph` resolves (its subtrees walked)
    /// and what moves to other subgraphs.
    fn split(
        &self,
        at: At<'_>,
        selections: &[Selection],
        requires_met: bool,
        draft: &mut Draft,
        out: &mut Split,
    ) -> Result<(), PlanError> {
        let At { graph, ty, .. } = at;
        // An interface this subgraph only knows as an object (`@interfaceObject`): the real type
        // of each object, and fields of the implementations, come from a subgraph that has it.
        let interface_object = self.sg.is_abstract(ty) && self.sg.is_interface_object_in(ty, graph);
        for selection in selections {
            match selection {
                Selection::Field(field) if field.name == "__typename" && interface_object => {
                    let target = self.real_interface_target(graph, ty)?;
                    out.remote.entry(target).or_default().push(selection.clone());
                }
                Selection::Fragment(fragment) if interface_object && &fragment.on != ty => {
                    let target = self.real_interface_target(graph, ty)?;
                    out.remote.entry(target).or_default().push(selection.clone());
                }
                Selection::Field(field) if field.name == "__typename" => out.local.push(selection.clone()),
                Selection::Field(field) => self.split_field(at, field, requires_met, draft, out)?,
                Selection::Fragment(fragment) => {
                    if self.applies(ty, &fragment.on) {
                        self.split(at, &fragment.selections, requires_met, draft, out)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// One field of [`split`](Self::split): resolved here, here through an entity fetch (for its
    /// `@requires`), or moved to another subgraph.
    fn split_field(
        &self,
        at: At<'_>,
        field: &Field,
        requires_met: bool,
        draft: &mut Draft,
        out: &mut Split,
    ) -> Result<(), PlanError> {
        let At { graph, ty, provided, .. } = at;
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
            out.remote.entry((graph, ty.clone())).or_default().push(Selection::Field(field.clone()));
        } else if feasible_here {
            self.keep_field(at, field, provided_here, draft, out)?;
        } else {
            let preferred: Vec<GraphId> = out.remote.keys().map(|(g, _)| *g).collect();
            let target = self.choose_field_target(at, field, &preferred)?;
            out.remote.entry(target).or_default().push(Selection::Field(field.clone()));
        }
        Ok(())
    }

    /// A field resolved in `at.graph` (`provided_here`: the part of it the position provides):
    /// its subtree walked there, except subfields only reachable through the parent entity.
    fn keep_field(
        &self,
        at: At<'_>,
        field: &Field,
        provided_here: Option<&FieldSet>,
        draft: &mut Draft,
        out: &mut Split,
    ) -> Result<(), PlanError> {
        let At { graph, ty, path, .. } = at;
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
        let (kept, through_parent) = self.parent_jumps(at, field, &sub_ty, sub_provided);
        for (target, part) in through_parent {
            out.remote.entry((target, ty.clone())).or_default().push(Selection::Field(part));
        }
        let mut selections = if field.selections.is_empty() {
            Vec::new()
        } else {
            let alternatives = self.alternatives_below(at, field);
            let below = At {
                ty: &sub_ty,
                path: &sub_path,
                provided: sub_provided,
                alternatives: &alternatives,
                ..At::start(graph, &sub_ty, &sub_path)
            };
            self.walk(below, &kept, draft)?
        };
        if narrowed.is_some() && !field.selections.is_empty() {
            selections.push(typename_field());
        }
        out.local.push(Selection::Field(Field { selections, ..field.clone() }));
        Ok(())
    }

    /// The other subgraphs that resolve `field` below `at` as well: those that stood at `at` and
    /// have the field, and, on an entity, those the current subgraph reaches through a key.
    fn alternatives_below(&self, at: At<'_>, field: &Field) -> Vec<GraphId> {
        let At { graph, ty, .. } = at;
        let mut alternatives: Vec<GraphId> =
            at.alternatives.iter().copied().filter(|g| self.can_resolve(ty, &field.name, *g)).collect();
        for other in self.resolvers_of(ty, &field.name) {
            if other != graph && !alternatives.contains(&other) && self.key_at(at, other).is_some() {
                alternatives.push(other);
            }
        }
        alternatives
    }
}
