//! Mapping the identity domain to its published events (`kernel::events::identity`).
//! Identity consumes no other context's events.

use chrono::{DateTime, Utc};
use kernel::EventEnvelope;
use kernel::events::identity::{
    UserLoggedIn, UserPasswordChanged, UserProfileUpdated, UserRegistered, UserRoleChanged,
};

use crate::domain::{Role, User, UserId};

pub fn registered(user: &User) -> EventEnvelope {
    EventEnvelope::wrap(
        &UserRegistered {
            user_id: user.id.to_string(),
            email: user.email.as_str().to_owned(),
            role: user.role,
            first_name: user.profile.first_name.clone(),
            last_name: user.profile.last_name.clone(),
            registered_at: user.created_at,
        },
        None,
    )
}

pub fn logged_in(user: UserId, at: DateTime<Utc>) -> EventEnvelope {
    EventEnvelope::wrap(&UserLoggedIn { user_id: user.to_string(), at }, None)
}

pub fn password_changed(user: UserId, at: DateTime<Utc>) -> EventEnvelope {
    EventEnvelope::wrap(&UserPasswordChanged { user_id: user.to_string(), at }, None)
}

pub fn role_changed(user: UserId, previous_role: Role, role: Role, changed_by: Option<UserId>) -> EventEnvelope {
    EventEnvelope::wrap(
        &UserRoleChanged {
            user_id: user.to_string(),
            previous_role,
            role,
            changed_by: changed_by.map(|id| id.to_string()),
        },
        None,
    )
}

pub fn profile_updated(user: &User) -> EventEnvelope {
    let p = &user.profile;
    EventEnvelope::wrap(
        &UserProfileUpdated {
            user_id: user.id.to_string(),
            email: user.email.as_str().to_owned(),
            first_name: p.first_name.clone(),
            last_name: p.last_name.clone(),
            avatar_url: p.avatar_url.clone(),
            locale: p.preferences.locale.clone(),
            time_zone: p.preferences.time_zone.clone(),
            notify_email: p.preferences.notifications.email,
            notify_push: p.preferences.notifications.push,
            notify_sms: p.preferences.notifications.sms,
        },
        None,
    )
}
