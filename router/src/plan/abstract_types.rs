//! Abstract types: interfaces and unions planned per object type, fragments that apply to an
//! object, and `@interfaceObject` (an interface a subgraph knows only as an object type).

use apollo_compiler::Name;

use super::{At, Draft, EntityFetch, PlanError, Planner, err, typename_field};
use crate::operation::{Fragment, Selection};
use crate::supergraph::GraphId;

impl Planner<'_> {
    /// An abstract type: expanded into one fragment per object type `at.graph` may return.
    pub(super) fn walk_abstract(
        &self,
        at: At<'_>,
        selections: &[Selection],
        draft: &mut Draft,
    ) -> Result<Vec<Selection>, PlanError> {
        let mut local = vec![typename_field()];
        let mut objects = self.sg.possible_types_in(at.ty, at.graph);
        // Below a path other subgraphs resolve as well, only the members they all know are safe
        // to ask for: the objects of the others come back with their `__typename` alone.
        if self.sg.is_union(at.ty) {
            for other in at.alternatives {
                let theirs = self.sg.possible_types_in(at.ty, *other);
                objects.retain(|object| theirs.contains(object));
            }
        }
        for object in objects {
            let applicable = self.applicable_to(&object, selections);
            if applicable.is_empty() {
                continue;
            }
            let selections = self.walk(At { ty: &object, ..at }, &applicable, draft)?;
            local.push(Selection::Fragment(Fragment { on: object, selections }));
        }
        Ok(local)
    }

    /// The selections that apply to objects of type `object`, fragments resolved.
    pub(super) fn applicable_to(&self, object: &Name, selections: &[Selection]) -> Vec<Selection> {
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
    pub(super) fn applies(&self, object: &Name, condition: &Name) -> bool {
        self.sg.is_possible(condition, object)
    }

    /// The `__typename`s an entity fetch for `entity` applies to.
    pub(super) fn object_types(&self, entity: &Name) -> Vec<Name> {
        let mut types = vec![entity.clone()];
        if self.sg.is_abstract(entity) {
            types.extend(self.sg.possible_types(entity));
        }
        types
    }

    /// A subgraph that has `interface` as a real interface with a key `from` can give.
    pub(super) fn real_interface_target(&self, from: GraphId, interface: &Name) -> Result<(GraphId, Name), PlanError> {
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

    /// A jump from `at` to `target` asking for the objects as the interface `entity`
    /// (`@interfaceObject`, either direction).
    pub(super) fn interface_jump(
        &self,
        at: At<'_>,
        target: GraphId,
        entity: &Name,
        fields: Vec<Selection>,
        local: &mut Vec<Selection>,
    ) -> Result<Draft, PlanError> {
        let At { graph: from, ty, path, .. } = at;
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
        let known = fetch.representation.clone();
        let mut child = Draft::new(target, Some(fetch));
        let there = At { known: Some(&known), ..At::start(target, entity, path) };
        child.selections = self.walk_inner(there, &fields, &mut child, true)?;
        Ok(child)
    }
}
