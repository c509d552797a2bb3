//! Span export over OTLP/HTTP (protobuf) with the workspace's reqwest.
//!
//! The SDK's batch processor exports from a thread of its own, outside any Tokio runtime, and
//! our reqwest client needs one: requests run on a small runtime owned by the exporter, so
//! export neither depends on nor blocks the application's runtime (shutdown included).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::Settings;

/// How long one export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The runtime export requests run on. Shut down without waiting, so dropping it is allowed
/// anywhere, inside an async context too.
#[derive(Debug)]
pub(crate) struct ExportRuntime(Option<tokio::runtime::Runtime>);

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Sends the exporter's requests with reqwest on the export runtime.
#[derive(Debug)]
struct ReqwestOnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait]
impl HttpClient for ReqwestOnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let (status, headers, body) = self
            .runtime
            .spawn(async move {
                let response = client.execute(request).await?;
                let (status, headers) = (response.status(), response.headers().clone());
                Ok::<_, reqwest::Error>((status, headers, response.bytes().await?))
            })
            .await??;
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// A tracer provider exporting to `<endpoint>/v1/traces` in batches.
pub(crate) fn otlp_provider(
    endpoint: &str,
    settings: &Settings,
) -> Result<(SdkTracerProvider, ExportRuntime), Box<dyn std::error::Error + Send + Sync>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("otlp-export")
        .enable_all()
        .build()?;
    let client = reqwest::Client::builder().timeout(EXPORT_TIMEOUT).build()?;
    let http = ReqwestOnRuntime { client, runtime: runtime.handle().clone() };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(http)
        .with_endpoint(traces_url(endpoint))
        .with_timeout(EXPORT_TIMEOUT)
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(crate::sampler(settings.sample_ratio))
        .with_resource(crate::resource(&settings.service_name))
        .build();
    Ok((provider, ExportRuntime(Some(runtime))))
}

/// OTLP/HTTP's rule for the base endpoint: the signal's path is appended.
fn traces_url(endpoint: &str) -> String {
    format!("{}/v1/traces", endpoint.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_appended_to_the_base_endpoint() {
        assert_eq!(traces_url("http://localhost:4318"), "http://localhost:4318/v1/traces");
        assert_eq!(traces_url("http://localhost:4318/"), "http://localhost:4318/v1/traces");
    }

    /// A real export against a one-shot OTLP endpoint on loopback: the batch is posted as
    /// protobuf to /v1/traces when the guard is dropped.
    #[test]
    fn dropping_the_provider_posts_the_buffered_spans_to_the_collector() {
        use opentelemetry::trace::{Tracer as _, TracerProvider as _};
        use std::io::{Read as _, Write as _};

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
        let address = listener.local_addr().expect("has an address");
        let endpoint = format!("http://{address}");
        let collector = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("the exporter connects");
            let mut received = Vec::new();
            let mut buffer = [0u8; 8192];
            // Read the head and the body announced by content-length.
            loop {
                let n = stream.read(&mut buffer).expect("reads");
                received.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&received).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if received.len() >= head_end + 4 + length || n == 0 {
                        break;
                    }
                }
            }
            let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            stream.write_all(reply.as_bytes()).expect("replies");
            received
        });

        let settings = Settings::from_env("export-test", |_| None).expect("valid");
        let (provider, runtime) = otlp_provider(&endpoint, &settings).expect("builds");
        provider.tracer("test").in_span("exported-span", |_| {});
        let guard = crate::TelemetryGuard { provider: Some(provider), _runtime: Some(runtime) };
        drop(guard);
        // The export has finished (or failed) by now: a connection that sends nothing ends the
        // collector's wait if the exporter never came.
        let _ = std::net::TcpStream::connect(address);

        let received = collector.join().expect("the collector thread ends");
        let text = String::from_utf8_lossy(&received);
        assert!(text.starts_with("POST /v1/traces "), "{text}");
        assert!(text.to_ascii_lowercase().contains("content-type: application/x-protobuf"), "{text}");
        assert!(text.contains("exported-span"), "the span name is in the protobuf body");
        assert!(text.contains("export-test"), "so is service.name");
    }
}
