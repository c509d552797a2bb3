//! Field sets of `@key`, `@requires` and `@provides` (`id`, `id org { id }`,
//! `comments(limit: 3) { authorId }`, `... on Book { isbn }`), parsed against the supergraph.

use apollo_compiler::executable::{self, Argument};
use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Node, Schema};

/// One selection of a field set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSetItem {
    /// `source`: the response key the value is read from in the parent's data when it is not
    /// `name` (a required field with arguments, aliased so that two requirements of one field
    /// with different arguments can both be fetched).
    Field {
        name: String,
        arguments: Vec<Node<Argument>>,
        sub: FieldSet,
        source: Option<String>,
    },
    Fragment {
        on: String,
        sub: FieldSet,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSet(pub Vec<FieldSetItem>);

/// The field set as GraphQL text (`id sku lines { id }`; a field read from an alias shows it as
/// `alias: name(arguments)`).
impl std::fmt::Display for FieldSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let sub = match item {
                FieldSetItem::Field { name, arguments, sub, source } => {
                    if let Some(source) = source {
                        write!(f, "{source}: ")?;
                    }
                    f.write_str(name)?;
                    if !arguments.is_empty() {
                        let arguments: Vec<String> =
                            arguments.iter().map(|a| format!("{}: {}", a.name, a.value)).collect();
                        write!(f, "({})", arguments.join(", "))?;
                    }
                    sub
                }
                FieldSetItem::Fragment { on, sub } => {
                    write!(f, "... on {on}")?;
                    sub
                }
            };
            if !sub.0.is_empty() {
                write!(f, " {{ {sub} }}")?;
            }
        }
        Ok(())
    }
}

impl FieldSet {
    /// Parses `source` as a selection set on `ty` of `schema`.
    pub fn parse(schema: &Valid<Schema>, ty: &Name, source: &str) -> Result<Self, String> {
        let set = executable::FieldSet::parse(schema, ty.clone(), source, "fieldset.graphql")
            .map_err(|e| e.errors.to_string())?;
        Ok(convert(&set.selection_set))
    }

    /// Field names at the top level (fragments included).
    pub fn top_fields(&self) -> Vec<&str> {
        let mut names = Vec::new();
        for item in &self.0 {
            match item {
                FieldSetItem::Field { name, .. } => names.push(name.as_str()),
                FieldSetItem::Fragment { sub, .. } => names.extend(sub.top_fields()),
            }
        }
        names
    }
}

fn convert(set: &executable::SelectionSet) -> FieldSet {
    let items = set
        .selections
        .iter()
        .filter_map(|selection| match selection {
            executable::Selection::Field(f) => Some(FieldSetItem::Field {
                name: f.name.to_string(),
                arguments: f.arguments.clone(),
                sub: convert(&f.selection_set),
                source: None,
            }),
            executable::Selection::InlineFragment(f) => Some(FieldSetItem::Fragment {
                on: f.type_condition.as_ref().unwrap_or(&set.ty).to_string(),
                sub: convert(&f.selection_set),
            }),
            executable::Selection::FragmentSpread(_) => None,
        })
        .collect();
    FieldSet(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_argument_and_fragment_field_sets_parse() {
        let schema = Schema::parse_and_validate(
            "type Query { b: Book } interface Item { id: ID } type Org { id: ID } \
             type Book implements Item { id: ID org: Org isbn: String comments(limit: Int): [Org] }",
            "s.graphql",
        )
        .expect("valid schema");
        let ty = Name::new("Book").expect("name");
        let set = FieldSet::parse(&schema, &ty, "id org { id } comments(limit: 3) { id } ... on Book { isbn }")
            .expect("parses");
        assert_eq!(set.top_fields(), vec!["id", "org", "comments", "isbn"]);
        assert!(FieldSet::parse(&schema, &ty, "id {").is_err());
    }
}
