//! Entity jumps: fields the current subgraph cannot resolve, moved to another through an
//! `_entities` fetch keyed on the objects at the current path.

use apollo_compiler::Name;
use indexmap::IndexMap;

use super::{At, Draft, EntityFetch, PlanError, Planner, err, typename_field};
use crate::fieldset::FieldSet;
use crate::operation::{Field, Selection};
use crate::supergraph::GraphId;

impl Planner<'_> {
    /// Moves `fields` of `at.ty` to `target` (asked for as `entity`) through an `_entities` fetch
    /// after `draft`; what the jump needs from `at.graph` is added to `local`.
    pub(super) fn entity_jump(
        &self,
        at: At<'_>,
        target: GraphId,
        entity: &Name,
        fields: Vec<Selection>,
        draft: &mut Draft,
        local: &mut Vec<Selection>,
    ) -> Result<(), PlanError> {
        let chains = if entity == at.ty {
            // Fields requiring one field with different arguments need different
            // representations: one jump each, side by side (each needs only this fetch's data).
            let mut chains = Vec::new();
            for group in self.requirement_groups(at.ty, target, fields) {
                chains.push(self.jump_chain(at, target, group, local)?);
            }
            chains
        } else {
            vec![vec![self.interface_jump(at, target, entity, fields, local)?]]
        };
        for chain in chains {
            // Fetches that supply `@requires` fields come first; each waits for the one before.
            let nested = chain.into_iter().rev().reduce(|inner, mut outer| {
                outer.after.push(inner);
                outer
            });
            draft.children.extend(nested);
        }
        Ok(())
    }

    /// The fetches that move `fields` from `at` to `target`, in the order they must run: first
    /// those that fetch `@requires` fields `at.graph` cannot give, last the jump itself.
    pub(super) fn jump_chain(
        &self,
        at: At<'_>,
        target: GraphId,
        fields: Vec<Selection>,
        local: &mut Vec<Selection>,
    ) -> Result<Vec<Draft>, PlanError> {
        let At { graph: from, ty, path, provided, known, .. } = at;
        // Fields whose `@requires` ask one field with different arguments need different
        // representations: one jump each, in sequence.
        let groups = self.requirement_groups(ty, target, fields);
        if groups.len() > 1 {
            let mut chain = Vec::new();
            for group in groups {
                chain.extend(self.jump_chain(at, target, group, local)?);
            }
            return Ok(chain);
        }
        let fields = groups.into_iter().next().unwrap_or_default();
        let mut chain = Vec::new();
        let key = if let Some(key) = self.key_for_provided(from, target, ty, provided) {
            local.extend(self.selections_of(ty, &key));
            key
        } else if let Some(key) = self.key_known(target, ty, known) {
            // Already in the data: an earlier fetch put it there.
            key
        } else if let Some((via, key)) = self.key_via(from, target, ty) {
            // Two hops: fetch the target's key from a subgraph `from` can reach first.
            let key_fields = self.selections_of(ty, &key);
            chain.extend(self.jump_chain(at.unprovided(), via, key_fields, local)?);
            key
        } else if let Some(key) = self.key_assembled(from, target, ty, provided) {
            // Assembled: what `from` resolves is selected here, the rest fetched from other
            // subgraphs first (the key walked like a selection set).
            let _guard = self.deeper(ty)?;
            let mut below = Draft::new(from, None);
            local.extend(self.walk(at, &self.selections_of(ty, &key), &mut below)?);
            chain.extend(below.children);
            key
        } else {
            return Err(err(ty.to_string(), "no usable key"));
        };
        let mut representation = key;
        let (required, before) = self.requirements(at, target, &fields, local)?;
        chain.extend(before);
        representation.0.extend(required.0);
        let entity =
            EntityFetch { path: path.to_vec(), entity: ty.clone(), types: self.object_types(ty), representation };
        let known = entity.representation.clone();
        let mut child = Draft::new(target, Some(entity));
        let there = At { known: Some(&known), ..At::start(target, ty, path) };
        child.selections = self.walk_inner(there, &fields, &mut child, true)?;
        chain.push(child);
        Ok(chain)
    }

    /// Splits `field`'s subfields into those `graph` plans itself and those that must be fetched
    /// as `field { subfield }` through an entity jump on the parent type `ty`.
    pub(super) fn parent_jumps(
        &self,
        at: At<'_>,
        field: &Field,
        sub_ty: &Name,
        provided: Option<&FieldSet>,
    ) -> (Vec<Selection>, Vec<(GraphId, Field)>) {
        let At { graph, ty, .. } = at;
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
                    self.resolvers_of(sub_ty, &sub.name).into_iter().find(|g| {
                        *g != graph
                            && self.can_resolve(ty, &field.name, *g)
                            && self.reachable_provided(graph, *g, ty, None, at.known)
                    })
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
}
