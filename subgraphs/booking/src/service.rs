//! The booking use cases: one transaction each (load and lock, decide in the domain, save with
//! the events), the saga's reactions to payment, and the sweeper that lets time decide.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use kernel::EventEnvelope;
use platform::{Principal, Shutdown};
use uuid::Uuid;

use crate::config::Policy;
use crate::domain::{Booking, BookingId, Change, DomainError, Request, Role, Snapshot, TutorId, UserId};
use crate::error::ServiceError;
use crate::events::{self, CONSUMER};
use crate::store::{BookingStore, Filter, Owner, StoreError};

pub const MAX_PAGE: usize = 50;

pub struct BookingService {
    store: Arc<dyn BookingStore>,
    policy: Policy,
}

/// A page of bookings and whether more follow.
pub struct Page {
    pub bookings: Vec<Booking>,
    pub has_next_page: bool,
}

/// A student's booking request as the API receives it.
pub struct NewBooking {
    pub tutor_id: TutorId,
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: i64,
    pub subject: String,
    pub pricing_option_id: Uuid,
}

fn chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl BookingService {
    pub fn new(store: Arc<dyn BookingStore>, policy: Policy) -> Self {
        Self { store, policy }
    }

    pub fn store(&self) -> &Arc<dyn BookingStore> {
        &self.store
    }

    /// A student asks for a tutor's slot: checked against the tutor's calendar and price as
    /// tutoring published them, and against every booking holding an overlapping slot.
    pub async fn request(&self, principal: &Principal, input: NewBooking) -> Result<Booking, ServiceError> {
        if principal.role != Role::Student {
            return Err(ServiceError::Forbidden("only students can book sessions"));
        }
        let calendar = self
            .store
            .calendar(input.tutor_id)
            .await?
            .ok_or(ServiceError::NotFound("no bookable tutor with this id (no published availability yet)"))?;
        let student = self.store.known_user(principal.user_id).await?;
        let tutor = self.store.known_user(calendar.user_id).await?;
        let snapshot = |price| Snapshot {
            tutor_name: tutor.as_ref().map(|u| u.name()),
            tutor_email: tutor.as_ref().map(|u| u.email.clone()),
            student_name: student.as_ref().map(|u| u.name()),
            student_email: student.as_ref().map(|u| u.email.clone()),
            original_price: price,
        };
        let request = Request {
            student_id: principal.user_id,
            starts_at: input.starts_at,
            duration_minutes: input.duration_minutes,
            subject: input.subject,
            pricing_option_id: input.pricing_option_id,
        };
        let booking = Booking::request(request, &calendar, snapshot, chrono(self.policy.payment_timeout), now())?;
        self.store.insert(&booking, &[events::requested(&booking)]).await?;
        tracing::info!(booking = %booking.id, tutor = %booking.tutor_id, starts_at = %booking.starts_at, "booking requested");
        Ok(booking)
    }

    /// A booking as `viewer` may see it (participants and admins).
    pub async fn booking(&self, viewer: &Principal, id: BookingId) -> Result<Option<Booking>, ServiceError> {
        Ok(self.store.booking(id).await?.filter(|b| b.visible_to(viewer.user_id, viewer.role)))
    }

    pub async fn bookings(&self, ids: &[BookingId]) -> Result<Vec<Booking>, StoreError> {
        self.store.bookings(ids).await
    }

    /// A page of bookings by session start; `owner` must be the viewer (or the viewer an admin).
    pub async fn list(
        &self,
        owner: Owner,
        filter: Filter,
        first: usize,
        after: Option<&str>,
    ) -> Result<Page, ServiceError> {
        if first == 0 || first > MAX_PAGE {
            return Err(ServiceError::BadInput(format!("`first` must be between 1 and {MAX_PAGE}")));
        }
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && to <= from
        {
            return Err(ServiceError::BadInput("`to` must be after `from`".into()));
        }
        let after = after.map(parse_cursor).transpose()?;
        let mut bookings = self.store.list(owner, &filter, after, first as i64 + 1).await?;
        let has_next_page = bookings.len() > first;
        bookings.truncate(first);
        Ok(Page { bookings, has_next_page })
    }

    async fn change(
        &self,
        id: BookingId,
        decide: &(dyn Fn(&mut Booking) -> Result<Change, DomainError> + Send + Sync),
    ) -> Result<Booking, ServiceError> {
        let decide = |b: &mut Booking| {
            let change = decide(b)?;
            Ok(events::for_change(b, change, None))
        };
        self.store.update(id, None, &decide).await?.ok_or(ServiceError::NotFound("no such booking"))
    }

    /// The tutor accepts; the booking is confirmed once paid.
    pub async fn confirm(&self, principal: &Principal, id: BookingId) -> Result<Booking, ServiceError> {
        let base = self.policy.meeting_base_url.clone();
        let by = principal.user_id;
        self.visible(principal, id).await?;
        self.change(id, &|b| b.accept(by, &base, now())).await
    }

    pub async fn decline(&self, principal: &Principal, id: BookingId, reason: &str) -> Result<Booking, ServiceError> {
        let by = principal.user_id;
        self.visible(principal, id).await?;
        self.change(id, &|b| b.decline(by, reason, now())).await
    }

    pub async fn cancel(&self, principal: &Principal, id: BookingId, reason: &str) -> Result<Booking, ServiceError> {
        let by = principal.user_id;
        self.visible(principal, id).await?;
        self.change(id, &|b| b.cancel(by, reason, now())).await
    }

    pub async fn complete(&self, principal: &Principal, id: BookingId) -> Result<Booking, ServiceError> {
        let by = principal.user_id;
        self.visible(principal, id).await?;
        self.change(id, &|b| b.complete(by, now())).await
    }

    /// Someone who may not see a booking learns nothing about it, not even that it exists.
    async fn visible(&self, principal: &Principal, id: BookingId) -> Result<(), ServiceError> {
        match self.booking(principal, id).await? {
            Some(_) => Ok(()),
            None => Err(ServiceError::NotFound("no such booking")),
        }
    }

    async fn react(
        &self,
        event: &EventEnvelope,
        id: BookingId,
        decide: &(dyn Fn(&mut Booking) -> Change + Send + Sync),
    ) -> Result<(), StoreError> {
        let decide = |b: &mut Booking| {
            let change = decide(b);
            Ok(events::for_change(b, change, Some(event)))
        };
        let updated = self.store.update(id, Some((CONSUMER, event)), &decide).await?;
        if let Some(b) = updated {
            tracing::info!(booking = %b.id, status = %b.status, event = %event.event_type, "booking saga step");
        }
        Ok(())
    }

    /// Saga: the charge succeeded → confirmed (instant tutors, or already accepted).
    pub async fn payment_succeeded(&self, event: &EventEnvelope, id: BookingId) -> Result<(), StoreError> {
        let base = self.policy.meeting_base_url.clone();
        self.react(event, id, &|b| b.payment_succeeded(&base, now())).await
    }

    /// Saga: the charge failed → cancelled.
    pub async fn payment_failed(&self, event: &EventEnvelope, id: BookingId, reason: &str) -> Result<(), StoreError> {
        self.react(event, id, &|b| b.payment_failed(reason, now())).await
    }

    /// Saga: the refund went through → refunded.
    pub async fn refunded(&self, event: &EventEnvelope, id: BookingId, total_minor: i64) -> Result<(), StoreError> {
        self.react(event, id, &|b| b.refunded(total_minor, now())).await
    }

    /// Applies every deadline that has passed; returns how many bookings changed.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        let at = now();
        let after = chrono(self.policy.auto_complete_after);
        let mut changed = 0;
        for id in self.store.due(at, at - after, 500).await? {
            let decide = |b: &mut Booking| {
                let change = b.on_time_passed(after, now());
                Ok(events::for_change(b, change, None))
            };
            match self.store.update(id, None, &decide).await {
                Ok(Some(_)) => changed += 1,
                Ok(None) => {}
                // Someone else changed it meanwhile: the next sweep looks again.
                Err(StoreError::StaleVersion) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(changed)
    }

    /// Sweeps every `interval` until shutdown.
    pub async fn run_sweeper(self: Arc<Self>, interval: Duration, shutdown: Shutdown) {
        loop {
            match self.sweep().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(changed = n, "booking deadlines applied"),
                Err(error) => tracing::warn!(%error, "booking sweep failed; retrying next interval"),
            }
            tokio::select! {
                _ = shutdown.wait() => break,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// A listing cursor: `<session start RFC 3339>|<booking id>`.
pub fn cursor(b: &Booking) -> String {
    format!("{}|{}", b.starts_at.to_rfc3339(), b.id)
}

fn parse_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid), ServiceError> {
    let bad = || ServiceError::BadInput("`after` is not a booking cursor".into());
    let (at, id) = raw.split_once('|').ok_or_else(bad)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| bad())?.with_timezone(&Utc);
    Ok((at, id.parse().map_err(|_| bad())?))
}

/// Who a listing is about, checked against the viewer: one's own bookings, or an admin's view.
pub fn owner_for(viewer: &Principal, owner: Owner, tutor_user: Option<UserId>) -> Result<Owner, ServiceError> {
    let allowed = viewer.role == Role::Admin
        || match owner {
            Owner::Participant(user) => user == viewer.user_id,
            Owner::Tutor(_) => tutor_user == Some(viewer.user_id),
        };
    if allowed { Ok(owner) } else { Err(ServiceError::Forbidden("you can only list your own bookings")) }
}

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}
