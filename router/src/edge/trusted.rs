//! Trusted documents (persisted operations) and partners (API keys), decided before any parsing.
//!
//! A trusted document is an operation the team published in a manifest file: Apollo's
//! persisted-query manifest or the plain `{"<id>": "<document>"}` map of GraphQL Codegen and
//! Relay ([`manifest`]). Clients send its id (`documentId`, or Apollo's
//! `extensions.persistedQuery.sha256Hash`) instead of the text. With `safelist` on, only those
//! documents run at all, which closes the router to operations nobody reviewed.
//!
//! Partners ([`partners`]) are identified by an API key in a header; the router stores only the
//! keys' sha256. A partner may be restricted to a list of documents.
//!
//! [`TrustedDocuments::admit`] is the one decision: what the request carried, and who sent it,
//! give the text to run or a refusal with a stable code. Manifests and the partners' keys file
//! are polled for changes and swapped whole, so a reader sees either the old set or the new one;
//! a broken new version is refused and the old one keeps serving.
//!
//! The settings are [`crate::config::persisted_documents`]'s and [`crate::config::partners`]'s.

mod manifest;
mod partners;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, SystemTime};

use axum::http::StatusCode;

use crate::config::persisted_documents::TrustedSettings;
use manifest::DocumentSet;
pub use partners::{Client, Partners};

/// Why a request is refused, or why a manifest or keys file cannot be loaded. Messages are safe
/// to show to clients: they never repeat a key or a document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustedError {
    /// The id is in no manifest. [`TrustedDocuments::fallback_permitted`] tells whether the
    /// request may still be tried as an automatic persisted query.
    #[error("no persisted document has this id")]
    DocumentNotFound,
    #[error("this router only runs persisted documents: send the document's id instead of `query`")]
    DocumentRequired,
    #[error("this API key may not run this operation")]
    OperationNotAllowed,
    #[error("an API key is required in the `{header}` header")]
    ApiKeyRequired { header: String },
    #[error("the API key is not valid")]
    InvalidApiKey,
    /// A manifest, keys file or setting is wrong; for the operator (it names files), never sent
    /// to clients.
    #[error("{0}")]
    Load(String),
}

impl TrustedError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::DocumentNotFound => "PERSISTED_DOCUMENT_NOT_FOUND",
            Self::DocumentRequired => "PERSISTED_DOCUMENT_REQUIRED",
            Self::OperationNotAllowed => "OPERATION_NOT_ALLOWED",
            Self::ApiKeyRequired { .. } => "API_KEY_REQUIRED",
            Self::InvalidApiKey => "INVALID_API_KEY",
            Self::Load(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// 401 for key errors, 403 for a document the key may not run, 400 for the rest: an unknown
    /// id is a client error like an unknown field (unlike an automatic persisted query's "not
    /// found", it is not a request to send the text, which would be refused anyway).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::ApiKeyRequired { .. } | Self::InvalidApiKey => StatusCode::UNAUTHORIZED,
            Self::OperationNotAllowed => StatusCode::FORBIDDEN,
            Self::DocumentNotFound | Self::DocumentRequired => StatusCode::BAD_REQUEST,
            Self::Load(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The id a document is known by: `sha256:<hex>` and `<hex>` (any case) are the same sha256;
/// any other id (Relay's md5, a name with a version) is kept exactly as given.
pub fn canonical_id(id: &str) -> String {
    let id = id.trim();
    let bare = id.strip_prefix("sha256:").unwrap_or(id);
    if is_sha256(bare) { bare.to_ascii_lowercase() } else { id.to_owned() }
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What a request carried: the text of an operation, or the id of a trusted document
/// (`documentId`, or `extensions.persistedQuery.sha256Hash`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Query(String),
    DocumentId(String),
}

/// The text to parse and run, and the trusted document it is (for logs and metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub query: Arc<str>,
    /// The canonical id (the document's sha256 when the request named it so, or sent its text).
    pub document_id: Option<String>,
}

/// The trusted documents from the configured manifests, reloaded when they change.
pub struct TrustedDocuments {
    settings: TrustedSettings,
    set: RwLock<Arc<DocumentSet>>,
    files: Watched,
}

impl std::fmt::Debug for TrustedDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedDocuments").field("settings", &self.settings).field("documents", &self.len()).finish()
    }
}

impl TrustedDocuments {
    /// Reads every manifest; any error (unreadable file, unknown format, a hash that is not its
    /// document's, one id for two documents) refuses the whole set.
    pub fn load(settings: &TrustedSettings) -> Result<Self, TrustedError> {
        if settings.safelist && settings.manifests.is_empty() {
            return Err(TrustedError::Load(
                "persisted_documents.safelist needs at least one manifest (persisted_documents.manifests)".into(),
            ));
        }
        let files = Watched::new(settings.manifests.clone());
        let set = DocumentSet::load(&settings.manifests)?;
        Ok(Self { settings: settings.clone(), set: RwLock::new(Arc::new(set)), files })
    }

    pub fn settings(&self) -> &TrustedSettings {
        &self.settings
    }

    /// Whether manifests are configured (an empty file still counts: it was configured).
    pub fn is_enabled(&self) -> bool {
        !self.settings.manifests.is_empty()
    }

    fn current(&self) -> Arc<DocumentSet> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The number of distinct documents.
    pub fn len(&self) -> usize {
        self.current().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The document under `id` (any accepted form).
    pub fn get(&self, id: &str) -> Option<Arc<str>> {
        self.current().get(&canonical_id(id)).map(|d| d.body.clone())
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.current().get(&canonical_id(id)).is_some()
    }

    /// Whether an unknown id may be tried as an automatic persisted query: not under a safelist,
    /// nor for a client restricted to a list of documents.
    pub fn fallback_permitted(&self, client: Option<&Client>) -> bool {
        !self.settings.safelist && !client.is_some_and(Client::is_restricted)
    }

    /// What may run for this request. A document id runs its document if the client may run it;
    /// free-form text runs as is, unless the safelist is on or the client is restricted: then
    /// only when the text is exactly a trusted document the client may run.
    pub fn admit(&self, client: Option<&Client>, source: Source) -> Result<Admitted, TrustedError> {
        let may_run = |ids: &[String]| client.is_none_or(|c| c.may_run(ids));
        match source {
            Source::DocumentId(id) => {
                let id = canonical_id(&id);
                let set = self.current();
                let document = set.get(&id).ok_or(TrustedError::DocumentNotFound)?;
                if !may_run(&document.ids) {
                    return Err(TrustedError::OperationNotAllowed);
                }
                Ok(Admitted { query: document.body.clone(), document_id: Some(id) })
            }
            Source::Query(text) => {
                if !self.settings.safelist && !client.is_some_and(Client::is_restricted) {
                    return Ok(Admitted { query: Arc::from(text), document_id: None });
                }
                let hash = crate::edge::apq::hash(&text);
                let set = self.current();
                let document = set.get(&hash).ok_or(TrustedError::DocumentRequired)?;
                if !may_run(&document.ids) {
                    return Err(TrustedError::OperationNotAllowed);
                }
                Ok(Admitted { query: document.body.clone(), document_id: Some(hash) })
            }
        }
    }

    /// Reloads the manifests if one changed (modification time or length) since the last
    /// attempt, swapping the whole set. On an error the previous set keeps serving; the same
    /// broken files are reported once, not at every poll.
    pub fn reload_if_changed(&self) -> Result<bool, TrustedError> {
        self.files.reload(|| {
            let set = DocumentSet::load(&self.settings.manifests)?;
            *self.set.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
            Ok(())
        })
    }

    /// Polls the manifests every `interval` until the documents are dropped.
    pub fn spawn_watcher(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        watch(self, interval)
    }
}

/// What the watcher reloads.
trait Reload: Send + Sync + 'static {
    const WHAT: &'static str;
    fn reload_if_changed(&self) -> Result<bool, TrustedError>;
}

impl Reload for TrustedDocuments {
    const WHAT: &'static str = "persisted documents";
    fn reload_if_changed(&self) -> Result<bool, TrustedError> {
        TrustedDocuments::reload_if_changed(self)
    }
}

/// Polls on a blocking thread (reading files); holds only a weak reference, so it ends with
/// its owner.
fn watch<T: Reload>(this: &Arc<T>, interval: Duration) -> tokio::task::JoinHandle<()> {
    let this: Weak<T> = Arc::downgrade(this);
    // `interval` panics on zero; a programmatic setting could hold one.
    let period = interval.max(Duration::from_millis(10));
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // immediate: the files were just loaded
        loop {
            ticks.tick().await;
            let Some(this) = this.upgrade() else { return };
            match tokio::task::spawn_blocking(move || this.reload_if_changed()).await {
                Ok(Ok(true)) => tracing::info!("{}: reloaded", T::WHAT),
                Ok(Ok(false)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "{}: the new version is refused; the previous one stays", T::WHAT)
                }
                Err(error) => tracing::warn!(%error, "{}: the reload failed", T::WHAT),
            }
        }
    })
}

/// A file's modification time and length: what a poll compares. Kubernetes updates mounted
/// secrets by swapping a symlink, which changes the followed target's metadata too.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let metadata = std::fs::metadata(path).ok()?;
    Some(Stamp { modified: metadata.modified().ok(), len: metadata.len() })
}

/// Files and their stamps as of the last load attempt.
struct Watched {
    paths: Vec<PathBuf>,
    seen: Mutex<Vec<Option<Stamp>>>,
}

impl Watched {
    /// Stamps taken before the first load: a change during it is picked up by the next poll.
    fn new(paths: Vec<PathBuf>) -> Self {
        let seen = paths.iter().map(|p| stamp(p)).collect();
        Self { paths, seen: Mutex::new(seen) }
    }

    /// Runs `apply` (load and swap) when a stamp changed. The lock serialises reloads, so an
    /// older load never replaces a newer one.
    fn reload(&self, apply: impl FnOnce() -> Result<(), TrustedError>) -> Result<bool, TrustedError> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let now: Vec<Option<Stamp>> = self.paths.iter().map(|p| stamp(p)).collect();
        if *seen == now {
            return Ok(false);
        }
        *seen = now;
        apply().map(|()| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs::File;

    pub(super) const QUERY: &str = "query Me { me { id } }";
    pub(super) const OTHER: &str = "query Tutors { tutors { id name } }";

    pub(super) fn sha(text: &str) -> String {
        crate::edge::apq::hash(text)
    }

    /// Writes `content` and gives the file a modification time of its own, so a poll sees the
    /// change whatever the file system's timestamp granularity.
    pub(super) fn write(path: &Path, content: &str, version: u64) {
        std::fs::write(path, content).expect("writable temp file");
        let file = File::options().write(true).open(path).expect("just written");
        file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + version)).expect("settable mtime");
    }

    pub(super) fn apollo(operations: &[(&str, &str)]) -> String {
        let operations: Vec<_> = operations
            .iter()
            .map(|(id, body)| json!({ "id": id, "name": "Op", "type": "query", "body": body }))
            .collect();
        json!({ "format": "apollo-persisted-query-manifest", "version": 1, "operations": operations }).to_string()
    }

    pub(super) fn documents(dir: &Path, files: &[(&str, String)], safelist: bool) -> TrustedDocuments {
        let mut manifests = Vec::new();
        for (name, content) in files {
            let path = dir.join(name);
            write(&path, content, 0);
            manifests.push(path);
        }
        TrustedDocuments::load(&TrustedSettings { manifests, safelist, ..TrustedSettings::default() })
            .expect("valid manifests")
    }

    #[test]
    fn ids_in_both_sha256_forms_name_the_same_document() {
        let dir = tempfile::tempdir().expect("temp dir");
        let docs = documents(dir.path(), &[("a.json", apollo(&[(&sha(QUERY), QUERY)]))], false);
        let h = sha(QUERY);
        for id in [h.clone(), format!("sha256:{h}"), h.to_uppercase(), format!("sha256:{}", h.to_uppercase())] {
            let admitted = docs.admit(None, Source::DocumentId(id.clone())).expect(&id);
            assert_eq!(&*admitted.query, QUERY);
            assert_eq!(admitted.document_id.as_deref(), Some(h.as_str()));
        }
        assert_eq!(canonical_id("md5:ABC"), "md5:ABC", "other ids are kept as given");
    }

    #[test]
    fn an_unknown_id_is_not_found_and_may_fall_back_only_without_safelist() {
        let dir = tempfile::tempdir().expect("temp dir");
        let open = documents(dir.path(), &[("a.json", apollo(&[(&sha(QUERY), QUERY)]))], false);
        let error = open.admit(None, Source::DocumentId(sha(OTHER))).expect_err("unknown");
        assert_eq!((error.code(), error.status()), ("PERSISTED_DOCUMENT_NOT_FOUND", StatusCode::BAD_REQUEST));
        assert!(open.fallback_permitted(None));
        let closed = documents(dir.path(), &[("b.json", apollo(&[(&sha(QUERY), QUERY)]))], true);
        assert!(!closed.fallback_permitted(None));
    }

    #[test]
    fn without_safelist_any_query_runs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let docs = documents(dir.path(), &[("a.json", apollo(&[(&sha(QUERY), QUERY)]))], false);
        let admitted = docs.admit(None, Source::Query(OTHER.into())).expect("free-form");
        assert_eq!(admitted, Admitted { query: Arc::from(OTHER), document_id: None });
        let empty = TrustedDocuments::load(&TrustedSettings::default()).expect("no manifests");
        assert!(!empty.is_enabled() && empty.is_empty());
        assert_eq!(&*empty.admit(None, Source::Query(OTHER.into())).expect("free-form").query, OTHER);
    }

    #[test]
    fn the_safelist_refuses_free_form_queries_but_accepts_a_listed_documents_text() {
        let dir = tempfile::tempdir().expect("temp dir");
        let docs = documents(dir.path(), &[("a.json", apollo(&[(&sha(QUERY), QUERY)]))], true);
        let error = docs.admit(None, Source::Query(OTHER.into())).expect_err("not listed");
        assert_eq!((error.code(), error.status()), ("PERSISTED_DOCUMENT_REQUIRED", StatusCode::BAD_REQUEST));
        let admitted = docs.admit(None, Source::Query(QUERY.into())).expect("the exact text of a listed document");
        assert_eq!(admitted.document_id, Some(sha(QUERY)));
        let reformatted = QUERY.replace(' ', "  ");
        assert!(docs.admit(None, Source::Query(reformatted)).is_err(), "only the exact text");
        assert!(docs.admit(None, Source::DocumentId(sha(QUERY))).is_ok());
    }

    #[test]
    fn a_safelist_without_manifests_is_a_mistake() {
        let error = TrustedDocuments::load(&TrustedSettings { safelist: true, ..TrustedSettings::default() })
            .expect_err("nothing could run");
        assert!(error.to_string().contains("at least one manifest"), "{error}");
    }

    #[test]
    fn a_changed_manifest_is_reloaded_and_a_broken_one_keeps_the_old_set() {
        let dir = tempfile::tempdir().expect("temp dir");
        let docs = documents(dir.path(), &[("a.json", apollo(&[(&sha(QUERY), QUERY)]))], true);
        let path = dir.path().join("a.json");
        assert_eq!(docs.reload_if_changed(), Ok(false), "nothing changed");

        write(&path, &apollo(&[(&sha(QUERY), QUERY), (&sha(OTHER), OTHER)]), 1);
        assert_eq!(docs.reload_if_changed(), Ok(true));
        assert_eq!(docs.len(), 2);
        assert!(docs.get(&sha(OTHER)).is_some());

        let tampered = apollo(&[(&sha(QUERY), OTHER)]);
        write(&path, &tampered, 2);
        let error = docs.reload_if_changed().expect_err("tampered");
        assert!(error.to_string().contains("a.json"), "{error}");
        assert_eq!(docs.len(), 2, "the previous set keeps serving");
        assert_eq!(docs.reload_if_changed(), Ok(false), "a broken version is reported once");

        std::fs::remove_file(&path).expect("removable");
        assert!(docs.reload_if_changed().is_err(), "a vanished manifest is an error too");
        assert_eq!(docs.len(), 2);

        write(&path, &apollo(&[(&sha(OTHER), OTHER)]), 3);
        assert_eq!(docs.reload_if_changed(), Ok(true));
        assert!(docs.get(&sha(QUERY)).is_none() && docs.get(&sha(OTHER)).is_some());
    }

    #[tokio::test]
    async fn the_watcher_picks_up_a_change_and_ends_with_its_owner() {
        let dir = tempfile::tempdir().expect("temp dir");
        let docs = Arc::new(documents(dir.path(), &[("a.json", apollo(&[(&sha(QUERY), QUERY)]))], false));
        let watcher = docs.spawn_watcher(Duration::from_millis(10));
        write(&dir.path().join("a.json"), &apollo(&[(&sha(OTHER), OTHER)]), 1);
        // Waits for the outcome, with a generous deadline; the timing itself is not asserted.
        for _ in 0..1_000 {
            if docs.get(&sha(OTHER)).is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(docs.get(&sha(OTHER)).is_some(), "reloaded by the watcher");
        drop(docs);
        tokio::time::timeout(Duration::from_secs(10), watcher).await.expect("ends").expect("no panic");
    }
}
