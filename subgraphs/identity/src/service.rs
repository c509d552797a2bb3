//! The identity use cases. Each loads what it needs, asks the domain, and saves the result with
//! its events in one transaction (through the store).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use kernel::EventEnvelope;
use platform::Principal;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::{
    self, Email, ProfileChanges, RefreshDecision, RefreshToken, Registration, Role, Session, User, UserId,
};
use crate::error::ServiceError;
use crate::events;
use crate::password::PasswordHasher;
use crate::store::UserStore;
use crate::throttle::{Limit, LoginThrottle, ThrottleKey};
use crate::tokens::TokenIssuer;

/// What a successful sign-in returns.
#[derive(Debug, Clone)]
pub struct AuthTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: Duration,
    pub user: User,
}

/// Sign-in limits and lifetimes.
#[derive(Debug, Clone)]
pub struct Policy {
    pub refresh_ttl: Duration,
    pub per_account: Limit,
    pub per_address: Limit,
    /// Registering with this e-mail, or having it at start-up, makes the user an admin.
    pub admin_email: Option<Email>,
}

pub struct IdentityService {
    store: Arc<dyn UserStore>,
    hasher: PasswordHasher,
    tokens: TokenIssuer,
    throttle: Arc<dyn LoginThrottle>,
    policy: Policy,
}

/// The stored form of a refresh token: its SHA-256, hex.
fn hash_refresh_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl IdentityService {
    pub fn new(
        store: Arc<dyn UserStore>,
        hasher: PasswordHasher,
        tokens: TokenIssuer,
        throttle: Arc<dyn LoginThrottle>,
        policy: Policy,
    ) -> Self {
        Self { store, hasher, tokens, throttle, policy }
    }

    pub fn store(&self) -> &Arc<dyn UserStore> {
        &self.store
    }

    pub async fn register(
        &self,
        email: &str,
        password: &str,
        first_name: &str,
        last_name: &str,
        role: Option<Role>,
    ) -> Result<AuthTokens, ServiceError> {
        let mut registration = Registration::parse(email, password, first_name, last_name, role)?;
        if self.policy.admin_email.as_ref() == Some(&registration.email) {
            registration.role = Role::Admin;
        }
        let hash = self.hasher.hash(password.to_owned()).await?;
        let user = registration.into_user(Utc::now());
        self.store.insert_user(&user, &hash, &[events::registered(&user)]).await?;
        tracing::info!(user_id = %user.id, role = %user.role, "user registered");
        self.start_session(user, Vec::new()).await
    }

    pub async fn login(&self, email: &str, password: &str, client: Option<IpAddr>) -> Result<AuthTokens, ServiceError> {
        let email = Email::parse(email).map_err(|_| ServiceError::InvalidCredentials)?;
        let keys = self.throttle_keys(&email, client);
        if let Some(retry_after) = self.throttle.blocked(&keys).await {
            tracing::warn!(client = ?client, "sign-in throttled");
            return Err(ServiceError::RateLimited { retry_after });
        }
        if password.chars().count() > domain::MAX_PASSWORD_CHARS {
            // No password that long exists, and hashing it would only cost us time.
            self.throttle.record_failure(&keys).await;
            return Err(ServiceError::InvalidCredentials);
        }
        let found = self.store.user_by_email(&email).await?;
        // Unknown e-mail and wrong password take the same path and the same time.
        let verified = match &found {
            Some((_, hash)) => self.hasher.verify(password.to_owned(), hash.clone()).await?,
            None => self.hasher.verify_dummy(password.to_owned()).await?,
        };
        let Some((user, _)) = found.filter(|_| verified) else {
            self.throttle.record_failure(&keys).await;
            return Err(ServiceError::InvalidCredentials);
        };
        self.throttle.reset(&keys[0]).await;
        let logged_in = events::logged_in(user.id, Utc::now());
        self.start_session(user, vec![logged_in]).await
    }

    fn throttle_keys(&self, email: &Email, client: Option<IpAddr>) -> Vec<ThrottleKey> {
        let mut keys = vec![ThrottleKey { key: format!("account:{}", email.as_str()), limit: self.policy.per_account }];
        if let Some(ip) = client {
            keys.push(ThrottleKey { key: format!("ip:{ip}"), limit: self.policy.per_address });
        }
        keys
    }

    async fn start_session(&self, user: User, events: Vec<EventEnvelope>) -> Result<AuthTokens, ServiceError> {
        let now = Utc::now();
        let session = Session { id: Uuid::now_v7(), user_id: user.id, created_at: now, revoked_at: None };
        let (refresh_token, record) = self.refresh_token_for(session.id);
        self.store.start_session(&session, &record, &events).await?;
        Ok(self.tokens_for(user, session.id, refresh_token))
    }

    fn refresh_token_for(&self, session: Uuid) -> (String, RefreshToken) {
        let token = new_refresh_token();
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(self.policy.refresh_ttl).unwrap_or(chrono::Duration::days(30));
        let record = RefreshToken {
            id: Uuid::now_v7(),
            session_id: session,
            token_hash: hash_refresh_token(&token),
            created_at: now,
            expires_at: now + ttl,
            used_at: None,
        };
        (token, record)
    }

    fn tokens_for(&self, user: User, session: Uuid, refresh_token: String) -> AuthTokens {
        let access_token = self.tokens.issue(&user, session, Utc::now());
        AuthTokens { access_token, refresh_token, expires_in: self.tokens.ttl(), user }
    }

    /// Rotates a refresh token. Presenting one that was already used revokes its whole session.
    pub async fn refresh(&self, presented: &str) -> Result<AuthTokens, ServiceError> {
        let invalid = ServiceError::InvalidRefreshToken("the refresh token is invalid");
        let Some((token, session)) = self.store.refresh_token(&hash_refresh_token(presented.trim())).await? else {
            return Err(invalid);
        };
        match domain::decide_refresh(&token, &session, Utc::now()) {
            RefreshDecision::Rotate => {}
            RefreshDecision::Reuse => return Err(self.revoke_on_reuse(&session).await),
            RefreshDecision::Expired => return Err(ServiceError::InvalidRefreshToken("the refresh token has expired")),
            RefreshDecision::Revoked => return Err(ServiceError::InvalidRefreshToken("the session has been revoked")),
        }
        let (next_token, next) = self.refresh_token_for(session.id);
        if !self.store.rotate_refresh_token(&token, &next).await? {
            // Another request used it between our read and our write: that is reuse too.
            return Err(self.revoke_on_reuse(&session).await);
        }
        let user = self.store.user(session.user_id).await?.ok_or(invalid)?;
        Ok(self.tokens_for(user, session.id, next_token))
    }

    async fn revoke_on_reuse(&self, session: &Session) -> ServiceError {
        tracing::warn!(session_id = %session.id, user_id = %session.user_id, "refresh token reuse: revoking the session");
        if let Err(error) = self.store.revoke_session(session.id, "refresh token reuse").await {
            return error.into();
        }
        ServiceError::InvalidRefreshToken("the refresh token was already used; the session has been revoked")
    }

    /// Ends the session of a refresh token; `false` if the token is unknown.
    pub async fn logout(&self, presented: &str) -> Result<bool, ServiceError> {
        let Some((_, session)) = self.store.refresh_token(&hash_refresh_token(presented.trim())).await? else {
            return Ok(false);
        };
        self.store.revoke_session(session.id, "logout").await?;
        Ok(true)
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>, ServiceError> {
        Ok(self.store.user(id).await?)
    }

    /// `user(id)`: the user themself or an admin.
    pub async fn user_for(&self, caller: &Principal, id: UserId) -> Result<Option<User>, ServiceError> {
        if caller.user_id != id && caller.role != Role::Admin {
            return Err(ServiceError::Forbidden("only admins can look up other users"));
        }
        self.user(id).await
    }

    pub async fn update_profile(&self, caller: &Principal, changes: ProfileChanges) -> Result<User, ServiceError> {
        let mut user = self.store.user(caller.user_id).await?.ok_or(ServiceError::NotFound)?;
        if user.update_profile(changes, Utc::now())? {
            self.store.save_profile(&user, &[events::profile_updated(&user)]).await?;
        }
        Ok(user)
    }

    /// Changes the password and revokes every other session of the user.
    pub async fn change_password(&self, caller: &Principal, current: &str, new: &str) -> Result<(), ServiceError> {
        let user = self.store.user(caller.user_id).await?.ok_or(ServiceError::NotFound)?;
        let hash = self.store.password_hash(user.id).await?.ok_or(ServiceError::NotFound)?;
        if !self.hasher.verify(current.to_owned(), hash).await? {
            return Err(ServiceError::WrongCurrentPassword);
        }
        domain::check_password_policy(new, &user.email)?;
        let new_hash = self.hasher.hash(new.to_owned()).await?;
        let keep = caller.session_id.parse::<Uuid>().ok();
        let event = events::password_changed(user.id, Utc::now());
        self.store.save_password(user.id, &new_hash, keep, &[event]).await?;
        tracing::info!(user_id = %user.id, "password changed; other sessions revoked");
        Ok(())
    }

    /// Admin only; the last admin cannot be demoted.
    pub async fn change_role(&self, caller: &Principal, target: UserId, role: Role) -> Result<User, ServiceError> {
        if caller.role != Role::Admin {
            return Err(ServiceError::Forbidden("only admins can change roles"));
        }
        self.set_role(target, role, Some(caller.user_id)).await
    }

    async fn set_role(&self, target: UserId, role: Role, by: Option<UserId>) -> Result<User, ServiceError> {
        let decide = move |user: &User, admins: i64| {
            domain::check_role_change(user.role, role, admins)?;
            Ok(if user.role == role { Vec::new() } else { vec![events::role_changed(user.id, user.role, role, by)] })
        };
        let user = self.store.change_role(target, role, &decide).await?;
        tracing::info!(user_id = %target, %role, "role set");
        Ok(user)
    }

    /// Start-up: the configured admin e-mail, if registered, becomes an admin.
    pub async fn promote_configured_admin(&self) -> Result<(), ServiceError> {
        let Some(email) = &self.policy.admin_email else { return Ok(()) };
        match self.store.user_by_email(email).await? {
            Some((user, _)) if user.role != Role::Admin => {
                self.set_role(user.id, Role::Admin, None).await?;
                tracing::info!(user_id = %user.id, "configured admin promoted");
            }
            Some(_) => {}
            None => {
                tracing::info!("the configured admin e-mail is not registered yet; it becomes admin on registration")
            }
        }
        Ok(())
    }
}
