//! A simulated Stripe-like provider, held in memory: payment intents decided by Stripe's test
//! cards, idempotency keys, partial and full refunds, transfers, and webhooks signed like
//! Stripe's (`Stripe-Signature`) and delivered asynchronously with exponential backoff until the
//! endpoint answers 2xx.
//!
//! It is built outside the payment service and handed to it, so its state (and its webhooks
//! still being retried) outlives a restart of the service, as a real provider would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use kernel::Money;
use platform::Shutdown;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{
    Intent, IntentRequest, Metadata, PaymentProvider, ProviderError, ProviderRefund, RefundRequest, Transfer,
    TransferRequest, currency_code,
};
use crate::webhook;

/// The first retry of an undelivered webhook waits this long; each next one twice as long.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// What a test card (or its `pm_card_…` token) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Card {
    Succeeds,
    Declined(&'static str),
}

fn card(method: &str) -> Option<Card> {
    match method.trim() {
        "4242424242424242" | "pm_card_visa" => Some(Card::Succeeds),
        "4000000000000002" | "pm_card_chargeDeclined" => Some(Card::Declined("card_declined")),
        "4000000000009995" | "pm_card_chargeDeclinedInsufficientFunds" => Some(Card::Declined("insufficient_funds")),
        _ => None,
    }
}

/// The refusal of a method the simulated provider does not know (not echoed: it may be a real
/// card number).
fn unknown_method(_payment_method: &str) -> ProviderError {
    ProviderError::InvalidRequest(
        "not a payment method the provider accepts (test cards: 4242424242424242, 4000000000000002, \
         4000000000009995 or their pm_card_… tokens)"
            .into(),
    )
}

struct IntentRecord {
    amount: Money,
    metadata: Metadata,
    status: &'static str,
    payment_method: Option<String>,
    last_error: Option<&'static str>,
    charge_id: String,
    /// Refund objects, newest first (as a charge lists them).
    refunds: Vec<Value>,
    refunded_minor: i64,
}

impl IntentRecord {
    fn answer(&self, id: &str) -> Intent {
        Intent { id: id.to_owned(), amount: self.amount, status: self.status.to_owned() }
    }

    fn object(&self, id: &str) -> Value {
        json!({
            "id": id,
            "object": "payment_intent",
            "amount": self.amount.amount_minor,
            "currency": currency_code(self.amount.currency),
            "status": self.status,
            "payment_method": self.payment_method,
            "latest_charge": self.charge_id,
            "last_payment_error": self.last_error.map(|code| json!({ "code": code, "type": "card_error" })),
            "metadata": self.metadata,
        })
    }
}

/// A stored answer to an idempotent call.
#[derive(Clone)]
enum Answer {
    Intent(Intent),
    Refund(ProviderRefund),
    Transfer(Transfer),
}

#[derive(Default)]
struct State {
    intents: HashMap<String, IntentRecord>,
    /// Idempotency key → (the request's fingerprint, the answer).
    keys: HashMap<String, (String, Answer)>,
    /// Every event sent, oldest first.
    events: Vec<Value>,
}

impl State {
    /// The stored answer for `key`, if this exact request was made with it before.
    fn replay(&self, key: &str, fingerprint: &str) -> Result<Option<Answer>, ProviderError> {
        match self.keys.get(key) {
            Some((stored, answer)) if stored == fingerprint => Ok(Some(answer.clone())),
            Some(_) => Err(ProviderError::IdempotencyConflict(key.to_owned())),
            None => Ok(None),
        }
    }

    fn intent(&mut self, id: &str) -> Result<&mut IntentRecord, ProviderError> {
        self.intents.get_mut(id).ok_or_else(|| ProviderError::NotFound(format!("payment intent `{id}`")))
    }
}

pub struct SimulatedProvider {
    state: Mutex<State>,
    outbox: mpsc::UnboundedSender<Value>,
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

fn fingerprint(operation: &str, request: &impl Serialize) -> String {
    format!("{operation}:{}", serde_json::to_string(request).expect("provider requests serialise to JSON"))
}

impl SimulatedProvider {
    /// Starts the provider: its webhooks go to `webhook_url`, signed with `secret`, until
    /// `shutdown`.
    pub fn start(secret: SecretString, webhook_url: String, shutdown: &Shutdown) -> Arc<Self> {
        let (outbox, queue) = mpsc::unbounded_channel();
        tokio::spawn(deliver_all(queue, Arc::new(Delivery::new(secret, webhook_url)), shutdown.clone()));
        Arc::new(Self { state: Mutex::new(State::default()), outbox })
    }

    /// The events sent so far, oldest first (Stripe's `GET /v1/events`).
    pub fn events(&self) -> Vec<Value> {
        self.lock().events.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records an event and queues its delivery.
    fn emit(&self, state: &mut State, event_type: &str, object: Value) {
        let event = json!({
            "id": new_id("evt"),
            "object": "event",
            "type": event_type,
            "created": Utc::now().timestamp(),
            "data": { "object": object },
        });
        state.events.push(event.clone());
        // Fails only once the delivery task stopped at shutdown: nothing is delivered then.
        let _ = self.outbox.send(event);
    }
}

#[async_trait]
impl PaymentProvider for SimulatedProvider {
    fn accepts(&self, payment_method: &str) -> Result<(), ProviderError> {
        card(payment_method).map(|_| ()).ok_or_else(|| unknown_method(payment_method))
    }

    async fn create_intent(&self, key: &str, request: &IntentRequest) -> Result<Intent, ProviderError> {
        let print = fingerprint("create_intent", request);
        let mut state = self.lock();
        if let Some(Answer::Intent(intent)) = state.replay(key, &print)? {
            return Ok(intent);
        }
        if request.amount.amount_minor <= 0 {
            return Err(ProviderError::InvalidRequest("the amount must be positive".into()));
        }
        let id = new_id("pi");
        let record = IntentRecord {
            amount: request.amount,
            metadata: request.metadata.clone(),
            status: "requires_payment_method",
            payment_method: None,
            last_error: None,
            charge_id: new_id("ch"),
            refunds: Vec::new(),
            refunded_minor: 0,
        };
        let intent = record.answer(&id);
        state.intents.insert(id, record);
        state.keys.insert(key.to_owned(), (print, Answer::Intent(intent.clone())));
        Ok(intent)
    }

    async fn confirm_intent(&self, key: &str, intent_id: &str, payment_method: &str) -> Result<Intent, ProviderError> {
        let print = fingerprint("confirm_intent", &(intent_id, payment_method));
        let mut state = self.lock();
        if let Some(Answer::Intent(intent)) = state.replay(key, &print)? {
            return Ok(intent);
        }
        // Requests that fail validation are not stored under their key (as with Stripe).
        let outcome = card(payment_method).ok_or_else(|| unknown_method(payment_method))?;
        let record = state.intent(intent_id)?;
        if record.status != "requires_payment_method" || record.payment_method.is_some() {
            return Err(ProviderError::InvalidRequest(format!("payment intent `{intent_id}` was already confirmed")));
        }
        record.payment_method = Some(payment_method.to_owned());
        let event_type = match outcome {
            Card::Succeeds => {
                record.status = "succeeded";
                "payment_intent.succeeded"
            }
            Card::Declined(code) => {
                record.last_error = Some(code);
                "payment_intent.payment_failed"
            }
        };
        let (intent, object) = (record.answer(intent_id), record.object(intent_id));
        self.emit(&mut state, event_type, object);
        state.keys.insert(key.to_owned(), (print, Answer::Intent(intent.clone())));
        Ok(intent)
    }

    async fn create_refund(&self, key: &str, request: &RefundRequest) -> Result<ProviderRefund, ProviderError> {
        let print = fingerprint("create_refund", request);
        let mut state = self.lock();
        if let Some(Answer::Refund(refund)) = state.replay(key, &print)? {
            return Ok(refund);
        }
        let record = state.intent(&request.intent_id)?;
        if record.status != "succeeded" {
            return Err(ProviderError::InvalidRequest(format!("payment intent `{}` has no charge", request.intent_id)));
        }
        let remaining = record.amount.amount_minor - record.refunded_minor;
        let amount = request.amount.amount_minor;
        if amount <= 0 || amount > remaining || request.amount.currency != record.amount.currency {
            return Err(ProviderError::InvalidRequest(format!(
                "a refund must be positive, in the charge's currency and at most {remaining} (what remains)"
            )));
        }
        let id = new_id("re");
        record.refunded_minor += amount;
        record.refunds.insert(
            0,
            json!({
                "id": id,
                "object": "refund",
                "amount": amount,
                "currency": currency_code(request.amount.currency),
                "payment_intent": request.intent_id,
                "status": "succeeded",
                "metadata": request.metadata,
            }),
        );
        let charge = json!({
            "id": record.charge_id,
            "object": "charge",
            "payment_intent": request.intent_id,
            "amount": record.amount.amount_minor,
            "amount_refunded": record.refunded_minor,
            "currency": currency_code(record.amount.currency),
            "refunded": record.refunded_minor == record.amount.amount_minor,
            "refunds": { "object": "list", "data": record.refunds },
        });
        self.emit(&mut state, "charge.refunded", charge);
        let refund = ProviderRefund { id, amount: request.amount };
        state.keys.insert(key.to_owned(), (print, Answer::Refund(refund.clone())));
        Ok(refund)
    }

    async fn create_transfer(&self, key: &str, request: &TransferRequest) -> Result<Transfer, ProviderError> {
        let print = fingerprint("create_transfer", request);
        let mut state = self.lock();
        if let Some(Answer::Transfer(transfer)) = state.replay(key, &print)? {
            return Ok(transfer);
        }
        if request.amount.amount_minor <= 0 {
            return Err(ProviderError::InvalidRequest("a transfer must be positive".into()));
        }
        let id = new_id("tr");
        let object = json!({
            "id": id,
            "object": "transfer",
            "amount": request.amount.amount_minor,
            "currency": currency_code(request.amount.currency),
            "destination": request.destination,
            "metadata": request.metadata,
        });
        self.emit(&mut state, "transfer.paid", object);
        let transfer = Transfer { id, amount: request.amount };
        state.keys.insert(key.to_owned(), (print, Answer::Transfer(transfer.clone())));
        Ok(transfer)
    }
}

/// Where and how webhooks are posted.
struct Delivery {
    secret: SecretString,
    url: String,
    client: reqwest::Client,
}

impl Delivery {
    fn new(secret: SecretString, url: String) -> Self {
        let client =
            reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("a plain HTTP client builds");
        Self { secret, url, client }
    }

    /// One attempt; each is signed anew with the current time, as Stripe does.
    async fn attempt(&self, body: &[u8]) -> Result<(), String> {
        let signature = webhook::signature_header(self.secret.expose_secret().as_bytes(), Utc::now().timestamp(), body);
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(webhook::SIGNATURE_HEADER, signature)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() { Ok(()) } else { Err(format!("answered {}", response.status())) }
    }

    /// Retries with exponential backoff until the endpoint answers 2xx or shutdown.
    async fn deliver(self: Arc<Self>, event: Value, shutdown: Shutdown) {
        let body = serde_json::to_vec(&event).expect("an event serialises to JSON");
        let mut pause = FIRST_RETRY;
        loop {
            match self.attempt(&body).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::debug!(url = %self.url, event_id = %event["id"], %error, retry_in = ?pause, "webhook not delivered");
                }
            }
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(MAX_RETRY);
        }
    }
}

/// Delivers each queued event on its own task, so one unreachable endpoint's retries do not
/// hold the others back (webhooks are unordered, as Stripe's are).
async fn deliver_all(mut queue: mpsc::UnboundedReceiver<Value>, delivery: Arc<Delivery>, shutdown: Shutdown) {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            event = queue.recv() => match event {
                Some(event) => {
                    tokio::spawn(delivery.clone().deliver(event, shutdown.clone()));
                }
                None => return,
            },
        }
    }
}
