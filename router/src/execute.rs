//! Execution: runs a plan's fetches (independent ones in parallel), batches every object an
//! entity fetch applies to into one de-duplicated `_entities` call, and merges the results into
//! one response tree. A failing subgraph leaves its part null and adds an error; it never fails
//! the whole request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::{BoxFuture, join_all};
use serde_json::{Map, Value, json};

use crate::cache::ResponseCache;
use crate::config::{Protocol, RouterConfig, SubgraphSettings};
use crate::fieldset::{FieldSet, FieldSetItem};
use crate::plan::{FetchNode, Plan};
use crate::supergraph::Supergraph;
use crate::traffic::{FetchError, Lane};

/// A pooled client for one subgraph. HTTP/2 is cleartext with prior knowledge (h2c): every
/// request shares one multiplexed connection; HTTP/1.1 keeps a pool of connections alive.
fn subgraph_client(settings: &SubgraphSettings) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(5)))
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true);
    let builder = match settings.protocol {
        Protocol::Http1 => builder.http1_only(),
        Protocol::Http2 => builder
            .http2_prior_knowledge()
            .http2_keep_alive_interval(Duration::from_secs(30))
            .http2_keep_alive_while_idle(true),
    };
    builder.build().expect("an HTTP client without TLS builds")
}

/// What a client request carries: the headers forwarded to every subgraph, and the claims of
/// its verified token (for policies).
#[derive(Clone, Default)]
pub struct Forwarded {
    pub headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    pub claims: Option<Arc<crate::edge::auth::Claims>>,
    /// The client's address, as the edge resolved it (sent as `x-forwarded-for`).
    pub client: Option<std::net::IpAddr>,
}

/// The code of a subgraph error that came without one.
pub const SUBGRAPH_ERROR: &str = "SUBGRAPH_ERROR";

/// Extensions of a subgraph error that reach clients even when errors are masked: what a client
/// needs to act on the error. Anything else (stack traces, exceptions, internal details) stays in
/// the router's logs.
pub const SAFE_EXTENSIONS: &[&str] = &["code", "reason", "retryAfter", "field", "fields", "limit", "serviceName"];

pub struct Executor {
    /// One lane per subgraph (by graph index): its pooled client (own timeout and protocol),
    /// breaker, retries, in-flight sharing and cache.
    lanes: Vec<Arc<Lane>>,
    cache: Arc<ResponseCache>,
    metrics: Arc<crate::telemetry::Metrics>,
    expose_errors: bool,
}

#[derive(Default)]
struct State {
    data: Value,
    errors: Vec<Value>,
}

/// A position in the response: object keys and list indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl Executor {
    pub fn new(supergraph: &Supergraph, config: &RouterConfig, metrics: Arc<crate::telemetry::Metrics>) -> Self {
        let cache = Arc::new(ResponseCache::memory(config.response_cache_capacity));
        let lanes = supergraph
            .graphs
            .iter()
            .map(|graph| {
                let settings = config.subgraph(&graph.name);
                let client = subgraph_client(settings);
                let lane = Lane::new(&graph.name, &graph.url, client, settings, Some(cache.clone()));
                Arc::new(lane.with_metrics(metrics.clone()))
            })
            .collect();
        Self { lanes, cache, metrics, expose_errors: config.expose_subgraph_errors }
    }

    /// The response cache (in memory until shared through Redis).
    pub fn cache(&self) -> &ResponseCache {
        &self.cache
    }

    /// The lane of the subgraph named `name`.
    pub fn lane(&self, sg: &Supergraph, name: &str) -> Option<&Arc<Lane>> {
        sg.graphs.iter().position(|g| g.name == name).and_then(|i| self.lanes.get(i))
    }

    /// The error for a subgraph that could not be asked (down, timed out, not GraphQL, circuit open).
    fn request_failed(&self, service: &str, failure: FetchError, path: Option<Value>) -> Value {
        let code = failure.code();
        let (message, refused) = match failure {
            FetchError::CircuitOpen => (format!("subgraph {service} is failing; requests are paused"), false),
            FetchError::Failed(message) => (message, false),
            FetchError::Refused { message, .. } => (message, true),
        };
        tracing::warn!(service, %message, "subgraph request failed");
        // A refusal of the request itself says what the client can change: always shown.
        let shown = if self.expose_errors || refused { message } else { "a subgraph request failed".to_owned() };
        let mut error = json!({ "message": shown, "extensions": { "code": code } });
        if let Some(path) = path {
            error["path"] = path;
        }
        error
    }

    /// A subgraph's error as the client sees it: every error carries a code (`SUBGRAPH_ERROR`
    /// and the subgraph's name when it sent none); with exposure off the message is masked and
    /// only the extensions in [`SAFE_EXTENSIONS`] are kept.
    fn client_error(&self, mut error: Value, service: &str) -> Value {
        let has_code = error.get("extensions").and_then(|e| e.get("code")).is_some_and(Value::is_string);
        if !has_code && let Some(object) = error.as_object_mut() {
            let extensions = object.entry("extensions").or_insert_with(|| json!({}));
            if let Some(extensions) = extensions.as_object_mut() {
                extensions.insert("code".into(), Value::String(SUBGRAPH_ERROR.into()));
                extensions.insert("serviceName".into(), Value::String(service.to_owned()));
            }
        }
        if self.expose_errors {
            return subgraph_error(error, service);
        }
        let mut masked = json!({ "message": "subgraph error (details are in the router's logs)" });
        if let Some(path) = error.get("path") {
            masked["path"] = path.clone();
        }
        if let Some(extensions) = error.get("extensions").and_then(Value::as_object) {
            let kept: Map<String, Value> = extensions
                .iter()
                .filter(|(key, _)| SAFE_EXTENSIONS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            masked["extensions"] = Value::Object(kept);
        }
        tracing::debug!(service, %error, "subgraph error (masked for the client)");
        masked
    }

    /// Runs the plan; returns the merged data and the errors.
    pub async fn run(
        &self,
        sg: &Supergraph,
        plan: &Plan,
        variables: &Map<String, Value>,
        forwarded: &Forwarded,
    ) -> (Value, Vec<Value>) {
        let state = Arc::new(Mutex::new(State { data: Value::Object(Map::new()), errors: Vec::new() }));
        let run = |node| self.run_node(sg, node, variables, forwarded, state.clone());
        if plan.sequential {
            for node in &plan.roots {
                run(node).await;
            }
        } else {
            join_all(plan.roots.iter().map(run)).await;
        }
        let state = Arc::try_unwrap(state).map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()));
        match state {
            Ok(state) => (state.data, state.errors),
            Err(shared) => {
                let guard = shared.lock().unwrap_or_else(|p| p.into_inner());
                (guard.data.clone(), guard.errors.clone())
            }
        }
    }

    fn run_node<'a>(
        &'a self,
        sg: &'a Supergraph,
        node: &'a FetchNode,
        variables: &'a Map<String, Value>,
        forwarded: &'a Forwarded,
        state: Arc<Mutex<State>>,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            match &node.entity {
                None => self.root_fetch(sg, node, variables, forwarded, &state).await,
                Some(_) => self.entity_fetch(sg, node, variables, forwarded, &state).await,
            }
            // Children find their objects in the merged data; with none, they send nothing.
            join_all(node.children.iter().map(|c| self.run_node(sg, c, variables, forwarded, state.clone()))).await;
            join_all(node.after.iter().map(|c| self.run_node(sg, c, variables, forwarded, state.clone()))).await;
        })
    }

    /// The client's variables a subgraph operation uses.
    pub fn subgraph_variables(node: &FetchNode, variables: &Map<String, Value>) -> Map<String, Value> {
        node.variables.iter().filter_map(|n| variables.get(n.as_str()).map(|v| (n.to_string(), v.clone()))).collect()
    }

    async fn call(
        &self,
        node: &FetchNode,
        variables: Map<String, Value>,
        forwarded: &Forwarded,
    ) -> Result<Value, FetchError> {
        let body = serde_json::to_vec(&json!({ "query": node.operation, "variables": variables }))
            .map_err(|e| FetchError::Failed(format!("the subgraph request cannot be encoded: {e}")))?;
        use crate::telemetry::Outcome;
        use tracing::Instrument as _;
        let query = !node.operation.starts_with("mutation");
        let lane = &self.lanes[node.graph];
        let span = tracing::info_span!(
            "subgraph_fetch",
            otel.kind = "client",
            otel.name = %format_args!("subgraph {}", lane.name()),
            subgraph = %lane.name(),
        );
        let started = std::time::Instant::now();
        let result = lane.fetch(body, &forwarded.headers, forwarded.client, query).instrument(span).await;
        let outcome = match &result {
            Ok(body) if body.get("errors").is_some_and(|e| e.as_array().is_some_and(|e| !e.is_empty())) => {
                Outcome::Partial
            }
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Error,
        };
        self.metrics.subgraph(lane.name(), outcome, started.elapsed());
        // Shared with other waiters (or the cache): cloned then; moved when it is ours alone.
        Ok(Arc::try_unwrap(result?).unwrap_or_else(|shared| (*shared).clone()))
    }

    async fn root_fetch(
        &self,
        sg: &Supergraph,
        node: &FetchNode,
        variables: &Map<String, Value>,
        forwarded: &Forwarded,
        state: &Mutex<State>,
    ) {
        let result = self.call(node, Self::subgraph_variables(node, variables), forwarded).await;
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(body) => self.merge_root(sg, node, body, &mut state),
            Err(message) => {
                // Reported at the first root field the fetch would have filled (now null).
                let path = node.keys.first().map(|key| json!([key]));
                state.errors.push(self.request_failed(&sg.graphs[node.graph].name, message, path));
            }
        }
    }

    /// Merges a root fetch's response (`{data, errors}`) into the response tree.
    fn merge_root(&self, sg: &Supergraph, node: &FetchNode, mut body: Value, state: &mut State) {
        if let Some(Value::Array(errors)) = body.get_mut("errors").map(Value::take) {
            state.errors.extend(errors.into_iter().map(|e| self.client_error(e, &sg.graphs[node.graph].name)));
        }
        if let Some(mut data) = body.get_mut("data").map(Value::take).filter(Value::is_object) {
            unalias(&mut data, &node.renames);
            deep_merge(&mut state.data, data);
        }
    }

    /// Runs what a subscription's plan does after its root: `event` is one result of the root
    /// (subscription) fetch; the entity fetches below it complete it. Returns the merged data
    /// and the errors, as [`Executor::run`] does.
    pub async fn run_after_root(
        &self,
        sg: &Supergraph,
        root: &FetchNode,
        event: &Value,
        variables: &Map<String, Value>,
        forwarded: &Forwarded,
    ) -> (Value, Vec<Value>) {
        let mut first = State { data: Value::Object(Map::new()), errors: Vec::new() };
        self.merge_root(sg, root, event.clone(), &mut first);
        let state = Arc::new(Mutex::new(first));
        join_all(root.children.iter().map(|c| self.run_node(sg, c, variables, forwarded, state.clone()))).await;
        join_all(root.after.iter().map(|c| self.run_node(sg, c, variables, forwarded, state.clone()))).await;
        let state = state.lock().unwrap_or_else(|p| p.into_inner());
        (state.data.clone(), state.errors.clone())
    }

    async fn entity_fetch(
        &self,
        sg: &Supergraph,
        node: &FetchNode,
        variables: &Map<String, Value>,
        forwarded: &Forwarded,
        state: &Mutex<State>,
    ) {
        let Some(entity) = &node.entity else { return };
        // Visit the objects at the path once; remember the position (the list indices along
        // the path) of each one a representation stands for. Positions are in document order, so
        // the merge below walks the tree once and matches them in step — sibling fetches may have
        // added objects along the path meanwhile; those are passed over.
        let (representations, targets) = {
            let state = state.lock().unwrap_or_else(|p| p.into_inner());
            let mut representations: Vec<Value> = Vec::new();
            let mut targets: Vec<(Vec<u32>, usize)> = Vec::new();
            // Structural hash → indices of the representations with that hash (equality decides).
            let mut seen: std::collections::HashMap<u64, Vec<usize>> = std::collections::HashMap::new();
            visit(&state.data, &entity.path, &mut Vec::new(), &mut |object, position| {
                let Some(typename) = object.get("__typename").and_then(Value::as_str) else { return };
                if !entity.types.iter().any(|t| t == typename) {
                    return;
                }
                let Some(mut representation) = represent(sg, object, &entity.representation) else { return };
                // Asked as an interface (`@interfaceObject`): the interface is the typename.
                let as_type = if sg.is_abstract(&entity.entity) { entity.entity.as_str() } else { typename };
                representation.insert("__typename".into(), Value::String(as_type.to_owned()));
                let representation = Value::Object(representation);
                let bucket = seen.entry(structural_hash(&representation)).or_default();
                let index = match bucket.iter().find(|&&i| representations[i] == representation) {
                    Some(&i) => i,
                    None => {
                        bucket.push(representations.len());
                        representations.push(representation);
                        representations.len() - 1
                    }
                };
                targets.push((position.to_vec(), index));
            });
            (representations, targets)
        };
        if representations.is_empty() {
            return;
        }
        let count = representations.len();
        let mut vars = Self::subgraph_variables(node, variables);
        vars.insert("representations".into(), Value::Array(representations));
        let result = self.call(node, vars, forwarded).await;
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        let name = &sg.graphs[node.graph].name;
        let mut body = match result {
            Ok(body) => body,
            Err(message) => {
                // Reported at the first field the fetch would have filled on the first object
                // (a field that now stays null), not at the object itself.
                let path = targets.first().map(|(p, _)| {
                    let mut steps = steps(&state.data, &entity.path, p);
                    steps.extend(node.keys.first().map(|key| Step::Key(key.clone())));
                    path_json(&steps)
                });
                state.errors.push(self.request_failed(name, message, path));
                return;
            }
        };
        if let Some(Value::Array(errors)) = body.get_mut("errors").map(Value::take) {
            for mut error in errors {
                repath_entity_error(&mut error, &state.data, &entity.path, &targets);
                state.errors.push(self.client_error(error, name));
            }
        }
        let entities = body.get_mut("data").and_then(|d| d.get_mut("_entities")).map(Value::take);
        let Some(Value::Array(entities)) = entities else { return };
        let as_interface = sg.is_abstract(&entity.entity);
        let mut results: Vec<Option<Value>> = Vec::with_capacity(count);
        for mut entity_value in entities.into_iter().take(count) {
            if entity_value.is_null() {
                results.push(None);
                continue;
            }
            // An `@interfaceObject` subgraph answers with the interface as typename: keep the
            // object's real one.
            if as_interface
                && let Some(object) = entity_value.as_object_mut()
                && object.get("__typename").and_then(Value::as_str) == Some(entity.entity.as_str())
            {
                object.remove("__typename");
            }
            unalias(&mut entity_value, &node.renames);
            results.push(Some(entity_value));
        }
        // How many objects still take each result: the last one gets it moved, not cloned.
        let mut remaining = vec![0usize; count];
        for (_, i) in &targets {
            remaining[*i] += 1;
        }
        let mut next = 0;
        visit_mut(&mut state.data, &entity.path, &mut Vec::new(), &mut |object, position| {
            while next < targets.len() && targets[next].0.as_slice() < position {
                next += 1;
            }
            let Some((at, i)) = targets.get(next) else { return };
            if at.as_slice() != position {
                return;
            }
            let i = *i;
            next += 1;
            remaining[i] -= 1;
            let value = match results.get_mut(i) {
                Some(Some(v)) if remaining[i] > 0 => v.clone(),
                Some(result) => match result.take() {
                    Some(v) => v,
                    None => return,
                },
                None => return,
            };
            let Value::Object(fields) = value else { return };
            merge_fields(object, fields);
        });
    }
}

/// Merges `from`'s fields into `into` (one hash lookup per field).
fn merge_fields(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (key, value) in from {
        match into.entry(key) {
            serde_json::map::Entry::Occupied(mut existing) => deep_merge(existing.get_mut(), value),
            serde_json::map::Entry::Vacant(slot) => {
                slot.insert(value);
            }
        }
    }
}

/// A hash of a JSON value's structure and content (object keys in order), for deduplicating
/// representations without serialising them.
fn structural_hash(value: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    fn feed(value: &Value, h: &mut std::collections::hash_map::DefaultHasher) {
        match value {
            Value::Null => 0u8.hash(h),
            Value::Bool(b) => (1u8, b).hash(h),
            Value::Number(n) => (2u8, n.to_string()).hash(h),
            Value::String(s) => (3u8, s).hash(h),
            Value::Array(items) => {
                (4u8, items.len()).hash(h);
                items.iter().for_each(|v| feed(v, h));
            }
            Value::Object(map) => {
                (5u8, map.len()).hash(h);
                for (k, v) in map {
                    k.hash(h);
                    feed(v, h);
                }
            }
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    feed(value, &mut h);
    h.finish()
}

/// Calls `f` on every object at `path` (lists traversed), in document order, with its position:
/// the list indices along the way.
fn visit<'v>(
    value: &'v Value,
    path: &[apollo_compiler::Name],
    position: &mut Vec<u32>,
    f: &mut impl FnMut(&'v Map<String, Value>, &[u32]),
) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                position.push(i as u32);
                visit(item, path, position, f);
                position.pop();
            }
        }
        Value::Object(object) => match path.split_first() {
            None => f(object, position),
            Some((key, rest)) => {
                if let Some(next) = object.get(key.as_str()) {
                    visit(next, rest, position, f);
                }
            }
        },
        _ => {}
    }
}

/// [`visit`], mutably, in the same order.
fn visit_mut(
    value: &mut Value,
    path: &[apollo_compiler::Name],
    position: &mut Vec<u32>,
    f: &mut impl FnMut(&mut Map<String, Value>, &[u32]),
) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                position.push(i as u32);
                visit_mut(item, path, position, f);
                position.pop();
            }
        }
        Value::Object(object) => match path.split_first() {
            None => f(object, position),
            Some((key, rest)) => {
                if let Some(next) = object.get_mut(key.as_str()) {
                    visit_mut(next, rest, position, f);
                }
            }
        },
        _ => {}
    }
}

/// The response path of a position, read off the data: keys where objects are, the position's
/// list indices where lists are (errors only).
fn steps(data: &Value, path: &[apollo_compiler::Name], position: &[u32]) -> Vec<Step> {
    let mut out = Vec::with_capacity(path.len() + position.len());
    let (mut value, mut keys, mut indices) = (data, path.iter(), position.iter());
    loop {
        match value {
            Value::Array(items) => {
                let Some(&i) = indices.next() else { break };
                out.push(Step::Index(i as usize));
                let Some(item) = items.get(i as usize) else { break };
                value = item;
            }
            Value::Object(object) => {
                let Some(key) = keys.next() else { break };
                out.push(Step::Key(key.to_string()));
                let Some(next) = object.get(key.as_str()) else { break };
                value = next;
            }
            _ => break,
        }
    }
    out
}

/// Marks an error with the subgraph it came from (kept for diagnostics, not shown by default).
fn subgraph_error(mut error: Value, service: &str) -> Value {
    if let Some(object) = error.as_object_mut() {
        // Locations point into the subgraph's operation, not the client's.
        object.remove("locations");
        let extensions = object.entry("extensions").or_insert_with(|| json!({}));
        if let Some(ext) = extensions.as_object_mut() {
            ext.entry("serviceName").or_insert_with(|| Value::String(service.to_owned()));
        }
    }
    error
}

/// `["_entities", i, …rest]` becomes the path of the first object behind representation `i`.
fn repath_entity_error(error: &mut Value, data: &Value, path: &[apollo_compiler::Name], targets: &[(Vec<u32>, usize)]) {
    let Some(error_path) = error.get("path").and_then(Value::as_array).cloned() else { return };
    if error_path.first().and_then(Value::as_str) != Some("_entities") {
        return;
    }
    // `["_entities", i, …]`; a subgraph that leaves the index out (`["_entities", "email"]`)
    // points at the first representation.
    let (index, rest) = match error_path.get(1).and_then(Value::as_u64) {
        Some(index) => (index as usize, 2),
        None => (0, 1),
    };
    let Some((position, _)) = targets.iter().find(|(_, i)| *i == index) else { return };
    let mut new_path = match path_json(&steps(data, path, position)) {
        Value::Array(steps) => steps,
        _ => Vec::new(),
    };
    new_path.extend(error_path.into_iter().skip(rest));
    error["path"] = Value::Array(new_path);
}

fn path_json(position: &[Step]) -> Value {
    Value::Array(
        position
            .iter()
            .map(|s| match s {
                Step::Key(k) => Value::String(k.clone()),
                Step::Index(i) => json!(i),
            })
            .collect(),
    )
}

/// The representation of `object` for `set`, or `None` if a field is missing.
fn represent(sg: &Supergraph, object: &Map<String, Value>, set: &FieldSet) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    for item in &set.0 {
        match item {
            FieldSetItem::Field { name, sub, source, .. } => {
                let value = object.get(source.as_deref().unwrap_or(name))?;
                let value = if sub.0.is_empty() { value.clone() } else { represent_value(sg, value, sub)? };
                out.insert(name.clone(), value);
            }
            FieldSetItem::Fragment { on, sub } => {
                let typename = object.get("__typename").and_then(Value::as_str).unwrap_or_default();
                if sg.is_possible(on, typename) {
                    out.extend(represent(sg, object, sub)?);
                }
            }
        }
    }
    Some(out)
}

fn represent_value(sg: &Supergraph, value: &Value, set: &FieldSet) -> Option<Value> {
    match value {
        Value::Null => Some(Value::Null),
        Value::Array(items) => {
            items.iter().map(|v| represent_value(sg, v, set)).collect::<Option<Vec<_>>>().map(Value::Array)
        }
        Value::Object(object) => represent(sg, object, set).map(Value::Object),
        other => Some(other.clone()),
    }
}

/// Renames aliased fields back to their response keys, everywhere in `value`.
fn unalias(value: &mut Value, renames: &[(String, String)]) {
    if renames.is_empty() {
        return;
    }
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| unalias(v, renames)),
        Value::Object(object) => {
            for (alias, key) in renames {
                if let Some(moved) = object.remove(alias) {
                    match object.get_mut(key) {
                        Some(existing) => deep_merge(existing, moved),
                        None => {
                            object.insert(key.clone(), moved);
                        }
                    }
                }
            }
            object.values_mut().for_each(|v| unalias(v, renames));
        }
        _ => {}
    }
}

/// Merges `from` into `into`: objects key by key, lists element by element.
pub fn deep_merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => merge_fields(a, b),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (x, y) in a.iter_mut().zip(b) {
                deep_merge(x, y);
            }
        }
        (slot, value) => {
            if !value.is_null() || slot.is_null() {
                *slot = value;
            }
        }
    }
}
