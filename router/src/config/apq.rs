//! `apq:`: automatic persisted queries (`edge::apq`), on by default, at most `capacity`
//! registered queries in memory, shared between replicas through Redis when `REDIS_URL` is set.
//! `ROUTER_APQ` turns them on or off.
//!
//! ```yaml
//! apq: { enabled: true, capacity: 10000 }
//! ```

use serde::Deserialize;

use super::ConfigError;
use super::primitives::parse_bool;

/// Automatic persisted queries: on by default, at most `capacity` registered queries in memory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Section")]
pub struct ApqSettings {
    pub enabled: bool,
    pub capacity: usize,
}

impl Default for ApqSettings {
    fn default() -> Self {
        Self { enabled: true, capacity: 10_000 }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    enabled: Option<bool>,
    capacity: Option<usize>,
}

impl TryFrom<Section> for ApqSettings {
    type Error = String;

    fn try_from(section: Section) -> Result<Self, String> {
        let mut apq = Self::default();
        apq.enabled = section.enabled.unwrap_or(apq.enabled);
        if let Some(capacity) = section.capacity {
            if capacity == 0 {
                return Err("apq.capacity must be positive".into());
            }
            apq.capacity = capacity;
        }
        Ok(apq)
    }
}

impl ApqSettings {
    /// Applies `ROUTER_APQ` (on/off).
    pub fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(v) = env("ROUTER_APQ").filter(|v| !v.trim().is_empty()) {
            self.enabled = parse_bool("ROUTER_APQ", &v)?;
        }
        Ok(())
    }
}
