//! Manifest files: Apollo's persisted-query manifest
//! (`{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{id, name, type, body}]}`)
//! or the plain `{"<id>": "<document>"}` map of GraphQL Codegen and Relay.
//!
//! An id that looks like a sha256 (64 hex digits) must be its document's sha256: a manifest
//! edited by hand, or tampered with, does not load. Every document is also known by its own
//! sha256, so a client may name it so, or send its exact text, whatever id the manifest gives.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::{TrustedError, canonical_id, is_sha256};

/// One document and every canonical id it is known by (its sha256 first).
#[derive(Debug)]
pub(super) struct Document {
    pub(super) body: Arc<str>,
    pub(super) ids: Vec<String>,
}

/// All documents of all manifests, by canonical id.
#[derive(Debug, Default)]
pub(super) struct DocumentSet {
    by_id: HashMap<String, Arc<Document>>,
    documents: usize,
}

/// One entry as a manifest gives it.
struct Entry {
    id: String,
    body: String,
}

#[derive(Deserialize)]
struct ApolloManifest {
    format: String,
    version: u64,
    operations: Vec<ApolloOperation>,
}

/// `name` and `type` are informative: the body says both.
#[derive(Deserialize)]
struct ApolloOperation {
    id: String,
    body: String,
}

const APOLLO_FORMAT: &str = "apollo-persisted-query-manifest";

impl DocumentSet {
    pub(super) fn load(paths: &[PathBuf]) -> Result<Self, TrustedError> {
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let entries = read(path).map_err(|e| TrustedError::Load(format!("persisted documents: {e}")))?;
            files.push((path.as_path(), entries));
        }
        build(&files).map_err(|e| TrustedError::Load(format!("persisted documents: {e}")))
    }

    pub(super) fn get(&self, canonical: &str) -> Option<&Arc<Document>> {
        self.by_id.get(canonical)
    }

    pub(super) fn len(&self) -> usize {
        self.documents
    }
}

fn read(path: &Path) -> Result<Vec<Entry>, String> {
    let at = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {at}: {e}"))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| format!("{at} is not valid JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err(format!("{at}: a manifest is a JSON object (Apollo's manifest or a map of id to document)"));
    };
    let entries = if object.contains_key("format") {
        let manifest: ApolloManifest = serde_json::from_value(Value::Object(object))
            .map_err(|e| format!("{at} is not an Apollo persisted-query manifest: {e}"))?;
        if manifest.format != APOLLO_FORMAT || manifest.version != 1 {
            return Err(format!(
                "{at}: only `{APOLLO_FORMAT}` version 1 is supported, not `{}` version {}",
                manifest.format, manifest.version
            ));
        }
        manifest.operations.into_iter().map(|op| Entry { id: op.id, body: op.body }).collect()
    } else {
        let mut entries = Vec::with_capacity(object.len());
        for (id, body) in object {
            let Value::String(body) = body else {
                return Err(format!("{at}: the document under `{id}` is not a string"));
            };
            entries.push(Entry { id, body });
        }
        entries
    };
    for entry in &entries {
        check(entry).map_err(|e| format!("{at}: {e}"))?;
    }
    Ok(entries)
}

fn check(entry: &Entry) -> Result<(), String> {
    if entry.id.trim().is_empty() {
        return Err("an entry has an empty id".into());
    }
    if entry.body.trim().is_empty() {
        return Err(format!("the document `{}` is empty", entry.id));
    }
    let id = canonical_id(&entry.id);
    if is_sha256(&id) && crate::edge::apq::hash(&entry.body) != id {
        return Err(format!("the id `{}` is not the sha256 of its document (edited or tampered with?)", entry.id));
    }
    Ok(())
}

fn build(files: &[(&Path, Vec<Entry>)]) -> Result<DocumentSet, String> {
    // Documents by their sha256, and which document (and file) each declared id names.
    let mut documents: HashMap<String, (Arc<str>, Vec<String>)> = HashMap::new();
    let mut owners: HashMap<String, (String, &Path)> = HashMap::new();
    for (path, entries) in files {
        for entry in entries {
            let hash = crate::edge::apq::hash(&entry.body);
            let id = canonical_id(&entry.id);
            if let Some((owner, first)) = owners.get(&id)
                && *owner != hash
            {
                return Err(format!(
                    "the id `{}` names two different documents ({} and {})",
                    entry.id,
                    first.display(),
                    path.display()
                ));
            }
            owners.insert(id.clone(), (hash.clone(), path));
            let (_, ids) =
                documents.entry(hash.clone()).or_insert_with(|| (Arc::from(entry.body.as_str()), vec![hash]));
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    let mut set = DocumentSet { by_id: HashMap::new(), documents: documents.len() };
    for (body, ids) in documents.into_values() {
        let document = Arc::new(Document { body, ids });
        for id in &document.ids {
            set.by_id.insert(id.clone(), document.clone());
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{OTHER, QUERY, apollo, sha, write};
    use super::*;
    use serde_json::json;

    fn load(dir: &Path, files: &[(&str, String)]) -> Result<DocumentSet, TrustedError> {
        let mut paths = Vec::new();
        for (name, content) in files {
            let path = dir.join(name);
            write(&path, content, 0);
            paths.push(path);
        }
        DocumentSet::load(&paths)
    }

    fn body(set: &DocumentSet, id: &str) -> Option<String> {
        set.get(&canonical_id(id)).map(|d| d.body.to_string())
    }

    #[test]
    fn apollo_manifests_and_plain_maps_load() {
        let dir = tempfile::tempdir().expect("temp dir");
        let plain = json!({ sha(OTHER): OTHER, "relay-md5-0123": "query Relay { me { name } }" }).to_string();
        let set = load(dir.path(), &[("apollo.json", apollo(&[(&sha(QUERY), QUERY)])), ("codegen.json", plain)])
            .expect("valid");
        assert_eq!(set.len(), 3);
        assert_eq!(body(&set, &sha(QUERY)).as_deref(), Some(QUERY));
        assert_eq!(body(&set, &format!("sha256:{}", sha(OTHER))).as_deref(), Some(OTHER));
        assert_eq!(body(&set, "relay-md5-0123").as_deref(), Some("query Relay { me { name } }"));
        assert_eq!(
            body(&set, &sha("query Relay { me { name } }")).as_deref(),
            Some("query Relay { me { name } }"),
            "a document is also known by its own sha256"
        );
        assert!(body(&set, "RELAY-MD5-0123").is_none(), "other ids are exact");
    }

    #[test]
    fn a_tampered_manifest_does_not_load() {
        let dir = tempfile::tempdir().expect("temp dir");
        let id = sha(QUERY);
        for (name, content) in [
            ("apollo.json", apollo(&[(&id, "query Me { me { id password } }")])),
            ("plain.json", json!({ format!("sha256:{id}"): OTHER }).to_string()),
        ] {
            let error = load(dir.path(), &[(name, content)]).expect_err("tampered");
            let message = error.to_string();
            assert!(message.contains(name) && message.contains(&id) && message.contains("not the sha256"), "{message}");
            assert_eq!(error.code(), "INTERNAL_SERVER_ERROR");
        }
    }

    #[test]
    fn one_id_for_two_documents_is_refused_across_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = json!({ "Me@1": QUERY }).to_string();
        let second = json!({ "Me@1": OTHER }).to_string();
        let error = load(dir.path(), &[("first.json", first.clone()), ("second.json", second)]).expect_err("clash");
        let message = error.to_string();
        assert!(
            message.contains("Me@1") && message.contains("first.json") && message.contains("second.json"),
            "{message}"
        );
        let same = load(dir.path(), &[("first.json", first.clone()), ("again.json", first)]).expect("same document");
        assert_eq!(same.len(), 1);
    }

    #[test]
    fn malformed_manifests_are_refused_with_their_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cases = [
            ("a.json", "not json".to_owned(), "not valid JSON"),
            ("b.json", "[]".to_owned(), "a JSON object"),
            ("c.json", json!({ "Me": 1 }).to_string(), "not a string"),
            (
                "d.json",
                json!({ "format": "apollo-persisted-query-manifest", "version": 2, "operations": [] }).to_string(),
                "version 1",
            ),
            ("e.json", json!({ "format": "apollo-persisted-query-manifest", "version": 1 }).to_string(), "operations"),
            ("f.json", json!({ "Me": " " }).to_string(), "empty"),
        ];
        for (name, content, expected) in cases {
            let error = load(dir.path(), &[(name, content)]).expect_err(name);
            let message = error.to_string();
            assert!(message.contains(name) && message.contains(expected), "{name}: {message}");
        }
        let error = DocumentSet::load(&[dir.path().join("missing.json")]).expect_err("missing");
        assert!(error.to_string().contains("cannot read"), "{error}");
    }
}
