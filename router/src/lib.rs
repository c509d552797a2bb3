//! EduStream's federation router: a generic Federation v2 gateway.
//!
//! The request path: HTTP ([`http`]) → parse and validate against the API schema
//! ([`operation`]) → plan, cached ([`plan`]) → execute ([`execute`]) → shape the response
//! ([`response`]). It knows nothing about EduStream: any valid supergraph works.

pub mod api_schema;
pub mod cache;
pub mod compose;
pub mod config;
pub mod edge;
pub mod execute;
pub mod fieldset;
pub mod http;
pub mod limits;
pub mod operation;
pub mod plan;
pub mod policy;
pub mod reload;
pub mod response;
pub mod subscription;
pub mod supergraph;
pub mod telemetry;
pub mod traffic;

use std::sync::Arc;

use apollo_compiler::ExecutableDocument;
use apollo_compiler::validation::Valid;
use serde_json::{Map, Value, json};

pub use crate::config::RouterConfig;
use crate::edge::{apq, auth, ratelimit, trusted};
use crate::execute::{Executor, Forwarded};
use crate::operation::{Operation, RequestError};
use crate::plan::Plan;
pub use crate::plan::describe_plan;
pub use crate::supergraph::Supergraph;

/// A request as the router reads it from HTTP.
#[derive(Debug, Clone, Default)]
pub struct GraphqlRequest {
    pub query: String,
    pub operation_name: Option<String>,
    pub variables: Map<String, Value>,
}

/// The outcome of a request: the body and whether it failed before execution.
#[derive(Debug)]
pub struct GraphqlResponse {
    pub body: Value,
    /// A request error (parse, validation, variables): no data at all.
    pub request_error: bool,
}

/// A response written as JSON, and what the metrics need to know of it.
#[derive(Debug)]
pub struct WrittenResponse {
    pub body: Vec<u8>,
    /// A request error (parse, validation, variables): no data at all.
    pub request_error: bool,
    /// The body has `errors`.
    pub has_errors: bool,
    /// The body's `data` is not null.
    pub has_data: bool,
}

/// A parsed and validated document, and the plans of its operations (per operation name and
/// boolean variables), so that a request hashes its query text once.
struct Prepared {
    document: Arc<Valid<ExecutableDocument>>,
    /// Bounded (a document may be run with many boolean-variable combinations): the coldest
    /// plans are evicted.
    plans: quick_cache::sync::Cache<String, Arc<Planned>>,
}

struct Planned {
    operation: Operation,
    plan: Option<Plan>,
}

/// An operation ready to run (see [`Router::prepare`]).
struct Ready {
    planned: Arc<Planned>,
    /// The client's operation, when policies removed fields: the response keeps its shape.
    original: Option<Operation>,
    /// One per removed field.
    errors: Vec<Value>,
    /// Every field was removed: nothing is fetched.
    refused: bool,
    variables: Map<String, Value>,
    prepared: Arc<Prepared>,
    kind: apollo_compiler::ast::OperationType,
}

impl Ready {
    /// The plan to run, unless there is nothing to fetch.
    fn plan(&self) -> Option<&Plan> {
        self.planned.plan.as_ref().filter(|_| !self.refused)
    }
}

/// The router: the supergraph, caches, the subgraph lanes and the edge's guards.
pub struct Router {
    supergraph: Arc<Supergraph>,
    executor: Executor,
    config: RouterConfig,
    /// Parsed and validated documents by query text (bounded; the coldest are evicted).
    documents: quick_cache::sync::Cache<String, Arc<Prepared>>,
    apq: apq::Apq,
    trusted: Arc<trusted::TrustedDocuments>,
    partners: Arc<trusted::Partners>,
    authenticator: Option<auth::Authenticator>,
    policies: policy::Policies,
    limiter: Option<ratelimit::RateLimiter>,
    metrics: Arc<telemetry::Metrics>,
    /// The manifest and keys-file watchers; they end with the router.
    subscriptions: subscription::Subscriptions,
    watchers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Router {
    fn drop(&mut self) {
        for watcher in &self.watchers {
            watcher.abort();
        }
    }
}

/// Why a router cannot be built from its config (a file that does not load, a bad setting).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

const CACHE_CAPACITY: usize = 2_000;
/// Plans kept per document (per operation name, boolean variables, override labels, policies).
const PLANS_PER_DOCUMENT: usize = 64;

impl Router {
    /// A router for `supergraph` with a config that names no files (tests, embedded use).
    ///
    /// # Panics
    /// When the config's manifests, keys file or settings do not load: use [`Router::build`].
    pub fn new(supergraph: Supergraph, config: RouterConfig) -> Self {
        Self::build(supergraph, config).unwrap_or_else(|e| panic!("router config: {e}"))
    }

    /// A router for `supergraph`; the config's subgraph URLs replace the supergraph's. Loads the
    /// trusted documents and partners' keys (watched for changes when a Tokio runtime runs).
    pub fn build(supergraph: Supergraph, config: RouterConfig) -> Result<Self, BuildError> {
        Self::build_with(supergraph, config, Arc::new(telemetry::Metrics::new()))
    }

    /// [`Router::build`] recording into `metrics` (shared by the routers a reload builds, so
    /// counters survive it).
    pub fn build_with(
        mut supergraph: Supergraph,
        config: RouterConfig,
        metrics: Arc<telemetry::Metrics>,
    ) -> Result<Self, BuildError> {
        for graph in &mut supergraph.graphs {
            if let Some(url) = config.subgraph_urls.get(&graph.name) {
                graph.url.clone_from(url);
            }
        }
        let failed = |e: &dyn std::fmt::Display| BuildError(e.to_string());
        let trusted = Arc::new(trusted::TrustedDocuments::load(&config.persisted_documents).map_err(|e| failed(&e))?);
        let partners =
            Arc::new(trusted::Partners::load(&config.partners, Some(trusted.clone())).map_err(|e| failed(&e))?);
        let authenticator = match &config.authentication {
            Some(settings) => Some(auth::Authenticator::new(settings).map_err(|e| failed(&e))?),
            None => None,
        };
        // Partners' quotas are buckets too: the limiter exists when either is configured.
        let partners_configured = !config.partners.clients.is_empty() || config.partners.keys_file.is_some();
        let limiter = if config.rate_limit.enabled || partners_configured {
            Some(ratelimit::RateLimiter::new(&config.rate_limit, config.redis_url.as_deref()).map_err(|e| failed(&e))?)
        } else {
            None
        };
        let mut watchers = Vec::new();
        if tokio::runtime::Handle::try_current().is_ok() {
            let interval = config.persisted_documents.reload_interval;
            if trusted.is_enabled() {
                watchers.push(trusted.spawn_watcher(interval));
            }
            if config.partners.keys_file.is_some() {
                watchers.push(partners.spawn_watcher(interval));
            }
        }
        let subscriptions = subscription::Subscriptions::new(config.subscriptions.clone(), metrics.clone());
        Ok(Self {
            executor: Executor::new(&supergraph, &config, metrics.clone()),
            policies: policy::Policies::from_supergraph(&supergraph),
            supergraph: Arc::new(supergraph),
            apq: apq::Apq::new(config.apq.enabled, config.apq.capacity),
            config,
            documents: quick_cache::sync::Cache::new(CACHE_CAPACITY),
            trusted,
            partners,
            authenticator,
            limiter,
            subscriptions,
            metrics,
            watchers,
        })
    }

    pub fn metrics(&self) -> &Arc<telemetry::Metrics> {
        &self.metrics
    }

    pub fn trusted(&self) -> &trusted::TrustedDocuments {
        &self.trusted
    }

    pub fn partners(&self) -> &trusted::Partners {
        &self.partners
    }

    pub fn authenticator(&self) -> Option<&auth::Authenticator> {
        self.authenticator.as_ref()
    }

    pub fn limiter(&self) -> Option<&ratelimit::RateLimiter> {
        self.limiter.as_ref()
    }

    pub fn supergraph(&self) -> &Supergraph {
        &self.supergraph
    }

    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// The executor (its subgraph lanes and response cache).
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// Shares persisted queries and cached responses with the other replicas through Redis.
    pub async fn share_through_redis(&self, url: &str) -> Result<(), redis::RedisError> {
        if self.config.apq.enabled {
            self.apq
                .share_through_redis(url, "edustream:router:apq:", std::time::Duration::from_secs(24 * 3600))
                .await?;
        }
        self.executor.cache().share_through_redis(url, "edustream:router:cache:").await
    }

    /// The automatic persisted queries registry.
    pub fn apq(&self) -> &apq::Apq {
        &self.apq
    }

    fn document(&self, query: &str) -> Result<Arc<Prepared>, RequestError> {
        if let Some(found) = self.documents.get(query) {
            return Ok(found);
        }
        let document = operation::parse(&self.supergraph.api, query, self.config.operation_limits.max_tokens)?;
        let plans = quick_cache::sync::Cache::new(PLANS_PER_DOCUMENT);
        let prepared = Arc::new(Prepared { document: Arc::new(document), plans });
        self.documents.insert(query.to_owned(), prepared.clone());
        Ok(prepared)
    }

    /// Runs one GraphQL request; the body as a `Value` (see [`Router::execute_json`]).
    pub async fn execute(&self, request: GraphqlRequest, forwarded: &Forwarded, want_plan: bool) -> GraphqlResponse {
        let written = self.execute_json(request, forwarded, want_plan).await;
        let body = serde_json::from_slice(&written.body).unwrap_or(Value::Null);
        GraphqlResponse { body, request_error: written.request_error }
    }

    /// Runs one GraphQL request; the body written as JSON, straight from the merged data.
    pub async fn execute_json(
        &self,
        request: GraphqlRequest,
        forwarded: &Forwarded,
        want_plan: bool,
    ) -> WrittenResponse {
        match self.execute_inner(request, forwarded, want_plan).await {
            Ok(written) => written,
            Err(error) => {
                let body =
                    json!({ "errors": [{ "message": error.to_string(), "extensions": { "code": error.code() } }] });
                WrittenResponse {
                    body: serde_json::to_vec(&body).unwrap_or_default(),
                    request_error: true,
                    has_errors: true,
                    has_data: false,
                }
            }
        }
    }

    async fn execute_inner(
        &self,
        request: GraphqlRequest,
        forwarded: &Forwarded,
        want_plan: bool,
    ) -> Result<WrittenResponse, RequestError> {
        let ready = self.prepare(&request, forwarded)?;
        let mut data = Value::Object(Map::new());
        let mut errors = Vec::new();
        if let Some(plan) = ready.plan() {
            let (merged, subgraph_errors) =
                self.executor.run(&self.supergraph, plan, &ready.variables, forwarded).await;
            data = merged;
            errors = subgraph_errors;
        }
        if let Ok(operation) = ready.prepared.document.operations.get(request.operation_name.as_deref()) {
            let introspection = self.introspect(&ready.prepared.document, operation, &ready.variables);
            if let (Some(Value::Object(fields)), Value::Object(object)) = (introspection, &mut data) {
                object.extend(fields);
            }
        }
        Ok(self.finish(&ready, data, errors, want_plan))
    }

    /// Parses, validates, checks limits and policies, and plans an operation.
    fn prepare(&self, request: &GraphqlRequest, forwarded: &Forwarded) -> Result<Ready, RequestError> {
        let sg = &self.supergraph;
        let prepared = self.document(&request.query)?;
        let (operation, variables) =
            operation::select(&sg.api, &prepared.document, request.operation_name.as_deref(), &request.variables)?;
        limits::check(&prepared.document, operation, &self.config.operation_limits)?;
        if !self.config.introspection && limits::introspects(&prepared.document, &operation.selection_set) {
            return Err(RequestError::IntrospectionDisabled);
        }
        // `@authenticated` / `@requiresScopes`: fields the caller may not read are planned out,
        // and come back null (shaped by the original operation) next to one error each.
        let applied = self.policies.apply(
            &sg.api,
            &prepared.document,
            request.operation_name.as_deref(),
            forwarded.claims.as_deref(),
        );
        let planned = match &applied.document {
            Some(filtered) => {
                let filtered_operation = filtered
                    .operations
                    .get(request.operation_name.as_deref())
                    .map_err(|_| RequestError::Validation("the operation cannot be authorized".into()))?;
                self.planned(request, &prepared, filtered, &applied.signature, filtered_operation, &variables)?
            }
            None => self.planned(request, &prepared, &prepared.document, "", operation, &variables)?,
        };
        // The estimated cost, on the normalised operation: duplicates merged, fragments inlined once.
        limits::cost(&planned.operation, &variables, &self.config.operation_limits)?;
        let original = (applied.document.is_some() || applied.refused)
            .then(|| operation::normalize(&prepared.document, operation, &variables));
        let kind = operation.operation_type;
        Ok(Ready { planned, original, errors: applied.errors, refused: applied.refused, variables, prepared, kind })
    }

    /// The response body for `data` and `errors` merged from the subgraphs: fields the policies
    /// removed come back null, and the data is written shaped by the client's operation.
    fn finish(&self, ready: &Ready, mut data: Value, subgraph_errors: Vec<Value>, want_plan: bool) -> WrittenResponse {
        let sg = &self.supergraph;
        let mut errors = ready.errors.clone();
        errors.extend(subgraph_errors);
        if ready.original.is_some() {
            // Whatever a subgraph sent at a removed field is dropped: it comes back null.
            for error in &errors {
                if error["extensions"]["code"] == policy::UNAUTHORIZED
                    && let Some(path) = error["path"].as_array()
                {
                    null_at(&mut data, path);
                }
            }
        }
        let shape = ready.original.as_ref().unwrap_or(&ready.planned.operation);
        let mut out = Vec::with_capacity(4096);
        out.push(b'{');
        if !errors.is_empty() {
            out.extend_from_slice(b"\"errors\":");
            // Serialising `Value`s into a `Vec` cannot fail.
            let _ = serde_json::to_writer(&mut out, &errors);
            out.push(b',');
        }
        out.extend_from_slice(b"\"data\":");
        let null = response::write(sg, &shape.root_type, &shape.selections, &data, &mut out);
        if want_plan && self.config.expose_query_plan {
            let plan = ready.planned.plan.as_ref().map(|p| describe_plan(sg, p)).unwrap_or(Value::Null);
            out.extend_from_slice(b",\"extensions\":");
            let _ = serde_json::to_writer(&mut out, &json!({ "queryPlan": plan }));
        }
        out.push(b'}');
        WrittenResponse { body: out, request_error: false, has_errors: !errors.is_empty(), has_data: !null }
    }

    fn planned(
        &self,
        request: &GraphqlRequest,
        prepared: &Prepared,
        document: &Valid<ExecutableDocument>,
        removed: &str,
        operation: &apollo_compiler::executable::Operation,
        variables: &Map<String, Value>,
    ) -> Result<Arc<Planned>, RequestError> {
        // The plan depends on the document, the operation and the boolean variables (`@skip`/`@include`).
        let booleans: Vec<String> = operation
            .variables
            .iter()
            .filter(|v| v.ty.inner_named_type() == "Boolean")
            .map(|v| format!("{}={}", v.name, variables.get(v.name.as_str()).unwrap_or(&Value::Null)))
            .collect();
        // Progressive overrides: each `percent(n)` label is drawn per request.
        let labels: supergraph::Labels = self
            .supergraph
            .override_labels()
            .iter()
            .filter(|label| supergraph::label_percent(label).is_some_and(|p| rand::random::<f64>() * 100.0 < p))
            .cloned()
            .collect();
        let active: Vec<&str> = labels.iter().map(String::as_str).collect();
        let key = format!(
            "{}\u{0}{}\u{0}{}\u{0}{removed}",
            request.operation_name.as_deref().unwrap_or(""),
            booleans.join(","),
            active.join(",")
        );
        if let Some(found) = prepared.plans.get(&key) {
            self.metrics.cache("plan", true);
            return Ok(found);
        }
        self.metrics.cache("plan", false);
        let normalized = operation::normalize(document, operation, variables);
        let plan = if normalized.is_introspection_only {
            None
        } else {
            Some(
                plan::plan_with_labels(&self.supergraph, &normalized, &labels)
                    .map_err(|e| RequestError::Validation(e.to_string()))?,
            )
        };
        let planned = Arc::new(Planned { operation: normalized, plan });
        prepared.plans.insert(key, planned.clone());
        Ok(planned)
    }

    /// Answers the operation's `__schema` / `__type` root fields from the API schema.
    fn introspect(
        &self,
        document: &Valid<ExecutableDocument>,
        operation: &apollo_compiler::executable::Operation,
        variables: &Map<String, Value>,
    ) -> Option<Value> {
        // Only root fields written directly are answered (fragments at the root are normalised
        // away before planning and would need the same treatment).
        let wants = operation
            .selection_set
            .selections
            .iter()
            .any(|s| s.as_field().is_some_and(|f| f.name == "__schema" || f.name == "__type"));
        if !wants {
            return None;
        }
        let mut only: ExecutableDocument = (**document).clone();
        let name = operation.name.clone();
        let op = only.operations.get_mut(name.as_ref().map(|n| n.as_str())).ok()?;
        op.selection_set
            .selections
            .retain(|s| s.as_field().is_some_and(|f| f.name == "__schema" || f.name == "__type"));
        if op.selection_set.selections.is_empty() {
            return None;
        }
        let only = only.validate(&self.supergraph.api).ok()?;
        let op = only.operations.get(name.as_ref().map(|n| n.as_str())).ok()?;
        let json: apollo_compiler::response::JsonMap = variables
            .iter()
            .map(|(k, v)| (k.as_str().into(), apollo_compiler::response::JsonValue::from(v.clone())))
            .collect();
        let variables = apollo_compiler::request::coerce_variable_values(&self.supergraph.api, op, &json).ok()?;
        let response = apollo_compiler::introspection::partial_execute(
            &self.supergraph.api,
            &self.supergraph.api_implementers,
            &only,
            op,
            &variables,
        )
        .ok()?;
        serde_json::to_value(response.data?).ok()
    }
}

/// Serves the router on `listener` until `shutdown` resolves, letting in-flight requests finish.
pub async fn serve(
    router: Arc<Router>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = http::routes(router).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Sets the field at `path` (response keys; lists along the way are walked element by element)
/// to null wherever it is present.
fn null_at(value: &mut Value, path: &[Value]) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|item| null_at(item, path)),
        Value::Object(object) => match path {
            [Value::String(last)] => {
                if let Some(slot) = object.get_mut(last.as_str()) {
                    *slot = Value::Null;
                }
            }
            [Value::String(key), rest @ ..] => {
                if let Some(next) = object.get_mut(key.as_str()) {
                    null_at(next, rest);
                }
            }
            _ => {}
        },
        _ => {}
    }
}
