//! `limits:`: the size of a request (body and headers) and of an operation (depth, aliases, root
//! fields, tokens, estimated cost); `0` turns an operation or header limit off. The HTTP layer
//! checks the body (`http`), the edge the headers (`edge::header_limits`), and the operation
//! limits are checked after validation (`limits`).
//!
//! The headers forwarded to subgraphs (`headers.forward`) have a tighter limit of their own,
//! `forwarded_header_bytes`: subgraphs served over HTTP/2 accept a header list of 16 KiB
//! (hyper's default), so whatever the router admits, a subgraph accepts. Likewise the body
//! limit is half the subgraphs' ([`SUBGRAPH_BODY_LIMIT_BYTES`]).
//!
//! ```yaml
//! limits:
//!   body_bytes: 1048576
//!   max_depth: 32
//!   max_aliases: 128
//!   max_root_fields: 64
//!   max_tokens: 50000
//!   max_cost: 50000              # the estimated cost (see `crate::limits`); 0: off
//!   list_size: 10                # the size assumed for a list without first/last/limit
//!   object_cost: 1               # the weight of a field of an object, interface or union type
//!   leaf_cost: 0                 # the weight of a scalar or enum field
//!   header_bytes: 32768
//!   headers: 100
//!   forwarded_header_bytes: 8192
//! ```

use serde::Deserialize;

use super::ConfigError;
use super::primitives::parse_limit;
use super::subgraphs::SUBGRAPH_BODY_LIMIT_BYTES;

/// The router's body limit: half the subgraphs' (1 MiB).
pub const DEFAULT_BODY_LIMIT_BYTES: usize = SUBGRAPH_BODY_LIMIT_BYTES / 2;

/// The operation limits in force; `0` turns one off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationLimits {
    pub max_depth: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub max_tokens: usize,
    pub max_cost: u64,
    /// The size assumed for a list field without a `first`/`last`/`limit` argument.
    pub list_size: u64,
    /// The cost of a field whose type is an object, interface or union.
    pub object_cost: u64,
    /// The cost of a scalar or enum field.
    pub leaf_cost: u64,
}

/// The default cost limit: twice the gateway benchmark's five-lists-deep query.
pub const DEFAULT_MAX_COST: u64 = 50_000;

impl Default for OperationLimits {
    fn default() -> Self {
        Self {
            max_depth: 32,
            max_aliases: 128,
            max_root_fields: 64,
            max_tokens: 50_000,
            max_cost: DEFAULT_MAX_COST,
            list_size: 10,
            object_cost: 1,
            leaf_cost: 0,
        }
    }
}

impl OperationLimits {
    /// Applies `ROUTER_MAX_DEPTH`, `ROUTER_MAX_ALIASES`, `ROUTER_MAX_ROOT_FIELDS`,
    /// `ROUTER_MAX_TOKENS` and `ROUTER_MAX_COST` (0: no limit).
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        for (name, slot) in [
            ("ROUTER_MAX_DEPTH", &mut self.max_depth),
            ("ROUTER_MAX_ALIASES", &mut self.max_aliases),
            ("ROUTER_MAX_ROOT_FIELDS", &mut self.max_root_fields),
            ("ROUTER_MAX_TOKENS", &mut self.max_tokens),
        ] {
            if let Some(v) = var(name) {
                *slot = parse_limit(name, &v)?;
            }
        }
        if let Some(v) = var("ROUTER_MAX_COST") {
            self.max_cost = parse_limit("ROUTER_MAX_COST", &v)?;
        }
        Ok(())
    }
}

/// The request header limits in force (`HEADERS_TOO_LARGE`); `0` turns one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderLimits {
    /// Bytes of all header names and values together.
    pub max_bytes: usize,
    /// Header lines (a name repeated counts each time).
    pub max_count: usize,
    /// Bytes of the headers forwarded to subgraphs, names and values.
    pub max_forwarded_bytes: usize,
}

impl Default for HeaderLimits {
    fn default() -> Self {
        Self { max_bytes: 32 * 1024, max_count: 100, max_forwarded_bytes: 8 * 1024 }
    }
}

impl HeaderLimits {
    /// Applies `ROUTER_MAX_HEADER_BYTES`, `ROUTER_MAX_HEADERS` and
    /// `ROUTER_MAX_FORWARDED_HEADER_BYTES` (0: no limit).
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        for (name, slot) in [
            ("ROUTER_MAX_HEADER_BYTES", &mut self.max_bytes),
            ("ROUTER_MAX_HEADERS", &mut self.max_count),
            ("ROUTER_MAX_FORWARDED_HEADER_BYTES", &mut self.max_forwarded_bytes),
        ] {
            if let Some(v) = env(name).filter(|v| !v.trim().is_empty()) {
                *slot = parse_limit(name, &v)?;
            }
        }
        Ok(())
    }
}

/// The section, checked; the router config keeps its three parts apart.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Section")]
pub struct Limits {
    /// The largest request body (413 `REQUEST_TOO_LARGE`).
    pub body_bytes: usize,
    pub operation: OperationLimits,
    pub headers: HeaderLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes: DEFAULT_BODY_LIMIT_BYTES,
            operation: OperationLimits::default(),
            headers: HeaderLimits::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    body_bytes: Option<usize>,
    max_depth: Option<usize>,
    max_aliases: Option<usize>,
    max_root_fields: Option<usize>,
    max_tokens: Option<usize>,
    max_cost: Option<u64>,
    list_size: Option<u64>,
    object_cost: Option<u64>,
    leaf_cost: Option<u64>,
    header_bytes: Option<usize>,
    headers: Option<usize>,
    forwarded_header_bytes: Option<usize>,
}

impl TryFrom<Section> for Limits {
    type Error = String;

    fn try_from(section: Section) -> Result<Self, String> {
        let mut limits = Self::default();
        if let Some(bytes) = section.body_bytes {
            if bytes == 0 {
                return Err("limits.body_bytes must be positive".into());
            }
            limits.body_bytes = bytes;
        }
        let operation = &mut limits.operation;
        operation.max_depth = section.max_depth.unwrap_or(operation.max_depth);
        operation.max_aliases = section.max_aliases.unwrap_or(operation.max_aliases);
        operation.max_root_fields = section.max_root_fields.unwrap_or(operation.max_root_fields);
        operation.max_tokens = section.max_tokens.unwrap_or(operation.max_tokens);
        operation.max_cost = section.max_cost.unwrap_or(operation.max_cost);
        if let Some(size) = section.list_size {
            if size == 0 {
                return Err("limits.list_size must be positive".into());
            }
            operation.list_size = size;
        }
        operation.object_cost = section.object_cost.unwrap_or(operation.object_cost);
        operation.leaf_cost = section.leaf_cost.unwrap_or(operation.leaf_cost);
        let headers = &mut limits.headers;
        headers.max_bytes = section.header_bytes.unwrap_or(headers.max_bytes);
        headers.max_count = section.headers.unwrap_or(headers.max_count);
        headers.max_forwarded_bytes = section.forwarded_header_bytes.unwrap_or(headers.max_forwarded_bytes);
        Ok(limits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_come_from_the_environment() {
        let mut limits = HeaderLimits::default();
        assert_eq!(limits, HeaderLimits { max_bytes: 32768, max_count: 100, max_forwarded_bytes: 8192 });
        limits.apply_env(&|n| (n == "ROUTER_MAX_HEADERS").then(|| "50".to_owned())).expect("valid");
        assert_eq!(limits.max_count, 50);
        assert!(limits.apply_env(&|n| (n == "ROUTER_MAX_HEADER_BYTES").then(|| "big".to_owned())).is_err());
    }

    #[test]
    fn the_section_sets_header_limits_and_refuses_a_zero_body_or_list_size() {
        let limits: Limits =
            yaml_serde::from_str("{ header_bytes: 1000, headers: 0, forwarded_header_bytes: 500 }").expect("valid");
        assert_eq!(limits.headers, HeaderLimits { max_bytes: 1000, max_count: 0, max_forwarded_bytes: 500 });
        assert_eq!((limits.body_bytes, limits.operation), (DEFAULT_BODY_LIMIT_BYTES, OperationLimits::default()));
        for (yaml, expected) in [("{ body_bytes: 0 }", "body_bytes"), ("{ list_size: 0 }", "list_size")] {
            let error = yaml_serde::from_str::<Limits>(yaml).expect_err(yaml).to_string();
            assert!(error.contains(expected), "{yaml}: {error}");
        }
    }
}
