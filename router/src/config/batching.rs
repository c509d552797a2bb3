//! `batching:`: batched requests (a JSON array of operations in one HTTP request), off by
//! default, at most `max_size` operations (1 to 1000) when on. `ROUTER_BATCHING` and
//! `ROUTER_BATCHING_MAX_SIZE` override it.
//!
//! ```yaml
//! batching: { enabled: false, max_size: 10 }
//! ```

use serde::Deserialize;

use super::ConfigError;
use super::primitives::parse_bool;

/// Batched requests: opt-in, at most `max_size` operations per request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Section")]
pub struct Batching {
    pub enabled: bool,
    pub max_size: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Self { enabled: false, max_size: 10 }
    }
}

/// The largest batch that may be configured.
const MAX_SIZE: usize = 1000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    #[serde(default)]
    enabled: bool,
    max_size: Option<usize>,
}

impl TryFrom<Section> for Batching {
    type Error = String;

    fn try_from(section: Section) -> Result<Self, String> {
        let mut batching = Self { enabled: section.enabled, ..Self::default() };
        if let Some(size) = section.max_size {
            if !(1..=MAX_SIZE).contains(&size) {
                return Err(format!("batching.max_size must be from 1 to {MAX_SIZE}"));
            }
            batching.max_size = size;
        }
        Ok(batching)
    }
}

impl Batching {
    /// Applies `ROUTER_BATCHING` (on/off) and `ROUTER_BATCHING_MAX_SIZE`.
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = var("ROUTER_BATCHING") {
            self.enabled = parse_bool("ROUTER_BATCHING", &v)?;
        }
        if let Some(v) = var("ROUTER_BATCHING_MAX_SIZE") {
            self.max_size = v.trim().parse().ok().filter(|n| (1..=MAX_SIZE).contains(n)).ok_or_else(|| {
                ConfigError(format!("ROUTER_BATCHING_MAX_SIZE: `{v}` is not a number from 1 to {MAX_SIZE}"))
            })?;
        }
        Ok(())
    }
}
