//! `headers:`: the request headers forwarded to every subgraph (lower case; `authorization` by
//! default). `ROUTER_FORWARD_HEADERS` (comma-separated) and `--forward-header` replace the list.
//!
//! ```yaml
//! headers:
//!   forward: [authorization, accept-language]
//! ```

use super::ConfigError;
use super::primitives::header_names;

/// The list forwarded when none is configured.
pub fn default_forward() -> Vec<String> {
    vec!["authorization".into()]
}

/// Header names to forward, validated and lower-cased; a header that describes the client's
/// connection or body is refused.
pub fn header_list<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, ConfigError> {
    let names = header_names(names).map_err(ConfigError)?;
    if let Some(name) = names.iter().find(|name| HOP_BY_HOP.contains(&name.as_str())) {
        return Err(ConfigError(format!("`{name}` describes the client's connection or body and cannot be forwarded")));
    }
    Ok(names.iter().map(|name| name.as_str().to_owned()).collect())
}

/// Headers that belong to one hop (or to the body the router re-encodes): forwarding them would
/// corrupt the subgraph request.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-type",
    "content-encoding",
    "accept-encoding",
    "host",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_headers_are_lower_cased_and_hop_by_hop_ones_refused() {
        let list = header_list(["Authorization", "Accept-Language", "authorization"]).expect("valid");
        assert_eq!(list, ["authorization", "accept-language"]);
        for name in ["Content-Length", "connection", "Host"] {
            let error = header_list([name]).expect_err(name);
            assert!(error.0.contains("cannot be forwarded"), "{name}: {error}");
        }
        assert!(header_list(["bad header"]).expect_err("space").0.contains("not a valid header name"));
    }
}
