//! Partners: API clients identified by a key in a header, which the router knows only by its
//! sha256 (`printf %s "$KEY" | sha256sum`). A partner may be restricted to a list of trusted
//! documents, and carries a quota for the rate limiter to enforce.
//!
//! The clients come from the router config and, optionally, from a keys file (YAML or JSON,
//! e.g. a Kubernetes secret) that is reloaded when it changes. The settings, and the shape of a
//! client, are [`crate::config::partners`]'s.
//!
//! Lookup is by a `HashMap` keyed by the presented key's sha256, not by a constant-time scan:
//! the timing of the lookup depends on the digest of what the caller sent, and steering a digest
//! towards a stored one is a preimage attack on sha256; nothing about a stored key leaks.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Reload, TrustedDocuments, TrustedError, Watched, canonical_id, is_sha256};
use crate::config::partners::{PartnerClient, PartnerSettings, Quota};

/// An identified partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub name: String,
    pub quota: Option<Quota>,
    /// Canonical ids; `None`: unrestricted.
    operations: Option<HashSet<String>>,
}

impl Client {
    /// Whether the partner may run only listed documents.
    pub fn is_restricted(&self) -> bool {
        self.operations.is_some()
    }

    /// The canonical ids of the documents it may run, when restricted.
    pub fn operations(&self) -> Option<&HashSet<String>> {
        self.operations.as_ref()
    }

    /// Whether it may run a document known by `ids` (all its canonical ids).
    pub(super) fn may_run(&self, ids: &[String]) -> bool {
        self.operations.as_ref().is_none_or(|allowed| ids.iter().any(|id| allowed.contains(id)))
    }
}

/// The partners, by the sha256 of their key.
pub struct Partners {
    header: HeaderName,
    require_key: bool,
    configured: Vec<PartnerClient>,
    keys_file: Option<PathBuf>,
    documents: Option<Arc<TrustedDocuments>>,
    clients: RwLock<Arc<HashMap<[u8; 32], Arc<Client>>>>,
    files: Watched,
}

impl std::fmt::Debug for Partners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partners")
            .field("header", &self.header)
            .field("require_key", &self.require_key)
            .field("clients", &self.len())
            .finish()
    }
}

impl Partners {
    /// The configured clients plus the keys file's, validated: names non-empty and unique, key
    /// hashes of 64 hex digits and unique, and, when manifests are configured, every allow-listed
    /// id in them (a typo must not silently lock a partner out).
    pub fn load(settings: &PartnerSettings, documents: Option<Arc<TrustedDocuments>>) -> Result<Self, TrustedError> {
        let header = HeaderName::from_bytes(settings.header.trim().to_ascii_lowercase().as_bytes())
            .map_err(|_| TrustedError::Load(format!("partners.header: `{}` is not a header name", settings.header)))?;
        if settings.require_key && settings.clients.is_empty() && settings.keys_file.is_none() {
            return Err(TrustedError::Load("partners.require_key is on but no client is configured".into()));
        }
        let files = Watched::new(settings.keys_file.iter().cloned().collect());
        let partners = Self {
            header,
            require_key: settings.require_key,
            configured: settings.clients.clone(),
            keys_file: settings.keys_file.clone(),
            documents,
            clients: RwLock::new(Arc::new(HashMap::new())),
            files,
        };
        partners.swap()?;
        Ok(partners)
    }

    /// The number of clients.
    pub fn len(&self) -> usize {
        self.clients.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The partner whose key the request carries: none without a key (unless one is required),
    /// `INVALID_API_KEY` for a key nobody has (or several key headers).
    pub fn identify(&self, headers: &HeaderMap) -> Result<Option<Arc<Client>>, TrustedError> {
        let mut values = headers.get_all(&self.header).iter();
        let key = match (values.next(), values.next()) {
            (None, _) => None,
            (Some(value), None) => Some(value.as_bytes()).filter(|k| !k.is_empty()),
            (Some(_), Some(_)) => return Err(TrustedError::InvalidApiKey),
        };
        let Some(key) = key else {
            if self.require_key {
                return Err(TrustedError::ApiKeyRequired { header: self.header.to_string() });
            }
            return Ok(None);
        };
        let digest: [u8; 32] = Sha256::digest(key).into();
        let clients = self.clients.read().unwrap_or_else(|p| p.into_inner()).clone();
        clients.get(&digest).cloned().map(Some).ok_or(TrustedError::InvalidApiKey)
    }

    /// Re-reads the keys file if it changed; on an error the previous clients stay.
    pub fn reload_if_changed(&self) -> Result<bool, TrustedError> {
        self.files.reload(|| self.swap())
    }

    /// Polls the keys file every `interval` until the partners are dropped.
    pub fn spawn_watcher(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        super::watch(self, interval)
    }

    fn swap(&self) -> Result<(), TrustedError> {
        let mut all = self.configured.clone();
        if let Some(path) = &self.keys_file {
            all.extend(read_keys_file(path).map_err(TrustedError::Load)?);
        }
        let clients =
            validate(all, self.documents.as_deref()).map_err(|e| TrustedError::Load(format!("partners: {e}")))?;
        *self.clients.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(clients);
        Ok(())
    }
}

impl Reload for Partners {
    const WHAT: &'static str = "partner keys";
    fn reload_if_changed(&self) -> Result<bool, TrustedError> {
        Partners::reload_if_changed(self)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    clients: Vec<PartnerClient>,
}

fn read_keys_file(path: &std::path::Path) -> Result<Vec<PartnerClient>, String> {
    let at = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("partners: cannot read the keys file {at}: {e}"))?;
    let value: yaml_serde::Value =
        yaml_serde::from_str(&text).map_err(|e| format!("partners: the keys file {at} is not YAML or JSON: {e}"))?;
    let clients = if value.is_sequence() {
        yaml_serde::from_value(value)
    } else {
        yaml_serde::from_value::<KeysFile>(value).map(|file| file.clients)
    };
    clients.map_err(|e| format!("partners: the keys file {at}: {e}"))
}

fn validate(
    all: Vec<PartnerClient>,
    documents: Option<&TrustedDocuments>,
) -> Result<HashMap<[u8; 32], Arc<Client>>, String> {
    let check_ids = documents.filter(|d| d.is_enabled());
    let mut names = HashSet::new();
    let mut clients = HashMap::with_capacity(all.len());
    for client in all {
        let name = client.name.trim();
        if name.is_empty() {
            return Err("a client has an empty name".into());
        }
        if !names.insert(name.to_owned()) {
            return Err(format!("the client name `{name}` is used twice"));
        }
        let hash = client.key_sha256.trim();
        let mut digest = [0u8; 32];
        if !is_sha256(hash) || hex::decode_to_slice(hash, &mut digest).is_err() {
            return Err(format!("`{name}`: key_sha256 must be the key's sha256 in 64 hex digits"));
        }
        if client.quota.is_some_and(|q| q.requests == 0) {
            return Err(format!("`{name}`: quota.requests must be at least 1"));
        }
        let operations = client.operations.map(|ids| ids.iter().map(|id| canonical_id(id)).collect::<HashSet<_>>());
        if let (Some(documents), Some(ids)) = (check_ids, &operations)
            && let Some(missing) = ids.iter().find(|id| !documents.contains(id))
        {
            return Err(format!("`{name}`: the operation `{missing}` is in no persisted documents manifest"));
        }
        let entry = Client { name: name.to_owned(), quota: client.quota, operations };
        if clients.insert(digest, Arc::new(entry)).is_some() {
            return Err(format!("`{name}`: another client has the same key"));
        }
    }
    Ok(clients)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{OTHER, QUERY, apollo, documents, sha, write};
    use super::super::{Source, TrustedSettings};
    use super::*;
    use axum::http::{HeaderValue, StatusCode};

    const ACME_KEY: &str = "acme-secret-key";
    const GLOBEX_KEY: &str = "globex-secret-key";

    fn client(name: &str, key: &str, operations: Option<Vec<String>>) -> PartnerClient {
        PartnerClient { name: name.into(), key_sha256: sha(key), operations, quota: None }
    }

    fn with_key(key: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_str(key).expect("ascii key"));
        headers
    }

    fn settings(clients: Vec<PartnerClient>) -> PartnerSettings {
        PartnerSettings { clients, ..PartnerSettings::default() }
    }

    #[test]
    fn a_partner_is_identified_by_its_key() {
        let partners = Partners::load(&settings(vec![client("acme", ACME_KEY, None)]), None).expect("valid");
        let acme = partners.identify(&with_key(ACME_KEY)).expect("known").expect("identified");
        assert_eq!(acme.name, "acme");
        assert_eq!(partners.identify(&HeaderMap::new()), Ok(None), "no key: anonymous");
        let error = partners.identify(&with_key("guess")).expect_err("unknown key");
        assert_eq!((error.code(), error.status()), ("INVALID_API_KEY", StatusCode::UNAUTHORIZED));
        assert!(!error.to_string().contains("guess"), "the key is never echoed");
        let mut twice = with_key(ACME_KEY);
        twice.append("x-api-key", HeaderValue::from_static("other"));
        assert_eq!(partners.identify(&twice), Err(TrustedError::InvalidApiKey));
    }

    #[test]
    fn a_required_key_refuses_anonymous_requests() {
        let required = PartnerSettings { require_key: true, ..settings(vec![client("acme", ACME_KEY, None)]) };
        let partners = Partners::load(&required, None).expect("valid");
        let error = partners.identify(&HeaderMap::new()).expect_err("no key");
        assert_eq!((error.code(), error.status()), ("API_KEY_REQUIRED", StatusCode::UNAUTHORIZED));
        assert!(error.to_string().contains("x-api-key"), "{error}");
        assert_eq!(partners.identify(&with_key("")).map(|_| ()), Err(error), "an empty key is no key");
        assert!(partners.identify(&with_key(ACME_KEY)).expect("known").is_some());
        let nobody = PartnerSettings { require_key: true, ..PartnerSettings::default() };
        assert!(Partners::load(&nobody, None).is_err(), "nobody could call");
    }

    #[test]
    fn another_header_can_carry_the_key() {
        let custom =
            PartnerSettings { header: "X-Partner-Key".into(), ..settings(vec![client("acme", ACME_KEY, None)]) };
        let partners = Partners::load(&custom, None).expect("valid");
        let mut headers = HeaderMap::new();
        headers.insert("x-partner-key", HeaderValue::from_static(ACME_KEY));
        assert!(partners.identify(&headers).expect("known").is_some());
        assert_eq!(partners.identify(&with_key(ACME_KEY)), Ok(None), "x-api-key is not read");
        let bad = PartnerSettings { header: "bad header".into(), ..PartnerSettings::default() };
        assert!(Partners::load(&bad, None).is_err());
    }

    #[test]
    fn an_allow_list_limits_a_partner_to_its_documents() {
        let dir = tempfile::tempdir().expect("temp dir");
        let docs = Arc::new(documents(
            dir.path(),
            &[("a.json", apollo(&[(&sha(QUERY), QUERY), (&sha(OTHER), OTHER)]))],
            false,
        ));
        let clients = vec![
            client("acme", ACME_KEY, Some(vec![format!("sha256:{}", sha(QUERY).to_uppercase())])),
            client("globex", GLOBEX_KEY, None),
        ];
        let partners = Partners::load(&settings(clients), Some(docs.clone())).expect("valid");
        let acme = partners.identify(&with_key(ACME_KEY)).expect("known").expect("identified");
        let globex = partners.identify(&with_key(GLOBEX_KEY)).expect("known").expect("identified");

        assert!(docs.admit(Some(&acme), Source::DocumentId(sha(QUERY))).is_ok());
        let error = docs.admit(Some(&acme), Source::DocumentId(sha(OTHER))).expect_err("not on its list");
        assert_eq!((error.code(), error.status()), ("OPERATION_NOT_ALLOWED", StatusCode::FORBIDDEN));
        let error = docs.admit(Some(&acme), Source::Query("{ me { id } }".into())).expect_err("free-form");
        assert_eq!(error.code(), "PERSISTED_DOCUMENT_REQUIRED");
        assert_eq!(&*docs.admit(Some(&acme), Source::Query(QUERY.into())).expect("listed text").query, QUERY);
        assert_eq!(docs.admit(Some(&acme), Source::Query(OTHER.into())), Err(TrustedError::OperationNotAllowed));
        assert!(!docs.fallback_permitted(Some(&acme)), "a restricted partner never falls back");

        assert!(docs.admit(Some(&globex), Source::DocumentId(sha(OTHER))).is_ok(), "unrestricted");
        assert!(docs.admit(Some(&globex), Source::Query("{ me { id } }".into())).is_ok());
        assert!(docs.fallback_permitted(Some(&globex)));
    }

    #[test]
    fn an_allow_list_may_name_a_document_by_its_manifest_id() {
        let dir = tempfile::tempdir().expect("temp dir");
        let plain = serde_json::json!({ "Me@1": QUERY }).to_string();
        let docs = Arc::new(documents(dir.path(), &[("relay.json", plain)], false));
        let clients = vec![client("acme", ACME_KEY, Some(vec!["Me@1".into()]))];
        let partners = Partners::load(&settings(clients), Some(docs.clone())).expect("valid");
        let acme = partners.identify(&with_key(ACME_KEY)).expect("known").expect("identified");
        assert!(docs.admit(Some(&acme), Source::DocumentId("Me@1".into())).is_ok());
        assert!(docs.admit(Some(&acme), Source::DocumentId(sha(QUERY))).is_ok(), "the same document");
    }

    #[test]
    fn mistakes_in_the_clients_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let docs = Arc::new(documents(dir.path(), &[("a.json", apollo(&[(&sha(QUERY), QUERY)]))], false));
        let typo = client("acme", ACME_KEY, Some(vec![sha(OTHER)]));
        let cases = [
            (vec![client(" ", ACME_KEY, None)], "empty name"),
            (vec![client("acme", ACME_KEY, None), client("acme", GLOBEX_KEY, None)], "used twice"),
            (vec![client("acme", ACME_KEY, None), client("globex", ACME_KEY, None)], "same key"),
            (vec![PartnerClient { key_sha256: "abc".into(), ..client("acme", ACME_KEY, None) }], "64 hex"),
            (vec![PartnerClient { key_sha256: ACME_KEY.into(), ..client("acme", ACME_KEY, None) }], "64 hex"),
            (vec![typo.clone()], "in no persisted documents manifest"),
            (
                vec![PartnerClient { quota: Some(Quota { requests: 0, per: Duration::from_secs(1) }), ..typo.clone() }],
                "quota",
            ),
        ];
        for (clients, expected) in cases {
            let error = Partners::load(&settings(clients), Some(docs.clone())).expect_err(expected);
            assert!(error.to_string().contains(expected), "{expected}: {error}");
            assert!(!error.to_string().contains(ACME_KEY), "keys are never echoed");
        }
        let no_manifests = Arc::new(TrustedDocuments::load(&TrustedSettings::default()).expect("empty"));
        assert!(Partners::load(&settings(vec![typo]), Some(no_manifests)).is_ok(), "nothing to check against");
    }

    #[test]
    fn the_keys_file_adds_clients_and_is_reloaded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("partners.yaml");
        let acme = format!(
            "clients:\n  - {{ name: acme, key_sha256: {}, quota: {{ requests: 100, per: 1m }} }}\n",
            sha(ACME_KEY)
        );
        write(&path, &acme, 0);
        let config =
            PartnerSettings { keys_file: Some(path.clone()), ..settings(vec![client("globex", GLOBEX_KEY, None)]) };
        let partners = Partners::load(&config, None).expect("valid");
        let found = partners.identify(&with_key(ACME_KEY)).expect("known").expect("identified");
        assert_eq!(found.quota, Some(Quota { requests: 100, per: Duration::from_secs(60) }));
        assert!(partners.identify(&with_key(GLOBEX_KEY)).expect("configured").is_some());
        assert_eq!(partners.reload_if_changed(), Ok(false));

        // A JSON list replaces acme by a new key.
        let json = serde_json::json!([{ "name": "acme", "key_sha256": sha("rotated") }]).to_string();
        write(&path, &json, 1);
        assert_eq!(partners.reload_if_changed(), Ok(true));
        assert_eq!(partners.identify(&with_key(ACME_KEY)), Err(TrustedError::InvalidApiKey), "old key revoked");
        assert!(partners.identify(&with_key("rotated")).expect("new key").is_some());

        // A clash with the config's client is refused; the previous clients stay.
        write(&path, &format!("- {{ name: globex, key_sha256: {} }}\n", sha("x")), 2);
        let error = partners.reload_if_changed().expect_err("name used twice");
        assert!(error.to_string().contains("globex"), "{error}");
        assert!(partners.identify(&with_key("rotated")).expect("still served").is_some());

        write(&path, "clients: [{ name: acme, key: plain }]", 3);
        assert!(partners.reload_if_changed().expect_err("unknown field").to_string().contains("partners.yaml"));
    }
}
