//! The notification use cases: turning a consumed event's plan into stored notifications (one
//! transaction with the inbox record), the dispatcher that delivers pending ones with retries,
//! the release of unread-message notifications after their delay, and what users do through
//! the API (read their notifications, mark them read, set preferences, register devices).
//!
//! Time-driven work takes `now` explicitly ([`NotificationService::dispatch_due`],
//! [`NotificationService::send_due_messages`]) so tests drive it without sleeping; the
//! background loop calls them with the clock.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use kernel::EventEnvelope;
use platform::live::Fanout;
use platform::{Principal, Shutdown};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::channels::{Address, Channels, Outgoing};
use crate::domain::{
    self, Attempt, Channel, Contact, DeliveryFailure, Kind, Notification, Outcome, PendingMessage, Preference, Reach,
    RetryPolicy, Status, UserId,
};
use crate::error::ServiceError;
use crate::events::{self, Intent, Plan};
use crate::store::{ContactChange, Effect, NotificationStore, StoreError};
use crate::templates::{self, TemplateError, Var};

pub const MAX_PAGE: usize = 50;
pub const DEFAULT_PAGE: usize = 20;
/// Deliveries sent at once by one dispatcher: also what one round of a pass claims.
const PARALLEL_SENDS: usize = 8;
/// Attempts in one pass (rounds of [`PARALLEL_SENDS`]) before the loop looks at due messages.
const BATCH: usize = 96;
/// What an attempt may take besides the provider's answer (address lookups, recording it).
const CLAIM_MARGIN: chrono::Duration = chrono::Duration::seconds(30);

/// The live topic of a user's notifications.
pub fn topic(user: UserId) -> String {
    format!("user:{user}")
}

/// Why a consumed event could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Template(#[from] TemplateError),
}

/// What the service needs besides its store.
pub struct Settings {
    pub retry: RetryPolicy,
    pub new_message_delay: Duration,
    pub channels: Channels,
    pub fanout: Arc<Fanout>,
}

pub struct NotificationService {
    store: Arc<dyn NotificationStore>,
    settings: Settings,
    /// Wakes the dispatcher when a delivery was stored.
    wake: Notify,
}

/// A page of in-app notifications.
pub struct Page {
    pub notifications: Vec<Notification>,
    pub has_next_page: bool,
}

/// A notification as it travels on the live topic `user:<id>` (in-app notifications only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveNotification {
    pub id: Uuid,
    pub recipient: UserId,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl LiveNotification {
    pub fn of(n: &Notification) -> Self {
        Self {
            id: n.id,
            recipient: n.recipient,
            kind: n.kind.as_str().to_owned(),
            title: n.title.clone(),
            body: n.body.clone(),
            created_at: n.created_at,
        }
    }

    /// Back to the notification it was (as stored: in-app, sent, unread).
    pub fn into_notification(self) -> Option<Notification> {
        Some(Notification {
            id: self.id,
            recipient: self.recipient,
            kind: Kind::parse(&self.kind)?,
            channel: Channel::InApp,
            title: self.title,
            body: self.body,
            status: Status::Sent,
            attempts: 1,
            next_attempt_at: None,
            last_error: None,
            created_at: self.created_at,
            sent_at: Some(self.created_at),
            read_at: None,
        })
    }
}

/// Users a plan's templates name.
fn people(intents: &[Intent]) -> Vec<UserId> {
    let mut users: BTreeSet<UserId> = intents.iter().map(|i| i.recipient).collect();
    for intent in intents {
        users.extend(intent.vars.iter().filter_map(|(_, v)| match v {
            Var::User { id, .. } => Some(*id),
            _ => None,
        }));
    }
    users.into_iter().collect()
}

/// Notifications, delivery-log rows and events for `intent` on each channel the recipient gets.
fn notify(
    intent: &Intent,
    reach: &Reach,
    people: &HashMap<UserId, Contact>,
    cause: Option<&EventEnvelope>,
    now: DateTime<Utc>,
    out: &mut Effect,
) -> Result<(), TemplateError> {
    let channels = reach.channels(intent.kind);
    if channels.is_empty() {
        return Ok(());
    }
    let rendered = templates::render(intent.kind, &intent.vars, reach.contact.as_ref(), people)?;
    for channel in channels {
        let n = Notification::new(intent.recipient, intent.kind, channel, rendered.clone(), now);
        if channel == Channel::InApp {
            out.log.push(Attempt { notification_id: n.id, attempt: 1, at: now, outcome: Outcome::Sent, error: None });
            out.events.push(events::sent(&n, cause));
        }
        out.notifications.push(n);
    }
    Ok(())
}

impl NotificationService {
    pub fn new(store: Arc<dyn NotificationStore>, settings: Settings) -> Self {
        Self { store, settings, wake: Notify::new() }
    }

    pub fn store(&self) -> &Arc<dyn NotificationStore> {
        &self.store
    }

    /// Applies a consumed event's plan: projections, notifications and unread messages, with the
    /// inbox record, in one transaction; then pushes the in-app ones live. `false`: applied before.
    pub async fn apply(&self, consumer: &str, event: &EventEnvelope, plan: Plan) -> Result<bool, ApplyError> {
        let now = now();
        let recipients: Vec<UserId> = plan.intents.iter().map(|i| i.recipient).collect();
        let mut reach: HashMap<UserId, Reach> =
            if recipients.is_empty() { HashMap::new() } else { self.store.reach(&recipients).await? };
        let named = people(&plan.intents);
        let mut people = if named.is_empty() { HashMap::new() } else { self.store.contacts(&named).await? };
        // The event that introduces a user is the one that names them first.
        if let Some(ContactChange::Registered(c, _) | ContactChange::Updated(c, _)) = &plan.contact {
            people.entry(c.user_id).or_insert_with(|| c.clone());
            if let Some(r) = reach.get_mut(&c.user_id) {
                r.contact.get_or_insert_with(|| c.clone());
            }
        }
        let mut effect = Effect {
            contact: plan.contact,
            tutor_user: plan.tutor_user,
            read: plan.read,
            message_change: plan.message_change,
            ..Effect::default()
        };
        for intent in &plan.intents {
            let reach = reach.get(&intent.recipient).cloned().unwrap_or_default();
            notify(intent, &reach, &people, Some(event), now, &mut effect)?;
        }
        let delay = chrono::Duration::from_std(self.settings.new_message_delay).unwrap_or(chrono::Duration::MAX);
        effect.pending = plan
            .unread
            .into_iter()
            .map(|u| PendingMessage {
                message_id: u.message_id,
                recipient: u.recipient,
                conversation_id: u.conversation_id,
                sender: u.sender,
                preview: u.preview,
                edited: false,
                sent_at: u.sent_at,
                due_at: u.sent_at + delay,
            })
            .collect();
        if !self.store.apply(consumer, event, &effect).await? {
            tracing::debug!(event = %event.id, r#type = %event.event_type, "event applied before: skipped");
            return Ok(false);
        }
        self.after_commit(&effect.notifications).await;
        Ok(true)
    }

    /// Pushes stored in-app notifications live and wakes the dispatcher for the others.
    async fn after_commit(&self, stored: &[Notification]) {
        for n in stored {
            if n.channel == Channel::InApp {
                let payload = serde_json::to_value(LiveNotification::of(n)).expect("a live notification serialises");
                if let Err(error) = self.settings.fanout.publish(&topic(n.recipient), payload).await {
                    // Live pushes are best effort: the notification is stored and listed anyway.
                    tracing::warn!(%error, notification = %n.id, "live push failed");
                }
            }
        }
        metrics::counter!("notifications_created_total").increment(stored.len() as u64);
        if stored.iter().any(|n| n.status == Status::Pending) {
            self.wake.notify_one();
        }
    }

    /// Turns the unread messages due at `now` into NEW_MESSAGE notifications (one per recipient
    /// and conversation); returns how many notifications were stored.
    pub async fn send_due_messages(&self, now: DateTime<Utc>) -> Result<usize, ApplyError> {
        let due = self.store.due_messages(now, 500).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut users: Vec<UserId> = due.iter().flat_map(|m| [m.recipient, m.sender]).collect();
        users.sort();
        users.dedup();
        let recipients: Vec<UserId> = due.iter().map(|m| m.recipient).collect();
        let reach = self.store.reach(&recipients).await?;
        let people = self.store.contacts(&users).await?;
        let mut stored = Vec::new();
        for group in domain::group_due(due) {
            let recipient = group[0].recipient;
            let reach = reach.get(&recipient).cloned().unwrap_or_default();
            let failure = std::sync::Mutex::new(None);
            let release = |still: &[PendingMessage]| {
                let latest = still.last().expect("released groups are not empty");
                let intent = Intent {
                    recipient,
                    kind: Kind::NewMessage,
                    vars: vec![
                        ("sender", Var::User { id: latest.sender, fallback: "Someone" }),
                        // An edited message is notified without text: its preview is the old one.
                        ("preview", Var::Text(if latest.edited { String::new() } else { latest.preview.clone() })),
                        ("edited", Var::Flag(latest.edited)),
                        ("count", Var::Int(still.len() as i64)),
                    ],
                };
                let mut effect = Effect::default();
                if let Err(e) = notify(&intent, &reach, &people, None, now, &mut effect) {
                    *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                }
                (effect.notifications, effect.log, effect.events)
            };
            let notifications = self.store.release_messages(&group, &release).await?;
            if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
                tracing::error!(error = %e, %recipient, "new-message notification not rendered");
            }
            self.after_commit(&notifications).await;
            stored.extend(notifications);
        }
        Ok(stored.len())
    }

    /// Attempts the deliveries due at `now`, up to [`BATCH`] in rounds of [`PARALLEL_SENDS`] sent
    /// at once; returns how many attempts were made.
    ///
    /// Each round claims only what it sends, for as long as one attempt can take (the provider
    /// timeout and [`CLAIM_MARGIN`]): nothing claimed waits in memory while its claim runs out and
    /// another replica takes it. The pass's clock starts at `now` and moves with real time, so
    /// each attempt is recorded (and its retry scheduled) from when it finished.
    pub async fn dispatch_due(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let started = std::time::Instant::now();
        let clock = move || now + chrono::Duration::from_std(started.elapsed()).unwrap_or(chrono::Duration::zero());
        let timeout = chrono::Duration::from_std(self.settings.channels.timeout).unwrap_or(chrono::Duration::days(1));
        let lease = timeout + CLAIM_MARGIN;
        let mut attempts = 0;
        while attempts < BATCH {
            let round = PARALLEL_SENDS.min(BATCH - attempts);
            let at = clock();
            let claimed = self.store.claim_due(at, at + lease, round as i64).await?;
            let claimed_n = claimed.len();
            let results = futures_util::future::join_all(claimed.into_iter().map(|n| self.deliver(n, &clock))).await;
            results.into_iter().collect::<Result<(), StoreError>>()?;
            attempts += claimed_n;
            if claimed_n < round {
                break;
            }
        }
        Ok(attempts)
    }

    async fn address(&self, n: &Notification) -> Result<Address, DeliveryFailure> {
        let transient = |e: StoreError| DeliveryFailure::Transient(e.to_string());
        match n.channel {
            Channel::Email => {
                let contacts = self.store.contacts(&[n.recipient]).await.map_err(transient)?;
                let c = contacts
                    .get(&n.recipient)
                    .ok_or_else(|| DeliveryFailure::Transient("no email address known for the recipient yet".into()))?;
                Ok(Address::Email { to: c.email.clone(), name: c.name(), locale: c.locale.clone() })
            }
            Channel::Push => {
                let tokens = self.store.device_tokens(n.recipient).await.map_err(transient)?;
                if tokens.is_empty() {
                    return Err(DeliveryFailure::Permanent("no push device registered".into()));
                }
                Ok(Address::Devices(tokens))
            }
            Channel::Sms => {
                let reach = self.store.reach(&[n.recipient]).await.map_err(transient)?;
                let phone = reach.get(&n.recipient).and_then(|r| r.phone_number.clone());
                phone.map(Address::Phone).ok_or(DeliveryFailure::Permanent("no phone number set".into()))
            }
            Channel::InApp => Err(DeliveryFailure::Permanent("in-app needs no delivery".into())),
        }
    }

    /// One delivery attempt: send, then record the outcome (and its event) in one transaction.
    async fn deliver(&self, mut n: Notification, clock: &impl Fn() -> DateTime<Utc>) -> Result<(), StoreError> {
        let message = Outgoing { notification_id: n.id, kind: n.kind, title: n.title.clone(), body: n.body.clone() };
        let result = match self.address(&n).await {
            Ok(to) => self.settings.channels.send(n.channel, &to, &message).await,
            Err(failure) => Err(failure),
        };
        // When the attempt finished: a retry's pause counts from there, not from the claim.
        let now = clock();
        let attempt = n.record_attempt(result, &self.settings.retry, now);
        let events = match attempt.outcome {
            Outcome::Sent => vec![events::sent(&n, None)],
            Outcome::Failed => vec![events::failed(&n, now)],
            Outcome::Retry => Vec::new(),
        };
        let outcome = attempt.outcome.as_str();
        metrics::counter!("notification_deliveries_total", "channel" => n.channel.as_str(), "outcome" => outcome)
            .increment(1);
        match attempt.outcome {
            Outcome::Sent => {
                tracing::info!(notification = %n.id, channel = n.channel.as_str(), attempt = n.attempts, "delivered")
            }
            _ => tracing::warn!(notification = %n.id, channel = n.channel.as_str(), attempt = n.attempts, outcome,
                error = attempt.error.as_deref().unwrap_or_default(), next_attempt_at = ?n.next_attempt_at, "delivery failed"),
        }
        match self.store.record_attempt(&n, &attempt, &events).await {
            // Another dispatcher recorded this attempt after our claim ran out: keep theirs.
            Err(StoreError::Stale) => Ok(()),
            other => other,
        }
    }

    /// Delivers due notifications and releases due messages until shutdown: woken when a
    /// delivery is stored, else every `interval`.
    pub async fn run_dispatcher(self: Arc<Self>, interval: Duration, shutdown: Shutdown) {
        loop {
            let mut busy = false;
            match self.dispatch_due(Utc::now()).await {
                Ok(n) => busy |= n == BATCH,
                Err(error) => tracing::warn!(%error, "dispatching notifications failed; retrying"),
            }
            if let Err(error) = self.send_due_messages(Utc::now()).await {
                tracing::warn!(%error, "releasing new-message notifications failed; retrying");
            }
            if busy {
                continue;
            }
            tokio::select! {
                _ = shutdown.wait() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(interval) => {}
            }
        }
        tracing::debug!("notification dispatcher stopped");
    }

    /// The caller's in-app notifications, newest first.
    pub async fn page(
        &self,
        user: UserId,
        unread_only: bool,
        first: usize,
        after: Option<&str>,
    ) -> Result<Page, ServiceError> {
        if first == 0 || first > MAX_PAGE {
            return Err(ServiceError::BadInput(format!("`first` must be between 1 and {MAX_PAGE}")));
        }
        let after = after
            .map(|c| {
                c.parse::<Uuid>().map_err(|_| ServiceError::BadInput("`after` is not a notification cursor".into()))
            })
            .transpose()?;
        let mut notifications = self.store.in_app(user, unread_only, after, first as i64 + 1).await?;
        let has_next_page = notifications.len() > first;
        notifications.truncate(first);
        Ok(Page { notifications, has_next_page })
    }

    pub async fn unread_count(&self, user: UserId) -> Result<i64, ServiceError> {
        Ok(self.store.unread_count(user).await?)
    }

    pub async fn notifications(&self, ids: &[Uuid]) -> Result<Vec<Notification>, StoreError> {
        self.store.notifications(ids).await
    }

    pub async fn log(&self, ids: &[Uuid]) -> Result<Vec<Attempt>, StoreError> {
        self.store.log(ids).await
    }

    pub async fn mark_read(&self, principal: &Principal, id: Uuid) -> Result<Notification, ServiceError> {
        let mut n =
            self.store.notifications(&[id]).await?.pop().ok_or(ServiceError::NotFound("no such notification"))?;
        if n.mark_read(principal.user_id, now())? {
            self.store.mark_read(&n).await?;
        }
        Ok(n)
    }

    pub async fn mark_all_read(&self, principal: &Principal) -> Result<u64, ServiceError> {
        Ok(self.store.mark_all_read(principal.user_id, now()).await?)
    }

    /// What decides where the user's notifications go.
    pub async fn reach(&self, user: UserId) -> Result<Reach, ServiceError> {
        Ok(self.store.reach(&[user]).await?.remove(&user).unwrap_or_default())
    }

    /// Saves the caller's preference changes and, with `Some`, their phone number (`Some(None)`
    /// removes it), in one transaction.
    pub async fn update_preferences(
        &self,
        principal: &Principal,
        changes: &[Preference],
        phone: Option<Option<&str>>,
    ) -> Result<Reach, ServiceError> {
        if !changes.is_empty() {
            domain::preference_changes(changes)?;
        } else if phone.is_none() {
            return Err(ServiceError::BadInput("nothing to change: give preferences or a phone number".into()));
        }
        let phone = match phone {
            Some(Some(raw)) => Some(Some(domain::phone_number(raw)?)),
            Some(None) => Some(None),
            None => None,
        };
        let phone_ref = phone.as_ref().map(|p| p.as_deref());
        self.store.save_preferences(principal.user_id, changes, phone_ref, now()).await?;
        self.reach(principal.user_id).await
    }

    pub async fn register_device(&self, principal: &Principal, token: &str) -> Result<(), ServiceError> {
        let token = domain::device_token(token)?;
        self.store.register_device(principal.user_id, &token, now()).await?;
        tracing::info!(user = %principal.user_id, "push device registered");
        Ok(())
    }

    pub async fn unregister_device(&self, principal: &Principal, token: &str) -> Result<bool, ServiceError> {
        Ok(self.store.unregister_device(principal.user_id, token.trim()).await?)
    }
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}
