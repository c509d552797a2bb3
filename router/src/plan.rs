//! Query planning: which subgraph resolves which part of an operation, and in what order.
//!
//! A plan is a tree of fetches. Root fetches (parallel for queries, in order for mutations)
//! each carry children: `_entities` fetches that run once their parent's data is merged, keyed on
//! the objects found at a path. Fields a subgraph cannot resolve are moved to a subgraph that can,
//! through a key both share; `@requires` fields travel in the representation, `@provides` lets a
//! subgraph resolve external fields below the providing field.
//!
//! Where each part lives, in `plan/`:
//! - `root.rs`: root fields grouped by subgraph into root fetches (where planning starts);
//! - `walk.rs`: the walk over a selection set in one subgraph, keeping what it resolves and
//!   moving the rest;
//! - `choose.rs`: which subgraph takes a field the current one cannot resolve, and what a subtree
//!   costs;
//! - `jump.rs`: entity jumps, the `_entities` fetches that move fields to another subgraph;
//! - `keys.rs`: keys shared between subgraphs, directly or through a third;
//! - `requires.rs`: `@requires` fields, fetched first and sent in representations;
//! - `provides.rs`: `@provides` fields a subgraph resolves below the providing field;
//! - `abstract_types.rs`: interfaces, unions and `@interfaceObject`;
//! - `print.rs`: a finished draft printed as a subgraph operation;
//! - `describe.rs`: a plan for people: JSON (`extensions.queryPlan`) and indented text.
//!
//! The walk carries an `At` (where the planner is) and fills a `Draft` (the fetch being built).

mod abstract_types;
mod choose;
mod describe;
mod jump;
mod keys;
mod print;
mod provides;
mod requires;
mod root;
mod walk;

use std::cell::Cell;

use apollo_compiler::Name;

use crate::fieldset::FieldSet;
use crate::operation::{Field, Operation, Selection};
use crate::supergraph::{GraphId, Labels, Supergraph};

pub use self::describe::{describe_plan, display_plan};

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

pub fn plan(supergraph: &Supergraph, operation: &Operation) -> Result<Plan, PlanError> {
    plan_with_labels(supergraph, operation, &Labels::default())
}

/// Plans for a request with these progressive-override labels active.
pub fn plan_with_labels(supergraph: &Supergraph, operation: &Operation, labels: &Labels) -> Result<Plan, PlanError> {
    let planner = Planner { sg: supergraph, op: operation, labels, nesting: Cell::new(0) };
    planner.plan()
}

/// One planning of one operation; its methods are spread over the submodules by concept.
struct Planner<'a> {
    sg: &'a Supergraph,
    op: &'a Operation,
    labels: &'a Labels,
    /// How many keys being assembled enclose the current step (see [`Planner::deeper`]).
    nesting: Cell<usize>,
}

/// How deep keys assembled from other subgraphs may nest (a key field whose own jump needs an
/// assembled key, …): far beyond any real schema, a bound against cycles.
const MAX_NESTING: usize = 8;

/// Leaves one level of nesting when dropped.
struct Deeper<'a>(&'a Cell<usize>);

impl Drop for Deeper<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

impl Planner<'_> {
    fn can_resolve(&self, ty: &str, field: &str, graph: GraphId) -> bool {
        self.sg.can_resolve_with(ty, field, graph, self.labels)
    }

    fn resolvers_of(&self, ty: &str, field: &str) -> Vec<GraphId> {
        self.sg.resolvers_of_with(ty, field, self.labels)
    }

    /// Enters one more level of key assembly for `ty`; an error past [`MAX_NESTING`].
    fn deeper(&self, ty: &Name) -> Result<Deeper<'_>, PlanError> {
        let depth = self.nesting.get() + 1;
        if depth > MAX_NESTING {
            return Err(err(ty.to_string(), "keys assembled from other subgraphs nest too deep"));
        }
        self.nesting.set(depth);
        Ok(Deeper(&self.nesting))
    }
}

/// Where the planner is: in which subgraph, on which type, at which response path, what the
/// field above `@provides` there (external fields it lets the subgraph resolve), what earlier
/// fetches already put in the data there, and which other subgraphs could stand here instead.
#[derive(Clone, Copy)]
struct At<'a> {
    graph: GraphId,
    ty: &'a Name,
    /// Response keys from the root: where an entity fetch started here finds its objects.
    path: &'a [Name],
    provided: Option<&'a FieldSet>,
    /// Fields already in the merged data at this position: the representation of the entity
    /// fetch that starts here (its key and requirements were read from that data). A jump whose
    /// key they cover needs nothing from the current subgraph.
    known: Option<&'a FieldSet>,
    /// Other subgraphs that resolve this position as well (a shareable path, reachable through
    /// an entity's key): a union below it is planned with the members they all know.
    alternatives: &'a [GraphId],
}

impl<'a> At<'a> {
    /// The start of a fetch in `graph`, at `path`, on `ty`: nothing provided, known or shared.
    fn start(graph: GraphId, ty: &'a Name, path: &'a [Name]) -> Self {
        Self { graph, ty, path, provided: None, known: None, alternatives: &[] }
    }

    /// The same place, with nothing provided (a fetch that starts there).
    fn unprovided(self) -> Self {
        Self { provided: None, ..self }
    }
}

/// A fetch being planned: what its subgraph is asked for and the fetches that depend on it.
/// [`Planner::finish`] turns it into a [`FetchNode`].
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
