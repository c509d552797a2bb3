//! Execution: runs a plan's fetches (independent ones in parallel), batches every object an
//! entity fetch applies to into one de-duplicated `_entities` call, and merges the results into
//! one response tree. A failing subgraph leaves its part null and adds an error; it never fails
//! the whole request.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::{BoxFuture, join_all};
use serde_json::{Map, Value, json};

use crate::config::{Protocol, RouterConfig, SubgraphSettings};
use crate::fieldset::{FieldSet, FieldSetItem};
use crate::plan::{FetchNode, Plan};
use crate::supergraph::Supergraph;

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

/// What a client request carries to every subgraph.
#[derive(Clone, Default)]
pub struct Forwarded {
    pub headers: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
}

pub struct Executor {
    /// One pooled client per subgraph (by graph index): each has its own timeout and protocol.
    clients: Vec<reqwest::Client>,
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
    pub fn new(supergraph: &Supergraph, config: &RouterConfig) -> Self {
        let clients = supergraph.graphs.iter().map(|graph| subgraph_client(config.subgraph(&graph.name))).collect();
        Self { clients, expose_errors: config.expose_subgraph_errors }
    }

    /// The error for a subgraph that could not be asked (down, timed out, not GraphQL).
    fn request_failed(&self, service: &str, message: String, path: Option<Value>) -> Value {
        tracing::warn!(service, %message, "subgraph request failed");
        let shown = if self.expose_errors { message } else { "a subgraph request failed".to_owned() };
        let mut error = json!({ "message": shown, "extensions": { "code": "SUBGRAPH_REQUEST_FAILED" } });
        if let Some(path) = path {
            error["path"] = path;
        }
        error
    }

    /// A subgraph's error as the client sees it: with its message only when exposure is on.
    fn client_error(&self, error: Value, service: &str) -> Value {
        if self.expose_errors {
            return subgraph_error(error, service);
        }
        let mut masked = json!({ "message": "subgraph error (details are in the router's logs)" });
        if let Some(path) = error.get("path") {
            masked["path"] = path.clone();
        }
        let code = error.get("extensions").and_then(|e| e.get("code")).cloned();
        if let Some(code) = code {
            masked["extensions"] = json!({ "code": code });
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

    fn subgraph_variables(node: &FetchNode, variables: &Map<String, Value>) -> Map<String, Value> {
        node.variables.iter().filter_map(|n| variables.get(n.as_str()).map(|v| (n.to_string(), v.clone()))).collect()
    }

    async fn call(
        &self,
        sg: &Supergraph,
        node: &FetchNode,
        variables: Map<String, Value>,
        forwarded: &Forwarded,
    ) -> Result<Value, String> {
        let graph = &sg.graphs[node.graph];
        let mut request =
            self.clients[node.graph].post(&graph.url).json(&json!({ "query": node.operation, "variables": variables }));
        for (name, value) in &forwarded.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| format!("subgraph {} is unreachable: {e}", graph.name))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("subgraph {} sent an invalid response ({status}): {e}", graph.name))?;
        if !body.is_object() {
            return Err(format!("subgraph {} sent a response that is not a JSON object", graph.name));
        }
        Ok(body)
    }

    async fn root_fetch(
        &self,
        sg: &Supergraph,
        node: &FetchNode,
        variables: &Map<String, Value>,
        forwarded: &Forwarded,
        state: &Mutex<State>,
    ) {
        let result = self.call(sg, node, Self::subgraph_variables(node, variables), forwarded).await;
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(mut body) => {
                if let Some(Value::Array(errors)) = body.get_mut("errors").map(Value::take) {
                    state.errors.extend(errors.into_iter().map(|e| self.client_error(e, &sg.graphs[node.graph].name)));
                }
                if let Some(mut data) = body.get_mut("data").map(Value::take).filter(Value::is_object) {
                    unalias(&mut data, &node.renames);
                    deep_merge(&mut state.data, data);
                }
            }
            Err(message) => {
                state.errors.push(self.request_failed(&sg.graphs[node.graph].name, message, None));
            }
        }
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
        // Collect the objects and their representations (deduplicated).
        let (representations, targets) = {
            let state = state.lock().unwrap_or_else(|p| p.into_inner());
            let mut found = Vec::new();
            collect(&state.data, &entity.path, &mut Vec::new(), &mut found);
            let mut representations: Vec<Value> = Vec::new();
            let mut targets: Vec<Vec<Vec<Step>>> = Vec::new();
            let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
            for (position, object) in found {
                let Some(typename) = object.get("__typename").and_then(Value::as_str) else { continue };
                if !entity.types.iter().any(|t| t == typename) {
                    continue;
                }
                let Some(mut representation) = represent(sg, object, &entity.representation) else { continue };
                // Asked as an interface (`@interfaceObject`): the interface is the typename.
                let as_type = if sg.is_abstract(&entity.entity) { entity.entity.as_str() } else { typename };
                representation.insert("__typename".into(), Value::String(as_type.to_owned()));
                let representation = Value::Object(representation);
                // Equal representations serialise equally (fields in field-set order).
                let identity = representation.to_string();
                match seen.get(&identity) {
                    Some(&i) => targets[i].push(position),
                    None => {
                        seen.insert(identity, representations.len());
                        representations.push(representation);
                        targets.push(vec![position]);
                    }
                }
            }
            (representations, targets)
        };
        if representations.is_empty() {
            return;
        }
        let mut vars = Self::subgraph_variables(node, variables);
        vars.insert("representations".into(), Value::Array(representations));
        let result = self.call(sg, node, vars, forwarded).await;
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        let name = &sg.graphs[node.graph].name;
        let mut body = match result {
            Ok(body) => body,
            Err(message) => {
                let path = targets.first().and_then(|t| t.first()).map(|p| path_json(p));
                state.errors.push(self.request_failed(name, message, path));
                return;
            }
        };
        if let Some(Value::Array(errors)) = body.get_mut("errors").map(Value::take) {
            for mut error in errors {
                repath_entity_error(&mut error, &targets);
                state.errors.push(self.client_error(error, name));
            }
        }
        let entities = body.get_mut("data").and_then(|d| d.get_mut("_entities")).map(Value::take);
        let Some(Value::Array(entities)) = entities else { return };
        let as_interface = sg.is_abstract(&entity.entity);
        for (i, mut entity_value) in entities.into_iter().enumerate() {
            let Some(positions) = targets.get(i) else { break };
            if entity_value.is_null() {
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
            let entity = entity_value;
            for position in positions {
                if let Some(target) = at_mut(&mut state.data, position) {
                    deep_merge(target, entity.clone());
                }
            }
        }
    }
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

/// `["_entities", i, …rest]` becomes the path of the object behind representation `i`.
fn repath_entity_error(error: &mut Value, targets: &[Vec<Vec<Step>>]) {
    let Some(path) = error.get("path").and_then(Value::as_array).cloned() else { return };
    if path.first().and_then(Value::as_str) != Some("_entities") {
        return;
    }
    let Some(index) = path.get(1).and_then(Value::as_u64) else { return };
    let Some(position) = targets.get(index as usize).and_then(|t| t.first()) else { return };
    let mut new_path = match path_json(position) {
        Value::Array(steps) => steps,
        _ => Vec::new(),
    };
    new_path.extend(path.into_iter().skip(2));
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

/// Every object found at `path` (lists traversed), with its position.
fn collect<'v>(
    value: &'v Value,
    path: &[apollo_compiler::Name],
    position: &mut Vec<Step>,
    out: &mut Vec<(Vec<Step>, &'v Map<String, Value>)>,
) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                position.push(Step::Index(i));
                collect(item, path, position, out);
                position.pop();
            }
        }
        Value::Object(object) => match path.split_first() {
            None => out.push((position.clone(), object)),
            Some((key, rest)) => {
                if let Some(next) = object.get(key.as_str()) {
                    position.push(Step::Key(key.to_string()));
                    collect(next, rest, position, out);
                    position.pop();
                }
            }
        },
        _ => {}
    }
}

fn at_mut<'v>(value: &'v mut Value, position: &[Step]) -> Option<&'v mut Value> {
    let mut current = value;
    for step in position {
        current = match step {
            Step::Key(k) => current.get_mut(k.as_str())?,
            Step::Index(i) => current.get_mut(*i)?,
        };
    }
    Some(current)
}

/// The representation of `object` for `set`, or `None` if a field is missing.
fn represent(sg: &Supergraph, object: &Map<String, Value>, set: &FieldSet) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    for item in &set.0 {
        match item {
            FieldSetItem::Field { name, sub, .. } => {
                let value = object.get(name)?;
                let value = if sub.0.is_empty() { value.clone() } else { represent_value(sg, value, sub)? };
                out.insert(name.clone(), value);
            }
            FieldSetItem::Fragment { on, sub } => {
                let typename = object.get("__typename").and_then(Value::as_str).unwrap_or_default();
                if typename == on || sg.possible_types(on).iter().any(|t| t == typename) {
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
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
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
