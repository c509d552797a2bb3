//! Logs (human on a terminal, JSON with `LOG_FORMAT=json`) and the Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

/// Installs the global subscriber once; later calls (several services in one process) are no-ops.
pub fn init_tracing(format: LogFormat) {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let filter = EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,lapin=warn,async_graphql=warn"));
        let builder = tracing_subscriber::fmt().with_env_filter(filter).with_span_events(FmtSpan::NONE);
        let result = match format {
            LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
            LogFormat::Human => builder.try_init(),
        };
        // A subscriber already set (by a test harness) is fine: logs go there.
        drop(result);
    });
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests); then this handle renders nothing
            // from it, which only affects that test process.
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::debug!("a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}

/// Keeps label values bounded: operation names are client-chosen, so only short identifiers
/// are kept, and past a cap every new name is counted as `other`.
pub fn bounded_operation_label(name: Option<&str>) -> String {
    use std::collections::HashSet;
    use std::sync::Mutex;
    const MAX_NAMES: usize = 500;
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();

    let Some(name) = name.filter(|n| !n.is_empty()) else { return "anonymous".into() };
    let well_formed = name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        return "other".into();
    }
    let mut seen = SEEN.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if seen.contains(name) || seen.len() < MAX_NAMES {
        seen.insert(name.to_owned());
        name.to_owned()
    } else {
        "other".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_bounded() {
        assert_eq!(bounded_operation_label(None), "anonymous");
        assert_eq!(bounded_operation_label(Some("Me")), "Me");
        assert_eq!(bounded_operation_label(Some("x\ny")), "other");
        assert_eq!(bounded_operation_label(Some(&"a".repeat(65))), "other");
    }
}
