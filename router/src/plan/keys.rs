//! Keys: whether one subgraph can hand objects to another (a resolvable key of the target whose
//! fields it can give), directly or through a third subgraph.

use apollo_compiler::Name;

use super::Planner;
use crate::fieldset::{FieldSet, FieldSetItem};
use crate::operation::{Field, Fragment, Selection};
use crate::supergraph::GraphId;

impl Planner<'_> {
    /// A resolvable key of `ty` in `to` whose fields `from` can provide.
    pub(super) fn key_for(&self, from: GraphId, to: GraphId, ty: &Name) -> Option<FieldSet> {
        self.key_for_entity(from, to, ty, ty)
    }

    /// [`key_for`](Self::key_for), also accepting key fields `from` does not own but that the
    /// current position `@provides`.
    pub(super) fn key_for_provided(
        &self,
        from: GraphId,
        to: GraphId,
        ty: &Name,
        provided: Option<&FieldSet>,
    ) -> Option<FieldSet> {
        let Some(provided) = provided else { return self.key_for(from, to, ty) };
        let keys = &self.sg.type_graph(ty, to)?.keys;
        keys.iter()
            .filter(|k| k.resolvable)
            .find(|k| self.provided_set(from, ty, &k.fields, Some(provided)))
            .map(|k| k.fields.clone())
    }

    /// A resolvable key of `entity` in `to` whose fields `from` can provide for objects of `ty`.
    pub(super) fn key_for_entity(&self, from: GraphId, to: GraphId, entity: &Name, ty: &Name) -> Option<FieldSet> {
        let keys = &self.sg.type_graph(entity, to)?.keys;
        keys.iter()
            .filter(|k| k.resolvable)
            .find(|k| self.resolvable_set(from, ty, &k.fields))
            .map(|k| k.fields.clone())
    }

    /// Whether `graph` resolves every field of `set` on `ty`.
    pub(super) fn resolvable_set(&self, graph: GraphId, ty: &Name, set: &FieldSet) -> bool {
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

    /// Whether `from` can hand objects of `ty` to `to`, directly or through one other subgraph.
    pub(super) fn reachable(&self, from: GraphId, to: GraphId, ty: &Name) -> bool {
        self.key_for(from, to, ty).is_some() || self.key_via(from, to, ty).is_some()
    }

    /// [`reachable`](Self::reachable), counting key fields provided at the current position.
    pub(super) fn reachable_provided(
        &self,
        from: GraphId,
        to: GraphId,
        ty: &Name,
        provided: Option<&FieldSet>,
    ) -> bool {
        self.key_for_provided(from, to, ty, provided).is_some() || self.key_via(from, to, ty).is_some()
    }

    /// A subgraph `via` reachable from `from` that can give a resolvable key of `ty` in `to`.
    pub(super) fn key_via(&self, from: GraphId, to: GraphId, ty: &Name) -> Option<(GraphId, FieldSet)> {
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

    /// Turns a field set on `ty` (a key, a requirement) into selections (types from the
    /// supergraph).
    pub(super) fn selections_of(&self, ty: &Name, set: &FieldSet) -> Vec<Selection> {
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
}
