//! The API schema: the supergraph without its join and link machinery, without `@inaccessible`
//! elements, and without type-system directives. It is what clients validate against and
//! introspect.
//!
//! The definitions of specs linked `for: SECURITY` or `for: EXECUTION` (e.g. `requiresScopes__Scope`)
//! are machinery too: they go, like `join__*`.

use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::Valid;
use apollo_compiler::{Name, Schema};

use crate::supergraph::{SupergraphError, is_executable_location};

const INACCESSIBLE: &str = "inaccessible";

fn keep_directive(name: &str) -> bool {
    matches!(name, "deprecated" | "specifiedBy" | "oneOf")
}

/// The `name__` prefixes of the linked specs that serve the router rather than clients.
fn machinery_prefixes(supergraph: &Schema) -> Vec<String> {
    let mut prefixes: Vec<String> = ["join__", "link__", "core__"].map(str::to_owned).to_vec();
    for link in supergraph.schema_definition.directives.get_all("link") {
        let purpose = link.specified_argument_by_name("for").and_then(|v| v.as_enum()).map(|v| v.as_str());
        if !matches!(purpose, Some("SECURITY" | "EXECUTION")) {
            continue;
        }
        let named = link.specified_argument_by_name("as").and_then(|v| v.as_str()).map(str::to_owned);
        let from_url = link
            .specified_argument_by_name("url")
            .and_then(|v| v.as_str())
            .and_then(|url| url.trim_end_matches('/').rsplit('/').nth(1).map(str::to_owned));
        if let Some(namespace) = named.or(from_url) {
            prefixes.push(format!("{namespace}__"));
        }
    }
    prefixes
}

pub fn derive(supergraph: &Schema) -> Result<Valid<Schema>, SupergraphError> {
    let prefixes = machinery_prefixes(supergraph);
    let machinery = |name: &str| prefixes.iter().any(|p| name.starts_with(p.as_str()));
    let mut api = supergraph.clone();
    api.schema_definition.make_mut().directives.clear();
    // Directive definitions: keep the built-in ones and executable ones that are not machinery.
    api.directive_definitions.retain(|name, definition| {
        definition.is_built_in()
            || (!machinery(name)
                && !name.starts_with("link")
                && !name.starts_with("core")
                && name != INACCESSIBLE
                && definition.locations.iter().any(is_executable_location))
    });
    let inaccessible_types: Vec<Name> = api
        .types
        .iter()
        .filter(|(name, ty)| machinery(name) || ty.directives().has(INACCESSIBLE))
        .map(|(name, _)| name.clone())
        .collect();
    for name in &inaccessible_types {
        api.types.shift_remove(name);
    }
    let gone = |name: &Name| inaccessible_types.contains(name);
    for ty in api.types.values_mut() {
        strip(ty, &gone);
    }
    // Root operation types that became inaccessible disappear.
    {
        let definition = api.schema_definition.make_mut();
        if definition.mutation.as_ref().is_some_and(|m| gone(&m.name)) {
            definition.mutation = None;
        }
        if definition.subscription.as_ref().is_some_and(|m| gone(&m.name)) {
            definition.subscription = None;
        }
    }
    api.validate().map_err(|e| SupergraphError::Api(e.errors.to_string()))
}

fn strip(ty: &mut ExtendedType, gone: &dyn Fn(&Name) -> bool) {
    match ty {
        ExtendedType::Object(o) => {
            let o = o.make_mut();
            o.directives.retain(|d| keep_directive(&d.name));
            o.implements_interfaces.retain(|i| !gone(&i.name));
            o.fields.retain(|_, f| !f.directives.has(INACCESSIBLE) && !gone(f.ty.inner_named_type()));
            for f in o.fields.values_mut() {
                let f = f.make_mut();
                f.directives.retain(|d| keep_directive(&d.name));
                f.arguments.retain(|a| !a.directives.has(INACCESSIBLE));
                for a in &mut f.arguments {
                    a.make_mut().directives.retain(|d| keep_directive(&d.name));
                }
            }
        }
        ExtendedType::Interface(i) => {
            let i = i.make_mut();
            i.directives.retain(|d| keep_directive(&d.name));
            i.implements_interfaces.retain(|x| !gone(&x.name));
            i.fields.retain(|_, f| !f.directives.has(INACCESSIBLE) && !gone(f.ty.inner_named_type()));
            for f in i.fields.values_mut() {
                let f = f.make_mut();
                f.directives.retain(|d| keep_directive(&d.name));
                f.arguments.retain(|a| !a.directives.has(INACCESSIBLE));
                for a in &mut f.arguments {
                    a.make_mut().directives.retain(|d| keep_directive(&d.name));
                }
            }
        }
        ExtendedType::Union(u) => {
            let u = u.make_mut();
            u.directives.retain(|d| keep_directive(&d.name));
            u.members.retain(|m| !gone(&m.name));
        }
        ExtendedType::Enum(e) => {
            let e = e.make_mut();
            e.directives.retain(|d| keep_directive(&d.name));
            e.values.retain(|_, v| !v.directives.has(INACCESSIBLE));
            for v in e.values.values_mut() {
                v.make_mut().directives.retain(|d| keep_directive(&d.name));
            }
        }
        ExtendedType::InputObject(input) => {
            let input = input.make_mut();
            input.directives.retain(|d| keep_directive(&d.name));
            input.fields.retain(|_, f| !f.directives.has(INACCESSIBLE) && !gone(f.ty.inner_named_type()));
            for f in input.fields.values_mut() {
                f.make_mut().directives.retain(|d| keep_directive(&d.name));
            }
        }
        ExtendedType::Scalar(s) => {
            s.make_mut().directives.retain(|d| keep_directive(&d.name));
        }
    }
}
