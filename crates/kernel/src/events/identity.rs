//! Events published by the identity context on the `identity.events` exchange.
//! No password material ever appears here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PublishedEvent;
use crate::Role;

macro_rules! identity_event {
    ($name:ident, $type:literal) => {
        impl PublishedEvent for $name {
            const PRODUCER: &'static str = "identity";
            const TYPE: &'static str = $type;
            const VERSION: u32 = 1;
            fn aggregate_id(&self) -> String {
                self.user_id.clone()
            }
        }
    };
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRegistered {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub first_name: String,
    pub last_name: String,
    pub registered_at: DateTime<Utc>,
}
identity_event!(UserRegistered, "identity.UserRegistered");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserLoggedIn {
    pub user_id: String,
    pub at: DateTime<Utc>,
}
identity_event!(UserLoggedIn, "identity.UserLoggedIn");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserPasswordChanged {
    pub user_id: String,
    pub at: DateTime<Utc>,
}
identity_event!(UserPasswordChanged, "identity.UserPasswordChanged");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRoleChanged {
    pub user_id: String,
    pub previous_role: Role,
    pub role: Role,
    /// The admin who changed it, or `None` when configuration promoted the user at start-up.
    pub changed_by: Option<String>,
}
identity_event!(UserRoleChanged, "identity.UserRoleChanged");

/// The profile as it is after the update (consumers keep projections of contact details).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserProfileUpdated {
    pub user_id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub avatar_url: Option<String>,
    pub locale: String,
    pub time_zone: String,
    pub notify_email: bool,
    pub notify_push: bool,
    pub notify_sms: bool,
}
identity_event!(UserProfileUpdated, "identity.UserProfileUpdated");
