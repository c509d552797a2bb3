//! `partners:`: API clients identified by a key in a header (`edge::trusted`), known
//! only by the key's sha256 (`printf %s "$KEY" | sha256sum`), each optionally restricted to a
//! list of trusted documents and given a quota. More clients may come from a keys file (YAML or
//! JSON, `clients: [...]` or the bare list), reloaded when it changes. `ROUTER_PARTNER_KEYS_FILE`
//! and `ROUTER_REQUIRE_API_KEY` override it.
//!
//! ```yaml
//! partners:
//!   header: x-api-key
//!   require_key: false
//!   keys_file: /run/secrets/partners.yaml
//!   clients:
//!     - { name: acme, key_sha256: "<64 hex>", operations: ["sha256:<64 hex>"], quota: { requests: 100, per: 1m } }
//! ```
//!
//! The clients' names, hashes and allow-lists are checked when the partners are loaded (the keys
//! file's clients with them, at every reload).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::primitives::{duration, parse_bool};

/// Partner settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PartnerSettings {
    /// The header carrying the key. Do not list it in `headers.forward`.
    pub header: String,
    /// Refuse requests without a key (`API_KEY_REQUIRED`).
    pub require_key: bool,
    pub clients: Vec<PartnerClient>,
    /// More clients, in a YAML or JSON file (`clients: [...]` or the bare list), reloaded on change.
    pub keys_file: Option<PathBuf>,
}

impl Default for PartnerSettings {
    fn default() -> Self {
        Self { header: "x-api-key".into(), require_key: false, clients: Vec::new(), keys_file: None }
    }
}

impl PartnerSettings {
    /// `ROUTER_PARTNER_KEYS_FILE` and `ROUTER_REQUIRE_API_KEY`.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = var("ROUTER_PARTNER_KEYS_FILE") {
            self.keys_file = Some(PathBuf::from(v.trim()));
        }
        if let Some(v) = var("ROUTER_REQUIRE_API_KEY") {
            self.require_key = parse_bool("ROUTER_REQUIRE_API_KEY", &v)?;
        }
        Ok(())
    }
}

/// One partner as configured.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerClient {
    pub name: String,
    /// The hex sha256 of the key: keys are never stored in clear.
    pub key_sha256: String,
    /// The trusted documents it may run, by id (`sha256:<hex>`, `<hex>` or a manifest's own
    /// id); absent: any operation.
    #[serde(default)]
    pub operations: Option<Vec<String>>,
    #[serde(default)]
    pub quota: Option<Quota>,
}

/// At most `requests` per `per` (enforced by the rate limiter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    pub requests: u64,
    #[serde(deserialize_with = "duration")]
    pub per: Duration,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn settings_read_from_yaml_and_the_environment() {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            partners: PartnerSettings,
        }
        let hash = "ab".repeat(32);
        let yaml = format!(
            "partners:\n  header: x-partner-key\n  require_key: true\n  keys_file: /run/secrets/partners.yaml\n  clients:\n    - {{ name: acme, key_sha256: {hash}, operations: [a], quota: {{ requests: 5, per: 500ms }} }}\n",
        );
        let file: File = yaml_serde::from_str(&yaml).expect("valid");
        let partners = file.partners;
        assert_eq!((partners.header.as_str(), partners.require_key), ("x-partner-key", true));
        assert_eq!(partners.keys_file, Some(PathBuf::from("/run/secrets/partners.yaml")));
        assert_eq!(partners.clients[0].key_sha256, hash);
        assert_eq!(partners.clients[0].operations, Some(vec!["a".to_owned()]));
        assert_eq!(partners.clients[0].quota, Some(Quota { requests: 5, per: Duration::from_millis(500) }));
        assert!(yaml_serde::from_str::<File>("partners: { clients: [{ name: a, key: b }] }").is_err());
        let defaults: File = yaml_serde::from_str("partners: {}").expect("defaults");
        assert_eq!(defaults.partners, PartnerSettings::default());

        let mut settings = PartnerSettings::default();
        let env = |name: &str| match name {
            "ROUTER_PARTNER_KEYS_FILE" => Some("/keys.yaml".to_owned()),
            "ROUTER_REQUIRE_API_KEY" => Some("yes".to_owned()),
            _ => None,
        };
        settings.apply_env(&env).expect("valid");
        assert_eq!((settings.keys_file.as_deref(), settings.require_key), (Some(Path::new("/keys.yaml")), true));
        let bad = |name: &str| (name == "ROUTER_REQUIRE_API_KEY").then(|| "sometimes".to_owned());
        assert!(settings.apply_env(&bad).is_err());
    }
}
