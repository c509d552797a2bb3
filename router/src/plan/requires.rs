//! `@requires`: fields an entity fetch needs in its representations, selected in the subgraph the
//! jump starts from or fetched before it, and kept apart when one field is required with other
//! arguments.

use apollo_compiler::Name;
use indexmap::IndexMap;

use super::{At, Draft, PlanError, Planner};
use crate::fieldset::{FieldSet, FieldSetItem};
use crate::operation::{Field, Selection};
use crate::supergraph::GraphId;

impl Planner<'_> {
    /// What `fields` require in `target`, to send in the representations of a jump from `at`,
    /// and the fetches that must finish before that jump. Required fields `at.graph` resolves are
    /// added to `local` (the fetches below them come first); the others are fetched by jumps
    /// to subgraphs that have them.
    pub(super) fn requirements(
        &self,
        at: At<'_>,
        target: GraphId,
        fields: &[Selection],
        local: &mut Vec<Selection>,
    ) -> Result<(FieldSet, Vec<Draft>), PlanError> {
        let At { graph: from, ty, path, .. } = at;
        let mut required_set = FieldSet::default();
        let mut before = Vec::new();
        let mut prerequisites: IndexMap<(GraphId, Name), Vec<Selection>> = IndexMap::new();
        for selection in fields {
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
                        let there = At::start(from, &required_field.ty, &sub_path);
                        self.walk(there, &required_field.selections, &mut below)?
                    };
                    before.extend(below.children);
                    local.push(Selection::Field(Field { selections, ..required_field.clone() }));
                } else {
                    let preferred: Vec<GraphId> = prerequisites.keys().map(|(g, _)| *g).collect();
                    let via = self.choose_target(from, ty, &required_field.name, preferred.into_iter())?;
                    prerequisites.entry(via).or_default().push(required.clone());
                }
            }
            required_set.0.extend(requires.0);
        }
        for ((via, _), required) in prerequisites {
            before.extend(self.jump_chain(at.unprovided(), via, required, local)?);
        }
        Ok((required_set, before))
    }

    /// `fields` split so that no two in a group require one field with different arguments.
    pub(super) fn requirement_groups(&self, ty: &Name, target: GraphId, fields: Vec<Selection>) -> Vec<Vec<Selection>> {
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
