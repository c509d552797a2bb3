//! `@provides`: external fields a subgraph resolves below the field that provides them (the
//! provided set travels in [`At::provided`](super::At)).

use apollo_compiler::Name;

use super::Planner;
use crate::fieldset::{FieldSet, FieldSetItem};
use crate::supergraph::GraphId;

impl Planner<'_> {
    /// The sub-field-set `provides` lists for `ty.field`, if it lists it (fragments count only
    /// when they apply to `ty`).
    pub(super) fn provided_sub<'a>(&self, provides: &'a FieldSet, ty: &Name, field: &str) -> Option<&'a FieldSet> {
        provides.0.iter().find_map(|item| match item {
            FieldSetItem::Field { name, sub, .. } if name == field => Some(sub),
            FieldSetItem::Fragment { on, sub } => {
                Name::new(on).ok().filter(|on| self.applies(ty, on)).and_then(|_| self.provided_sub(sub, ty, field))
            }
            _ => None,
        })
    }

    /// Whether `graph` resolves every field of `set` on `ty`, itself or because `provided` lists it.
    pub(super) fn provided_set(&self, graph: GraphId, ty: &Name, set: &FieldSet, provided: Option<&FieldSet>) -> bool {
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
}
