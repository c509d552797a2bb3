//! Automatic persisted queries (Apollo's protocol): a client sends
//! `extensions.persistedQuery = {version: 1, sha256Hash}` without the query; an unknown hash is
//! answered `PERSISTED_QUERY_NOT_FOUND`, and the client sends the query with the hash once, which
//! registers it (after checking the hash). Works over GET too, so CDNs can cache answers. The
//! registry is in memory, bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApqError {
    /// Clients match on this exact message.
    #[error("PersistedQueryNotFound")]
    NotFound,
    #[error("PersistedQueryNotSupported")]
    NotSupported,
    #[error("the query's sha256 is not the one given in extensions.persistedQuery")]
    HashMismatch,
    #[error("only persisted query version 1 is supported")]
    Version,
    #[error("extensions.persistedQuery must be {{version: 1, sha256Hash: \"<64 hex digits>\"}}")]
    Malformed,
    #[error("`query` is required")]
    NoQuery,
}

impl ApqError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::NotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            Self::HashMismatch => "PERSISTED_QUERY_HASH_MISMATCH",
            Self::Version | Self::Malformed | Self::NoQuery => "BAD_REQUEST",
        }
    }
}

/// The registry of persisted queries by hash.
#[derive(Debug)]
pub struct Apq {
    enabled: bool,
    capacity: usize,
    queries: Mutex<HashMap<String, Arc<str>>>,
}

/// The hex sha256 of a query's text (the key clients compute).
pub fn hash(query: &str) -> String {
    hex::encode(Sha256::digest(query.as_bytes()))
}

impl Apq {
    pub fn new(enabled: bool, capacity: usize) -> Self {
        Self { enabled, capacity: capacity.max(1), queries: Mutex::new(HashMap::new()) }
    }

    /// The query text of a request: its `query` (registered under the extension's hash when
    /// one is given and matches) or the text registered earlier under that hash.
    pub fn resolve(&self, query: Option<String>, extensions: Option<&Value>) -> Result<String, ApqError> {
        let persisted = extensions.and_then(|e| e.get("persistedQuery")).filter(|p| !p.is_null());
        let Some(persisted) = persisted else { return query.ok_or(ApqError::NoQuery) };
        if !self.enabled {
            return query.ok_or(ApqError::NotSupported);
        }
        if persisted.get("version").and_then(Value::as_i64) != Some(1) {
            return Err(ApqError::Version);
        }
        let wanted = persisted
            .get("sha256Hash")
            .and_then(Value::as_str)
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or(ApqError::Malformed)?
            .to_ascii_lowercase();
        match query {
            Some(query) => {
                if hash(&query) != wanted {
                    return Err(ApqError::HashMismatch);
                }
                let mut queries = self.queries.lock().unwrap_or_else(|p| p.into_inner());
                if queries.len() >= self.capacity && !queries.contains_key(&wanted) {
                    queries.clear();
                }
                queries.insert(wanted, Arc::from(query.as_str()));
                Ok(query)
            }
            None => {
                let queries = self.queries.lock().unwrap_or_else(|p| p.into_inner());
                queries.get(&wanted).map(|q| q.to_string()).ok_or(ApqError::NotFound)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ext(hash: &str) -> Value {
        json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
    }

    #[test]
    fn a_hash_is_registered_by_sending_the_query_once() {
        let apq = Apq::new(true, 10);
        let query = "{__typename}";
        let h = hash(query);
        assert_eq!(h, "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38");
        assert_eq!(apq.resolve(None, Some(&ext(&h))), Err(ApqError::NotFound));
        assert_eq!(apq.resolve(Some(query.into()), Some(&ext(&h))).as_deref(), Ok(query));
        assert_eq!(apq.resolve(None, Some(&ext(&h.to_uppercase()))).as_deref(), Ok(query));
        assert_eq!(apq.resolve(Some("{ x }".into()), Some(&ext(&h))), Err(ApqError::HashMismatch));
        assert_eq!(apq.resolve(None, Some(&ext("abc"))), Err(ApqError::Malformed));
        let v2 = json!({ "persistedQuery": { "version": 2, "sha256Hash": h } });
        assert_eq!(apq.resolve(None, Some(&v2)), Err(ApqError::Version));
        assert_eq!(apq.resolve(None, None), Err(ApqError::NoQuery));
        assert_eq!(apq.resolve(Some(query.into()), None).as_deref(), Ok(query));
    }

    #[test]
    fn disabled_it_only_takes_full_queries() {
        let apq = Apq::new(false, 10);
        let h = hash("{ a }");
        assert_eq!(apq.resolve(None, Some(&ext(&h))), Err(ApqError::NotSupported));
        assert_eq!(apq.resolve(Some("{ a }".into()), Some(&ext(&h))).as_deref(), Ok("{ a }"));
    }
}
