//! Keys: whether one subgraph can hand objects to another (a resolvable key of the target whose
//! fields it can give), directly or through a third subgraph.

use apollo_compiler::Name;

use super::{At, Planner};
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
        self.key_where(ty, to, |key| self.provided_set(from, ty, key, Some(provided)))
    }

    /// The first resolvable key of `entity` in `to` that `fits`.
    fn key_where(&self, entity: &Name, to: GraphId, fits: impl Fn(&FieldSet) -> bool) -> Option<FieldSet> {
        let keys = &self.sg.type_graph(entity, to)?.keys;
        keys.iter().filter(|k| k.resolvable).find(|k| fits(&k.fields)).map(|k| k.fields.clone())
    }

    /// A resolvable key of `entity` in `to` whose fields `from` can provide for objects of `ty`.
    pub(super) fn key_for_entity(&self, from: GraphId, to: GraphId, entity: &Name, ty: &Name) -> Option<FieldSet> {
        self.key_where(entity, to, |key| self.resolvable_set(from, ty, key))
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

    /// Whether `from` can hand objects of `ty` to `to`: directly, through one other subgraph, or
    /// with a key assembled from `from` and other subgraphs.
    pub(super) fn reachable(&self, from: GraphId, to: GraphId, ty: &Name) -> bool {
        self.reachable_provided(from, to, ty, None, None)
    }

    /// [`reachable`](Self::reachable), counting key fields provided at the current position and
    /// those already `known` there.
    pub(super) fn reachable_provided(
        &self,
        from: GraphId,
        to: GraphId,
        ty: &Name,
        provided: Option<&FieldSet>,
        known: Option<&FieldSet>,
    ) -> bool {
        self.key_for_provided(from, to, ty, provided).is_some()
            || self.key_known(to, ty, known).is_some()
            || self.key_via(from, to, ty).is_some()
            || self.key_assembled(from, to, ty, provided).is_some()
    }

    /// A key of `at.ty` in `to` that `at` gives directly: from its subgraph (and what is
    /// provided there) or from what is already known there.
    pub(super) fn key_at(&self, at: At<'_>, to: GraphId) -> Option<FieldSet> {
        self.key_for_provided(at.graph, to, at.ty, at.provided).or_else(|| self.key_known(to, at.ty, at.known))
    }

    /// A resolvable key of `ty` in `to` that the fields `known` at the position cover.
    pub(super) fn key_known(&self, to: GraphId, ty: &Name, known: Option<&FieldSet>) -> Option<FieldSet> {
        let known = known?;
        self.key_where(ty, to, |key| covers(known, key))
    }

    /// A resolvable key of `ty` in `to` that `from` can assemble: each field of it `from`
    /// resolves (nested fields field by field), or a third subgraph `from` reaches with a key of
    /// its own resolves whole. Planned by walking the key as a selection set from `from`.
    pub(super) fn key_assembled(
        &self,
        from: GraphId,
        to: GraphId,
        ty: &Name,
        provided: Option<&FieldSet>,
    ) -> Option<FieldSet> {
        self.key_where(ty, to, |key| self.assemblable(from, to, ty, key, provided))
    }

    fn assemblable(&self, from: GraphId, to: GraphId, ty: &Name, set: &FieldSet, provided: Option<&FieldSet>) -> bool {
        set.0.iter().all(|item| match item {
            FieldSetItem::Field { name, sub, .. } => {
                let here = provided.and_then(|p| self.provided_sub(p, ty, name));
                let local = (here.is_some() || self.can_resolve(ty, name, from))
                    && (sub.0.is_empty()
                        || self
                            .sg
                            .field_type(ty, name)
                            .is_some_and(|inner| self.assemblable(from, to, &inner, sub, here)));
                local || {
                    let single = FieldSet(vec![item.clone()]);
                    self.resolvers_of(ty, name).into_iter().any(|other| {
                        other != from
                            && other != to
                            && self.resolvable_set(other, ty, &single)
                            && self.key_for_provided(from, other, ty, provided).is_some()
                    })
                }
            }
            FieldSetItem::Fragment { on, sub } => {
                Name::new(on).ok().is_some_and(|on| self.assemblable(from, to, &on, sub, provided))
            }
        })
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

/// Whether the fields of `known` include every field of `set` (nested sets included).
pub(super) fn covers(known: &FieldSet, set: &FieldSet) -> bool {
    set.0.iter().all(|item| match item {
        FieldSetItem::Field { name, sub, source, .. } => known.0.iter().any(|have| match have {
            FieldSetItem::Field { name: have_name, sub: have_sub, source: have_source, .. } => {
                have_name == name && have_source == source && covers(have_sub, sub)
            }
            FieldSetItem::Fragment { .. } => false,
        }),
        FieldSetItem::Fragment { on, sub } => known.0.iter().any(|have| match have {
            FieldSetItem::Fragment { on: have_on, sub: have_sub } => have_on == on && covers(have_sub, sub),
            FieldSetItem::Field { .. } => false,
        }),
    })
}
