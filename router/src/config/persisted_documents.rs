//! `persisted_documents:`: trusted documents (`edge::trusted`), the manifests of
//! operations the team published, polled for changes; with `safelist` on, only those operations
//! run. `ROUTER_PERSISTED_DOCUMENTS` (manifest paths, comma-separated) and `ROUTER_SAFELIST`
//! override it.
//!
//! ```yaml
//! persisted_documents: { manifests: [persisted-documents.json], reload_interval: 5s, safelist: false }
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::primitives::{duration, parse_bool};

/// Trusted documents settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustedSettings {
    /// Manifest files (JSON); none: no trusted documents.
    pub manifests: Vec<PathBuf>,
    /// How often the manifests are checked for changes.
    #[serde(deserialize_with = "duration")]
    pub reload_interval: Duration,
    /// Only documents from the manifests may run; a free-form `query` is refused unless its
    /// text is one of them.
    pub safelist: bool,
}

impl Default for TrustedSettings {
    fn default() -> Self {
        Self { manifests: Vec::new(), reload_interval: Duration::from_secs(5), safelist: false }
    }
}

impl TrustedSettings {
    /// `ROUTER_PERSISTED_DOCUMENTS` (manifest paths, comma-separated) and `ROUTER_SAFELIST`.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = var("ROUTER_PERSISTED_DOCUMENTS") {
            self.manifests = v.split(',').map(str::trim).filter(|p| !p.is_empty()).map(PathBuf::from).collect();
        }
        if let Some(v) = var("ROUTER_SAFELIST") {
            self.safelist = parse_bool("ROUTER_SAFELIST", &v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl TrustedSettings {
        fn with_interval(self, reload_interval: Duration) -> Self {
            Self { reload_interval, ..self }
        }
    }

    #[test]
    fn settings_read_from_yaml_and_the_environment() {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            persisted_documents: TrustedSettings,
        }
        let yaml = "persisted_documents: { manifests: [a.json, b.json], reload_interval: 500ms, safelist: true }";
        let file: File = yaml_serde::from_str(yaml).expect("valid");
        let expected = TrustedSettings {
            manifests: vec!["a.json".into(), "b.json".into()],
            reload_interval: Duration::from_millis(500),
            safelist: true,
        };
        assert_eq!(file.persisted_documents, expected);
        let file: File = yaml_serde::from_str("persisted_documents: { reload_interval: 2 }").expect("seconds");
        assert_eq!(file.persisted_documents.reload_interval, Duration::from_secs(2));
        let file: File = yaml_serde::from_str("persisted_documents: {}").expect("defaults");
        assert_eq!(file.persisted_documents, TrustedSettings::default());
        for (yaml, expected) in [
            ("persisted_documents: { manifest: [a.json] }", "unknown field `manifest`"),
            ("persisted_documents: { reload_interval: soon }", "not a duration"),
            ("persisted_documents: { reload_interval: 0s }", "longer than zero"),
        ] {
            let error = yaml_serde::from_str::<File>(yaml).err().expect(yaml);
            assert!(error.to_string().contains(expected), "{yaml}: {error}");
        }

        let mut settings = TrustedSettings::default();
        let env = |name: &str| match name {
            "ROUTER_PERSISTED_DOCUMENTS" => Some(" a.json, ,b.json ".to_owned()),
            "ROUTER_SAFELIST" => Some("true".to_owned()),
            _ => None,
        };
        settings.apply_env(&env).expect("valid");
        assert_eq!(settings, expected.clone().with_interval(Duration::from_secs(5)));
        let bad = |name: &str| (name == "ROUTER_SAFELIST").then(|| "maybe".to_owned());
        assert!(settings.apply_env(&bad).is_err());
    }
}
