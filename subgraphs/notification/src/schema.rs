//! The notification subgraph's GraphQL schema: the caller's notifications and preferences, the
//! mutations on them, the federated `Notification @key(fields: "id")` entity, `User.notifications`,
//! and the subscription `notificationAdded` (the caller's new in-app notifications, live).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::futures_util::Stream;
use async_graphql::{
    ComplexObject, Context, Enum, ID, InputObject, MaybeUndefined, Object, Result, Schema, SimpleObject, Subscription,
};
use chrono::{DateTime, Utc};
use kernel::ErrorCode;
use platform::SignedInGuard;
use platform::auth::{require_principal, viewer};
use platform::graphql::{RequestMetrics, error_with_code, parse_id};
use platform::live::Fanout;
use uuid::Uuid;

use crate::domain::{self, Reach, UserId};
use crate::error::{IntoGraphql, ServiceError};
use crate::service::{DEFAULT_PAGE, LiveNotification, NotificationService, topic};

pub type NotificationSchema = Schema<Query, Mutation, SubscriptionRoot>;

/// Builds the schema; `service` and `fanout` are `None` only to export the SDL.
pub fn build(service: Option<Arc<NotificationService>>, fanout: Option<Arc<Fanout>>) -> NotificationSchema {
    let mut builder = Schema::build(Query, Mutation, SubscriptionRoot)
        .enable_federation()
        .enable_subscription_in_federation()
        .limit_depth(16)
        .limit_complexity(1_000)
        .extension(RequestMetrics::new("notification"));
    if let Some(service) = service {
        let by_id = DataLoader::new(NotificationLoader(service.clone()), tokio::spawn);
        let log = DataLoader::new(LogLoader(service.clone()), tokio::spawn);
        builder = builder.data(service).data(by_id).data(log);
    }
    if let Some(fanout) = fanout {
        builder = builder.data(fanout);
    }
    builder.finish()
}

/// The federated SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build(None, None).sdl_with_options(async_graphql::SDLExportOptions::new().federation())
}

fn service<'a>(ctx: &Context<'a>) -> &'a Arc<NotificationService> {
    ctx.data_unchecked::<Arc<NotificationService>>()
}

fn loader_error(e: Arc<ServiceError>) -> async_graphql::Error {
    platform::graphql::internal_error(&e)
}

/// Batches notification lookups by id.
pub struct NotificationLoader(Arc<NotificationService>);

impl Loader<Uuid> for NotificationLoader {
    type Value = domain::Notification;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, domain::Notification>, Self::Error> {
        let found = self.0.notifications(keys).await.map_err(|e| Arc::new(e.into()))?;
        Ok(found.into_iter().map(|n| (n.id, n)).collect())
    }
}

/// Batches `Notification.deliveries`.
pub struct LogLoader(Arc<NotificationService>);

impl Loader<Uuid> for LogLoader {
    type Value = Vec<domain::Attempt>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Vec<domain::Attempt>>, Self::Error> {
        let mut out: HashMap<Uuid, Vec<domain::Attempt>> = HashMap::new();
        for attempt in self.0.log(keys).await.map_err(|e| Arc::new(e.into()))? {
            out.entry(attempt.notification_id).or_default().push(attempt);
        }
        Ok(out)
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::Kind")]
pub enum NotificationType {
    Welcome,
    BookingRequested,
    BookingConfirmed,
    BookingCancelled,
    BookingCompleted,
    PaymentReceived,
    PaymentFailed,
    RefundIssued,
    NewMessage,
    ReviewPosted,
    TutorVerified,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::Channel")]
pub enum NotificationChannel {
    Email,
    Push,
    Sms,
    /// Stored and shown in the app (and pushed live by `notificationAdded`).
    InApp,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::Status")]
pub enum NotificationStatus {
    /// Not delivered yet (attempts may have failed and be retried).
    Pending,
    Sent,
    /// Delivery gave up.
    Failed,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::Outcome")]
pub enum DeliveryOutcome {
    Sent,
    /// Failed; another attempt follows.
    Retry,
    Failed,
}

/// A notification for one recipient on one channel.
pub struct Notification(pub domain::Notification);

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn recipient(&self) -> User {
        User { id: ID(self.0.recipient.to_string()) }
    }
    #[graphql(name = "type")]
    async fn kind(&self) -> NotificationType {
        self.0.kind.into()
    }
    async fn channel(&self) -> NotificationChannel {
        self.0.channel.into()
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// Plain text.
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn status(&self) -> NotificationStatus {
        self.0.status.into()
    }
    /// When the recipient read it (in-app notifications only).
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.sent_at
    }
    /// Delivery attempts so far (1 for in-app: storing it delivered it).
    async fn attempts(&self) -> i32 {
        i32::try_from(self.0.attempts).unwrap_or(i32::MAX)
    }
    /// The delivery log, first attempt first.
    async fn deliveries(&self, ctx: &Context<'_>) -> Result<Vec<DeliveryAttempt>> {
        let log = ctx.data_unchecked::<DataLoader<LogLoader>>().load_one(self.0.id).await.map_err(loader_error)?;
        Ok(log.unwrap_or_default().into_iter().map(DeliveryAttempt).collect())
    }
}

/// One attempt to deliver a notification.
pub struct DeliveryAttempt(domain::Attempt);

#[Object]
impl DeliveryAttempt {
    /// 1 for the first attempt.
    async fn attempt(&self) -> i32 {
        i32::try_from(self.0.attempt).unwrap_or(i32::MAX)
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    async fn outcome(&self) -> DeliveryOutcome {
        self.0.outcome.into()
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}

#[derive(SimpleObject)]
pub struct NotificationConnection {
    edges: Vec<NotificationEdge>,
    page_info: PageInfo,
    /// The caller's unread in-app notifications in all (not only this page).
    unread_count: i32,
}

#[derive(SimpleObject)]
pub struct NotificationEdge {
    cursor: String,
    node: Notification,
}

#[derive(SimpleObject)]
#[graphql(shareable)]
pub struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

/// Whether one type of notification goes out on one channel.
#[derive(SimpleObject)]
pub struct NotificationPreference {
    #[graphql(name = "type")]
    kind: NotificationType,
    channel: NotificationChannel,
    enabled: bool,
    /// Not set by the user: the default (identity's opt-ins for email, push and SMS; in-app on).
    is_default: bool,
}

/// Where the caller's notifications go.
#[derive(SimpleObject)]
pub struct NotificationPreferences {
    /// Every type × channel.
    settings: Vec<NotificationPreference>,
    /// For SMS (E.164); SMS needs one.
    phone_number: Option<String>,
    /// Registered push devices; push needs one.
    push_devices: i32,
}

impl NotificationPreferences {
    fn of(reach: &Reach) -> Self {
        let mut settings = Vec::with_capacity(domain::Kind::ALL.len() * domain::Channel::ALL.len());
        for &kind in domain::Kind::ALL {
            for &channel in domain::Channel::ALL {
                let set = reach.preferences.iter().any(|p| p.kind == kind && p.channel == channel);
                settings.push(NotificationPreference {
                    kind: kind.into(),
                    channel: channel.into(),
                    enabled: reach.wants(kind, channel),
                    is_default: !set,
                });
            }
        }
        Self {
            settings,
            phone_number: reach.phone_number.clone(),
            push_devices: i32::try_from(reach.push_devices).unwrap_or(i32::MAX),
        }
    }
}

#[derive(InputObject)]
pub struct NotificationPreferenceInput {
    #[graphql(name = "type")]
    kind: NotificationType,
    channel: NotificationChannel,
    enabled: bool,
}

/// A user, as notification extends them.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct User {
    pub id: ID,
}

#[ComplexObject]
impl User {
    /// The user's in-app notifications, newest first; only the user themselves may read them.
    /// `first` is 1–50 (20 when omitted).
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] unread_only: bool,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<NotificationConnection> {
        let principal = require_principal(ctx)?;
        if self.id.as_str() != principal.user_id.to_string() {
            return Err(error_with_code(ErrorCode::Forbidden, "you can only read your own notifications"));
        }
        connection(ctx, principal.user_id, unread_only, first, after).await
    }
}

async fn connection(
    ctx: &Context<'_>,
    user: UserId,
    unread_only: bool,
    first: Option<i32>,
    after: Option<String>,
) -> Result<NotificationConnection> {
    let first = first.map_or(DEFAULT_PAGE, |n| usize::try_from(n).unwrap_or(0));
    let page = service(ctx).page(user, unread_only, first, after.as_deref()).await.gql()?;
    let unread = service(ctx).unread_count(user).await.gql()?;
    let end_cursor = page.notifications.last().map(|n| n.id.to_string());
    Ok(NotificationConnection {
        edges: page
            .notifications
            .into_iter()
            .map(|n| NotificationEdge { cursor: n.id.to_string(), node: Notification(n) })
            .collect(),
        page_info: PageInfo { has_next_page: page.has_next_page, end_cursor },
        unread_count: i32::try_from(unread).unwrap_or(i32::MAX),
    })
}

pub struct Query;

#[Object]
impl Query {
    /// The caller's in-app notifications (what the app shows), newest first; email, push and
    /// SMS copies are delivery records, reachable by id. `first` is 1–50 (20 when omitted).
    #[graphql(guard = "SignedInGuard")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] unread_only: bool,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<NotificationConnection> {
        let principal = require_principal(ctx)?;
        connection(ctx, principal.user_id, unread_only, first, after).await
    }

    /// Where the caller's notifications go: every type × channel, defaults included.
    #[graphql(guard = "SignedInGuard")]
    async fn notification_preferences(&self, ctx: &Context<'_>) -> Result<NotificationPreferences> {
        let principal = require_principal(ctx)?;
        let reach = service(ctx).reach(principal.user_id).await.gql()?;
        Ok(NotificationPreferences::of(&reach))
    }

    /// Only its recipient sees a notification (others get `null`).
    #[graphql(entity)]
    async fn find_notification_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Notification>> {
        let Ok(id) = id.parse::<Uuid>() else { return Ok(None) };
        let found = ctx.data_unchecked::<DataLoader<NotificationLoader>>().load_one(id).await.map_err(loader_error)?;
        let me = viewer(ctx).map(|p| p.user_id);
        Ok(found.filter(|n| Some(n.recipient) == me).map(Notification))
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id }
    }
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// The recipient marks an in-app notification read (reading it again keeps the first time).
    #[graphql(guard = "SignedInGuard")]
    async fn mark_notification_read(&self, ctx: &Context<'_>, id: ID) -> Result<Notification> {
        let principal = require_principal(ctx)?;
        let id = parse_id(&id, "notification")?;
        Ok(Notification(service(ctx).mark_read(principal, id).await.gql()?))
    }

    /// Marks all the caller's in-app notifications read; returns how many were unread.
    #[graphql(guard = "SignedInGuard")]
    async fn mark_all_notifications_read(&self, ctx: &Context<'_>) -> Result<i32> {
        let principal = require_principal(ctx)?;
        let n = service(ctx).mark_all_read(principal).await.gql()?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }

    /// Turns types of notification on or off per channel (each pair once, at most 44), and sets
    /// (`phoneNumber: "+4915112345678"`, E.164) or removes (`null`) the number SMS go to;
    /// omitted keeps it.
    #[graphql(guard = "SignedInGuard")]
    async fn update_notification_preferences(
        &self,
        ctx: &Context<'_>,
        input: Vec<NotificationPreferenceInput>,
        phone_number: MaybeUndefined<String>,
    ) -> Result<NotificationPreferences> {
        let principal = require_principal(ctx)?;
        let changes: Vec<domain::Preference> = input
            .iter()
            .map(|p| domain::Preference { kind: p.kind.into(), channel: p.channel.into(), enabled: p.enabled })
            .collect();
        let phone = match &phone_number {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(number) => Some(Some(number.as_str())),
        };
        let reach = service(ctx).update_preferences(principal, &changes, phone).await.gql()?;
        Ok(NotificationPreferences::of(&reach))
    }

    /// Registers the caller's device for push notifications (the provider's device token).
    #[graphql(guard = "SignedInGuard")]
    async fn register_push_device(&self, ctx: &Context<'_>, token: String) -> Result<bool> {
        let principal = require_principal(ctx)?;
        service(ctx).register_device(principal, &token).await.gql()?;
        Ok(true)
    }

    /// Stops pushes to a device; `false` when the caller had no such device.
    #[graphql(guard = "SignedInGuard")]
    async fn unregister_push_device(&self, ctx: &Context<'_>, token: String) -> Result<bool> {
        let principal = require_principal(ctx)?;
        service(ctx).unregister_device(principal, &token).await.gql()
    }
}

pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The caller's new in-app notifications as they are stored, from any replica (the token
    /// comes in `connection_init`). Missed ones (while disconnected) are in `notifications`.
    async fn notification_added(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Notification> + use<>> {
        let principal = require_principal(ctx)?;
        let fanout = ctx.data::<Arc<Fanout>>()?;
        let receiver = fanout.subscribe(&topic(principal.user_id));
        Ok(async_graphql::futures_util::stream::unfold(receiver, |mut receiver| async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match receiver.recv().await {
                    Ok(message) => {
                        let live = serde_json::from_value::<LiveNotification>(message.payload.clone()).ok();
                        if let Some(n) = live.and_then(LiveNotification::into_notification) {
                            return Some((Notification(n), receiver));
                        }
                        tracing::warn!(topic = %message.topic, "malformed live notification skipped");
                    }
                    Err(RecvError::Lagged(missed)) => tracing::warn!(missed, "a slow subscriber skipped notifications"),
                    Err(RecvError::Closed) => return None,
                }
            }
        }))
    }
}
