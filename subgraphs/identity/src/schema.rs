//! The identity subgraph's GraphQL schema: `me`, `user(id)`, sign-up and sign-in, profile,
//! password and role mutations, and the federated `User @key(fields: "id")` entity.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{
    Context, EmptySubscription, Enum, ID, InputObject, MaybeUndefined, Object, Result, Schema, SimpleObject,
};
use chrono::{DateTime, Utc};
use kernel::ErrorCode;
use platform::auth::require_principal;
use platform::graphql::{CodedError, RequestMetrics, error_with_code};
use platform::{ClientIp, Principal, SignedInGuard};

use crate::domain::{self, ProfileChanges, UserId};
use crate::error::{IntoGraphql, ServiceError};
use crate::service::{AuthTokens, IdentityService};

pub type IdentitySchema = Schema<Query, Mutation, EmptySubscription>;

/// Builds the schema; `service` is `None` only to export the SDL.
pub fn build(service: Option<Arc<IdentityService>>) -> IdentitySchema {
    let mut builder = Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .limit_depth(16)
        .limit_complexity(1_000)
        .extension(RequestMetrics::new("identity"));
    if let Some(service) = service {
        let loader = DataLoader::new(UserLoader(service.clone()), tokio::spawn);
        builder = builder.data(service).data(loader);
    }
    builder.finish()
}

/// The federated SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build(None).sdl_with_options(async_graphql::SDLExportOptions::new().federation())
}

fn service<'a>(ctx: &Context<'a>) -> &'a Arc<IdentityService> {
    ctx.data_unchecked::<Arc<IdentityService>>()
}

fn parse_user_id(id: &ID) -> Result<UserId> {
    id.parse().map_err(|_| error_with_code(ErrorCode::BadUserInput, format!("`{}` is not a user id", id.as_str())))
}

/// Batches entity and nested lookups into one query per batch (no cache: it lives in the schema).
pub struct UserLoader(Arc<IdentityService>);

impl Loader<UserId> for UserLoader {
    type Value = domain::User;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, domain::User>, Self::Error> {
        let users = self.0.store().users(keys).await.map_err(|e| Arc::new(ServiceError::from(e)))?;
        Ok(users.into_iter().map(|u| (u.id, u)).collect())
    }
}

pub struct Query;

#[Object]
impl Query {
    /// The signed-in user.
    #[graphql(guard = "SignedInGuard")]
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let principal = require_principal(ctx)?;
        Ok(service(ctx).user(principal.user_id).await.gql()?.map(User::new))
    }

    /// A user by id: the user themself or an admin.
    #[graphql(guard = "SignedInGuard")]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let principal = require_principal(ctx)?;
        Ok(service(ctx).user_for(principal, parse_user_id(&id)?).await.gql()?.map(User::new))
    }

    /// Federation: resolves `User` representations, batched through the DataLoader.
    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        let Ok(id) = id.parse::<UserId>() else { return Ok(None) };
        let loader = ctx.data_unchecked::<DataLoader<UserLoader>>();
        let user = loader.load_one(id).await.map_err(|e| ServiceError::Internal(e.to_string()).into_graphql())?;
        Ok(user.map(User::new))
    }
}

/// A user's role.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Role")]
pub enum RoleValue {
    Student,
    Tutor,
    Admin,
}

impl From<domain::Role> for RoleValue {
    fn from(role: domain::Role) -> Self {
        match role {
            domain::Role::Student => Self::Student,
            domain::Role::Tutor => Self::Tutor,
            domain::Role::Admin => Self::Admin,
        }
    }
}

impl From<RoleValue> for domain::Role {
    fn from(role: RoleValue) -> Self {
        match role {
            RoleValue::Student => Self::Student,
            RoleValue::Tutor => Self::Tutor,
            RoleValue::Admin => Self::Admin,
        }
    }
}

/// Whether the caller may see a user's private fields (e-mail, preferences).
fn may_see_private(ctx: &Context<'_>, user: &User) -> Result<()> {
    if user.owner_signed_in {
        return Ok(());
    }
    let user = &user.user;
    let principal: &Principal = require_principal(ctx)?;
    if principal.user_id == user.id || principal.role == domain::Role::Admin {
        Ok(())
    } else {
        Err(error_with_code(ErrorCode::Forbidden, "only the user themself or an admin can see this field"))
    }
}

pub struct User {
    user: domain::User,
    /// Set when the response is the result of this user's own sign-in (no bearer token yet).
    owner_signed_in: bool,
}

impl User {
    fn new(user: domain::User) -> Self {
        Self { user, owner_signed_in: false }
    }
}

#[Object(name = "User")]
impl User {
    async fn id(&self) -> ID {
        ID(self.user.id.to_string())
    }

    /// Visible to the user themself and to admins; `null` (with a `FORBIDDEN` error) for
    /// anyone else, so that a payload holding another user is never lost to it.
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        may_see_private(ctx, self)?;
        Ok(Some(self.user.email.as_str()))
    }

    async fn role(&self) -> RoleValue {
        self.user.role.into()
    }

    async fn profile(&self) -> UserProfile<'_> {
        UserProfile(self)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.user.created_at
    }
}

pub struct UserProfile<'a>(&'a User);

#[Object]
impl UserProfile<'_> {
    async fn first_name(&self) -> &str {
        &self.0.user.profile.first_name
    }

    async fn last_name(&self) -> &str {
        &self.0.user.profile.last_name
    }

    async fn avatar_url(&self) -> Option<&str> {
        self.0.user.profile.avatar_url.as_deref()
    }

    /// Visible to the user themself and to admins; `null` (with a `FORBIDDEN` error) for
    /// anyone else.
    async fn preferences(&self, ctx: &Context<'_>) -> Result<Option<Preferences>> {
        may_see_private(ctx, self.0)?;
        let p = &self.0.user.profile.preferences;
        Ok(Some(Preferences {
            locale: p.locale.clone(),
            time_zone: p.time_zone.clone(),
            notifications: NotificationOptIns {
                email: p.notifications.email,
                push: p.notifications.push,
                sms: p.notifications.sms,
            },
        }))
    }
}

/// Free-form preferences.
#[derive(SimpleObject)]
pub struct Preferences {
    /// A BCP 47 locale such as `en` or `pt-BR`.
    locale: String,
    /// An IANA time zone such as `Europe/Paris`.
    time_zone: String,
    notifications: NotificationOptIns,
}

/// Which channels the user accepts notifications on.
#[derive(SimpleObject)]
pub struct NotificationOptIns {
    email: bool,
    push: bool,
    sms: bool,
}

#[derive(SimpleObject)]
pub struct AuthPayload {
    access_token: String,
    refresh_token: String,
    /// Seconds until the access token expires.
    expires_in: i32,
    user: User,
}

impl From<AuthTokens> for AuthPayload {
    fn from(tokens: AuthTokens) -> Self {
        Self {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            expires_in: i32::try_from(tokens.expires_in.as_secs()).unwrap_or(i32::MAX),
            user: User { user: tokens.user, owner_signed_in: true },
        }
    }
}

#[derive(InputObject)]
pub struct RegisterInput {
    email: String,
    password: String,
    first_name: String,
    last_name: String,
    /// STUDENT (the default) or TUTOR.
    role: Option<RoleValue>,
}

#[derive(InputObject)]
pub struct LoginInput {
    email: String,
    password: String,
}

#[derive(InputObject)]
pub struct UpdateProfileInput {
    first_name: Option<String>,
    last_name: Option<String>,
    /// `null` removes the avatar.
    avatar_url: MaybeUndefined<String>,
    preferences: Option<PreferencesInput>,
}

#[derive(InputObject)]
pub struct PreferencesInput {
    locale: Option<String>,
    time_zone: Option<String>,
    notifications: Option<NotificationOptInsInput>,
}

#[derive(InputObject)]
pub struct NotificationOptInsInput {
    email: Option<bool>,
    push: Option<bool>,
    sms: Option<bool>,
}

#[derive(InputObject)]
pub struct ChangePasswordInput {
    current_password: String,
    new_password: String,
}

impl From<UpdateProfileInput> for ProfileChanges {
    fn from(input: UpdateProfileInput) -> Self {
        let preferences = input.preferences;
        let notifications = preferences.as_ref().and_then(|p| p.notifications.as_ref());
        ProfileChanges {
            first_name: input.first_name,
            last_name: input.last_name,
            avatar_url: match input.avatar_url {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(url) => Some(Some(url)),
            },
            locale: preferences.as_ref().and_then(|p| p.locale.clone()),
            time_zone: preferences.as_ref().and_then(|p| p.time_zone.clone()),
            notify_email: notifications.and_then(|n| n.email),
            notify_push: notifications.and_then(|n| n.push),
            notify_sms: notifications.and_then(|n| n.sms),
        }
    }
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Creates an account (STUDENT or TUTOR) and signs it in.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<AuthPayload> {
        let role = input.role.map(domain::Role::from);
        let tokens = service(ctx)
            .register(&input.email, &input.password, &input.first_name, &input.last_name, role)
            .await
            .gql()?;
        Ok(tokens.into())
    }

    /// Signs in. Unknown e-mail and wrong password give the same error.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let client = ctx.data_opt::<ClientIp>().and_then(|ip| ip.0);
        Ok(service(ctx).login(&input.email, &input.password, client).await.gql()?.into())
    }

    /// Exchanges a refresh token for a new pair; a reused token revokes its session.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> Result<AuthPayload> {
        Ok(service(ctx).refresh(&refresh_token).await.gql()?.into())
    }

    /// Ends the session of a refresh token; `false` if the token is unknown.
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> Result<bool> {
        service(ctx).logout(&refresh_token).await.gql()
    }

    #[graphql(guard = "SignedInGuard")]
    async fn update_profile(&self, ctx: &Context<'_>, input: UpdateProfileInput) -> Result<User> {
        let principal = require_principal(ctx)?;
        Ok(User::new(service(ctx).update_profile(principal, input.into()).await.gql()?))
    }

    /// Changes the password and signs out every other session.
    #[graphql(guard = "SignedInGuard")]
    async fn change_password(&self, ctx: &Context<'_>, input: ChangePasswordInput) -> Result<bool> {
        let principal = require_principal(ctx)?;
        service(ctx).change_password(principal, &input.current_password, &input.new_password).await.gql()?;
        Ok(true)
    }

    /// Admin only. The last admin cannot be demoted.
    #[graphql(guard = "SignedInGuard")]
    async fn change_role(&self, ctx: &Context<'_>, user_id: ID, role: RoleValue) -> Result<User> {
        let principal = require_principal(ctx)?;
        let target = parse_user_id(&user_id)?;
        Ok(User::new(service(ctx).change_role(principal, target, role.into()).await.gql()?))
    }
}
