//! Root fields grouped by subgraph into root fetches: where planning starts.

use apollo_compiler::Name;
use apollo_compiler::ast::OperationType;
use indexmap::IndexMap;

use super::{At, Draft, Plan, PlanError, Planner, err};
use crate::operation::{Field, Selection};
use crate::supergraph::{GraphId, Supergraph};

impl Planner<'_> {
    pub(super) fn plan(&self) -> Result<Plan, PlanError> {
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
            // A shareable root field may be resolved by another subgraph as well.
            let mut alternatives: Vec<GraphId> = Vec::new();
            for selection in &selections {
                if let Selection::Field(field) = selection {
                    for other in self.resolvers_of(root, &field.name) {
                        if other != graph && !alternatives.contains(&other) {
                            alternatives.push(other);
                        }
                    }
                }
            }
            let at = At { alternatives: &alternatives, ..At::start(graph, root, &[]) };
            draft.selections = self.walk(at, &selections, &mut draft)?;
            roots.push(self.finish(draft));
        }
        Ok(Plan { sequential, roots })
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
}

/// The root fields of `selections`, through fragments that apply to the root type.
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
