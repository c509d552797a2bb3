//! What [`init`](crate::init) reads from the environment, read once at start-up.

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

/// The tracing settings of one process.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `service.name` of exported spans: `OTEL_SERVICE_NAME`, else the service's own name.
    pub service_name: String,
    /// `LOG_FORMAT`: `human` (default) or `json`.
    pub log_format: LogFormat,
    /// `RUST_LOG` directives, when set.
    pub filter: Option<String>,
    /// The directives used without `RUST_LOG`.
    pub default_filter: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (e.g. `http://localhost:4318`): spans go to
    /// `<endpoint>/v1/traces`; unset, nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// `OTEL_TRACES_SAMPLER_ARG`: the share of new traces kept, 0.0–1.0 (default 1.0).
    pub sample_ratio: f64,
    /// Values that were ignored, logged once the subscriber is up.
    pub warnings: Vec<String>,
}

/// An environment variable with a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}={value:?}: {expected}")]
pub struct SettingsError {
    pub name: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl Settings {
    /// Reads the settings through `env` (`|name| std::env::var(name).ok()` in a binary).
    pub fn from_env(service_name: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let non_empty = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let log_format = match non_empty("LOG_FORMAT").as_deref().unwrap_or("human") {
            "human" | "text" => LogFormat::Human,
            "json" => LogFormat::Json,
            other => {
                return Err(SettingsError {
                    name: "LOG_FORMAT",
                    value: other.to_owned(),
                    expected: "expected `human` or `json`",
                });
            }
        };
        let mut warnings = Vec::new();
        let sample_ratio = match non_empty("OTEL_TRACES_SAMPLER_ARG") {
            None => 1.0,
            Some(raw) => parse_ratio(&raw).unwrap_or_else(|| {
                warnings.push(format!("OTEL_TRACES_SAMPLER_ARG={raw:?} is not a ratio in 0..=1; sampling every trace"));
                1.0
            }),
        };
        Ok(Self {
            service_name: non_empty("OTEL_SERVICE_NAME").unwrap_or_else(|| service_name.to_owned()),
            log_format,
            filter: non_empty("RUST_LOG"),
            default_filter: "info".to_owned(),
            otlp_endpoint: non_empty("OTEL_EXPORTER_OTLP_ENDPOINT"),
            sample_ratio,
            warnings,
        })
    }

    /// The directives used when `RUST_LOG` is not set.
    pub fn with_default_filter(mut self, directives: &str) -> Self {
        self.default_filter = directives.to_owned();
        self
    }
}

fn parse_ratio(raw: &str) -> Option<f64> {
    raw.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn without_variables_logs_are_human_and_nothing_is_exported() {
        let settings = Settings::from_env("router", env(&[])).expect("valid");
        assert_eq!(settings.service_name, "router");
        assert_eq!(settings.log_format, LogFormat::Human);
        assert_eq!(settings.otlp_endpoint, None);
        assert_eq!(settings.sample_ratio, 1.0);
    }

    #[test]
    fn otel_variables_name_the_service_the_endpoint_and_the_ratio() {
        let vars = [
            ("OTEL_SERVICE_NAME", "edge-router"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("LOG_FORMAT", "json"),
        ];
        let settings = Settings::from_env("router", env(&vars)).expect("valid");
        assert_eq!(settings.service_name, "edge-router");
        assert_eq!(settings.otlp_endpoint.as_deref(), Some("http://collector:4318"));
        assert_eq!(settings.sample_ratio, 0.25);
        assert_eq!(settings.log_format, LogFormat::Json);
    }

    #[test]
    fn a_ratio_out_of_range_samples_everything_with_a_warning() {
        let settings = Settings::from_env("router", env(&[("OTEL_TRACES_SAMPLER_ARG", "2")])).expect("valid");
        assert_eq!(settings.sample_ratio, 1.0);
        assert_eq!(settings.warnings.len(), 1);
    }

    #[test]
    fn an_unknown_log_format_is_refused() {
        let error = Settings::from_env("router", env(&[("LOG_FORMAT", "xml")])).expect_err("invalid");
        assert_eq!(error.name, "LOG_FORMAT");
    }
}
