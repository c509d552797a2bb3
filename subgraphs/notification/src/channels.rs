//! The channels notifications leave by, behind one trait with two adapters each: email over
//! SMTP (lettre) or into `.eml` files (the embedded default); push and SMS through a provider's
//! HTTP endpoint or, embedded, a log line. In-app notifications need no channel: storing them
//! is their delivery.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret as _;
use serde_json::json;
use uuid::Uuid;

use crate::config::{EmailConfig, NotificationConfig};
use crate::domain::{Channel, DeliveryFailure, Kind};
use crate::templates;

/// Where one notification goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Email {
        to: String,
        name: String,
        locale: String,
    },
    /// The user's registered push devices.
    Devices(Vec<String>),
    Phone(String),
}

/// What is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub notification_id: Uuid,
    pub kind: Kind,
    pub title: String,
    pub body: String,
}

/// A way out. Implementations say whether a failure is worth another attempt.
#[async_trait]
pub trait Sender: Send + Sync {
    async fn send(&self, to: &Address, message: &Outgoing) -> Result<(), DeliveryFailure>;
}

/// The senders of the external channels.
#[derive(Clone)]
pub struct Channels {
    pub email: Arc<dyn Sender>,
    pub push: Arc<dyn Sender>,
    pub sms: Arc<dyn Sender>,
    /// One attempt gives up after this (a timeout is a transient failure).
    pub timeout: Duration,
}

impl Channels {
    /// The adapters `config` names: SMTP or files for email, HTTP or logs for push and SMS.
    pub fn from_config(config: &NotificationConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().timeout(config.provider_timeout).build()?;
        let provider = |url: &Option<String>, channel: Channel| -> Arc<dyn Sender> {
            match url {
                Some(url) => Arc::new(HttpProvider { client: client.clone(), url: url.clone(), channel }),
                None => Arc::new(LogProvider { channel }),
            }
        };
        Ok(Self {
            email: email_sender(&config.email, config.provider_timeout)?,
            push: provider(&config.push_provider_url, Channel::Push),
            sms: provider(&config.sms_provider_url, Channel::Sms),
            timeout: config.provider_timeout,
        })
    }

    fn sender(&self, channel: Channel) -> Option<&Arc<dyn Sender>> {
        match channel {
            Channel::Email => Some(&self.email),
            Channel::Push => Some(&self.push),
            Channel::Sms => Some(&self.sms),
            Channel::InApp => None,
        }
    }

    /// Sends on `channel` within the timeout.
    pub async fn send(&self, channel: Channel, to: &Address, message: &Outgoing) -> Result<(), DeliveryFailure> {
        let sender = self.sender(channel).ok_or(DeliveryFailure::Permanent("in-app needs no delivery".into()))?;
        match tokio::time::timeout(self.timeout, sender.send(to, message)).await {
            Ok(result) => result,
            Err(_) => Err(DeliveryFailure::Transient(format!("no answer within {:?}", self.timeout))),
        }
    }
}

fn email_sender(config: &EmailConfig, timeout: Duration) -> anyhow::Result<Arc<dyn Sender>> {
    let from: Mailbox = config.from.parse()?;
    Ok(match &config.smtp {
        Some(smtp) => {
            // Plain SMTP to a relay (see the README on TLS); one connection per message.
            let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
                .port(smtp.port)
                .timeout(Some(timeout));
            if let Some((user, password)) = &smtp.credentials {
                builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
            }
            Arc::new(SmtpEmail { from, transport: builder.build() })
        }
        None => {
            std::fs::create_dir_all(&config.mail_dir)
                .map_err(|e| anyhow::anyhow!("creating MAIL_DIR {}: {e}", config.mail_dir.display()))?;
            Arc::new(FileEmail { from, transport: AsyncFileTransport::new(&config.mail_dir) })
        }
    })
}

/// The email for a notification: plain text and HTML (escaped) alternatives.
fn email(from: &Mailbox, to: &Address, message: &Outgoing) -> Result<lettre::Message, DeliveryFailure> {
    let Address::Email { to, name, locale } = to else {
        return Err(DeliveryFailure::Permanent("not an email address".into()));
    };
    let to = Mailbox::new(
        (!name.is_empty()).then(|| name.clone()),
        to.parse().map_err(|e| DeliveryFailure::Permanent(format!("`{to}` is not a deliverable address: {e}")))?,
    );
    let html = templates::email_html(&message.title, &message.body, locale)
        .map_err(|e| DeliveryFailure::Permanent(e.to_string()))?;
    lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(&message.title)
        .multipart(MultiPart::alternative_plain_html(message.body.clone(), html))
        .map_err(|e| DeliveryFailure::Permanent(format!("building the email: {e}")))
}

/// Email through an SMTP relay.
pub struct SmtpEmail {
    from: Mailbox,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

#[async_trait]
impl Sender for SmtpEmail {
    async fn send(&self, to: &Address, message: &Outgoing) -> Result<(), DeliveryFailure> {
        let email = email(&self.from, to, message)?;
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            // 5xx: the relay refused this message for good (unknown mailbox, policy).
            Err(e) if e.is_permanent() => Err(DeliveryFailure::Permanent(format!("SMTP: {e}"))),
            // 4xx, connection refused, timeouts: try again later.
            Err(e) => Err(DeliveryFailure::Transient(format!("SMTP: {e}"))),
        }
    }
}

/// Email written as an `.eml` file per message (the embedded default).
pub struct FileEmail {
    from: Mailbox,
    transport: AsyncFileTransport<Tokio1Executor>,
}

#[async_trait]
impl Sender for FileEmail {
    async fn send(&self, to: &Address, message: &Outgoing) -> Result<(), DeliveryFailure> {
        let email = email(&self.from, to, message)?;
        let id = self.transport.send(email).await.map_err(|e| DeliveryFailure::Transient(format!("mail file: {e}")))?;
        tracing::info!(notification = %message.notification_id, file = %format!("{id}.eml"), "email written");
        Ok(())
    }
}

/// A push or SMS provider's HTTP endpoint: the notification is POSTed as JSON. 2xx: sent;
/// 408, 429, 5xx, timeouts and connection errors: retried; other 4xx: failed for good.
pub struct HttpProvider {
    client: reqwest::Client,
    url: String,
    channel: Channel,
}

#[async_trait]
impl Sender for HttpProvider {
    async fn send(&self, to: &Address, message: &Outgoing) -> Result<(), DeliveryFailure> {
        let to = match to {
            Address::Devices(tokens) => json!(tokens),
            Address::Phone(number) => json!(number),
            Address::Email { .. } => return Err(DeliveryFailure::Permanent("an email address".into())),
        };
        let body = json!({
            "id": message.notification_id.to_string(),
            "channel": self.channel.as_str(),
            "type": message.kind.as_str(),
            "to": to,
            "title": message.title,
            "body": message.body,
        });
        let response = self
            .client
            .post(&self.url)
            .header("Idempotency-Key", message.notification_id.to_string())
            .json(&body)
            .send()
            .await
            .map_err(|e| DeliveryFailure::Transient(format!("{} provider unreachable: {e}", self.channel.as_str())))?;
        let status = response.status();
        let failure = format!("{} provider answered {status}", self.channel.as_str());
        match status.as_u16() {
            200..=299 => Ok(()),
            408 | 429 | 500..=599 => Err(DeliveryFailure::Transient(failure)),
            _ => Err(DeliveryFailure::Permanent(failure)),
        }
    }
}

/// The embedded stand-in for a push or SMS provider: logs the message and counts it sent.
pub struct LogProvider {
    channel: Channel,
}

#[async_trait]
impl Sender for LogProvider {
    async fn send(&self, to: &Address, message: &Outgoing) -> Result<(), DeliveryFailure> {
        tracing::info!(
            channel = self.channel.as_str(),
            notification = %message.notification_id,
            to = ?to,
            title = %message.title,
            "notification sent (no provider configured: logged only)"
        );
        Ok(())
    }
}
