//! The tutoring subgraph's GraphQL schema: `tutor`, `tutors` (search), `availableSlots`, the
//! profile mutations, the federated `Tutor @key(fields: "id")` entity and `User.tutorProfile`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{
    ComplexObject, Context, EmptySubscription, Enum, ID, InputObject, Object, Result, Schema, SimpleObject,
};
use chrono::{DateTime, Utc};
use kernel::ErrorCode;
use platform::SignedInGuard;
use platform::auth::require_principal;
use platform::graphql::{CodedError, RequestMetrics, error_with_code};
use uuid::Uuid;

use crate::domain::{self, Currency, Level, PricingKind, Subject, TimeOff, TutorId, UserId, WeeklyWindow};
use crate::error::{IntoGraphql, ServiceError};
use crate::service::{NewProfile, NewSchedule, OptionInput, ProfileChanges, Search, TutoringService};
use crate::store::SortBy;

pub type TutoringSchema = Schema<Query, Mutation, EmptySubscription>;

/// Builds the schema; `service` is `None` only to export the SDL.
pub fn build(service: Option<Arc<TutoringService>>) -> TutoringSchema {
    let mut builder = Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .limit_depth(16)
        .limit_complexity(2_000)
        .extension(RequestMetrics::new("tutoring"));
    if let Some(service) = service {
        let by_id = DataLoader::new(TutorLoader(service.clone()), tokio::spawn);
        let by_user = DataLoader::new(TutorOfUserLoader(service.clone()), tokio::spawn);
        builder = builder.data(service).data(by_id).data(by_user);
    }
    builder.finish()
}

/// The federated SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build(None).sdl_with_options(async_graphql::SDLExportOptions::new().federation())
}

fn service<'a>(ctx: &Context<'a>) -> &'a Arc<TutoringService> {
    ctx.data_unchecked::<Arc<TutoringService>>()
}

fn bad_input(message: impl Into<String>) -> async_graphql::Error {
    error_with_code(ErrorCode::BadUserInput, message.into())
}

fn parse_id<T: std::str::FromStr>(id: &ID, what: &str) -> Result<T> {
    id.parse().map_err(|_| bad_input(format!("`{}` is not a {what} id", id.as_str())))
}

/// Batches `Tutor` entity lookups: one query per table per batch.
pub struct TutorLoader(Arc<TutoringService>);

impl Loader<TutorId> for TutorLoader {
    type Value = domain::Tutor;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[TutorId]) -> Result<HashMap<TutorId, domain::Tutor>, Self::Error> {
        let tutors = self.0.tutors(keys).await.map_err(|e| Arc::new(ServiceError::from(e)))?;
        Ok(tutors.into_iter().map(|t| (t.id, t)).collect())
    }
}

/// Batches `User.tutorProfile`.
pub struct TutorOfUserLoader(Arc<TutoringService>);

impl Loader<UserId> for TutorOfUserLoader {
    type Value = domain::Tutor;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, domain::Tutor>, Self::Error> {
        let tutors = self.0.tutors_of_users(keys).await.map_err(Arc::new)?;
        Ok(tutors.into_iter().map(|t| (t.user_id, t)).collect())
    }
}

fn loader_error(e: Arc<ServiceError>) -> async_graphql::Error {
    match Arc::try_unwrap(e) {
        Ok(e) => e.into_graphql(),
        Err(shared) => platform::graphql::internal_error(&shared),
    }
}

pub struct Query;

#[Object]
impl Query {
    /// A tutor profile by id.
    async fn tutor(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Tutor>> {
        let id = parse_id(&id, "tutor")?;
        Ok(ctx.data_unchecked::<DataLoader<TutorLoader>>().load_one(id).await.map_err(loader_error)?.map(Tutor))
    }

    /// Searches tutors. Results are a Relay connection; `first` is 1–100 (default 20).
    async fn tutors(
        &self,
        ctx: &Context<'_>,
        filter: Option<TutorFilter>,
        #[graphql(desc = "RATING when omitted.")] sort: Option<TutorSort>,
        #[graphql(desc = "1–100; 20 when omitted.")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<TutorConnection> {
        let (sort, first) = (sort.unwrap_or(TutorSort::Rating), first.unwrap_or(20));
        let filter = filter.unwrap_or_default();
        let available = match (filter.available_from, filter.available_to) {
            (Some(from), Some(to)) => Some((from, to)),
            (None, None) => None,
            _ => return Err(bad_input("availableFrom and availableTo go together")),
        };
        let min_rating = match filter.min_rating {
            Some(r) if !(0.0..=5.0).contains(&r) => return Err(bad_input("minRating is between 0 and 5")),
            Some(r) => Some((r * 100.0).round() as i64),
            None => None,
        };
        let money = |m: Option<MoneyInput>| -> Result<Option<domain::Money>> {
            m.map(|m| {
                let currency = Currency::parse(&m.currency).map_err(|e| bad_input(e.to_string()))?;
                if m.amount_minor < 0 {
                    return Err(bad_input("a price is not negative"));
                }
                Ok(domain::Money::new(m.amount_minor, currency))
            })
            .transpose()
        };
        let search = Search {
            subject: filter.subject,
            min_price: money(filter.min_price)?,
            max_price: money(filter.max_price)?,
            min_rating,
            available,
            verified_only: filter.verified_only,
            text: filter.text,
            sort: Some(sort.into()),
            first: usize::try_from(first).unwrap_or(0),
            after,
        };
        let page = service(ctx).search(search).await.gql()?;
        let end_cursor = page.tutors.last().map(|(_, c)| c.clone());
        Ok(TutorConnection {
            edges: page.tutors.into_iter().map(|(t, cursor)| TutorEdge { cursor, node: Tutor(t) }).collect(),
            page_info: PageInfo { has_next_page: page.has_next_page, end_cursor },
        })
    }

    /// Bookable slots of a tutor in `[from, to)` (at most 31 days), by the tutor's local clock,
    /// without time off, booked slots and the past.
    async fn available_slots(
        &self,
        ctx: &Context<'_>,
        tutor_id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        #[graphql(desc = "15–240 in steps of 15; 60 when omitted.")] duration_minutes: Option<i32>,
    ) -> Result<Vec<Slot>> {
        let duration_minutes = duration_minutes.unwrap_or(60);
        let id = parse_id(&tutor_id, "tutor")?;
        let duration = u16::try_from(duration_minutes)
            .map_err(|_| ServiceError::from(domain::DomainError::InvalidDuration))
            .gql()?;
        let slots = service(ctx).available_slots(id, from, to, duration).await.gql()?;
        Ok(slots.into_iter().map(|(starts_at, ends_at)| Slot { starts_at, ends_at }).collect())
    }

    #[graphql(entity)]
    async fn find_tutor_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Tutor>> {
        // An unknown or malformed id resolves to null, never failing the batch.
        let Ok(id) = id.parse::<TutorId>() else { return Ok(None) };
        Ok(ctx.data_unchecked::<DataLoader<TutorLoader>>().load_one(id).await.map_err(loader_error)?.map(Tutor))
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id }
    }
}

/// A user as tutoring sees it: the key, and the tutor profile.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct User {
    pub id: ID,
}

#[ComplexObject]
impl User {
    /// The user's tutor profile, if they have one.
    async fn tutor_profile(&self, ctx: &Context<'_>) -> Result<Option<Tutor>> {
        let Ok(id) = self.id.parse::<UserId>() else { return Ok(None) };
        Ok(ctx.data_unchecked::<DataLoader<TutorOfUserLoader>>().load_one(id).await.map_err(loader_error)?.map(Tutor))
    }
}

/// A tutor's profile.
pub struct Tutor(domain::Tutor);

#[Object]
impl Tutor {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// The user behind the profile (name, avatar: from identity).
    async fn user(&self) -> User {
        User { id: ID(self.0.user_id.to_string()) }
    }
    async fn bio(&self) -> &str {
        &self.0.bio
    }
    async fn subjects(&self) -> Vec<SubjectView> {
        self.0.subjects.iter().map(|s| SubjectView { name: s.name.clone(), level: s.level.into() }).collect()
    }
    /// Whether a booking is confirmed as soon as it is paid (otherwise the tutor confirms).
    async fn instant_booking(&self) -> bool {
        self.0.instant_booking
    }
    /// Checked by an admin.
    async fn verified(&self) -> bool {
        self.0.verified
    }
    /// The IANA time zone the weekly availability is in.
    async fn time_zone(&self) -> &str {
        self.0.schedule.time_zone.name()
    }
    async fn weekly_availability(&self) -> Vec<AvailabilityWindow> {
        self.0
            .schedule
            .weekly
            .iter()
            .map(|w| AvailabilityWindow {
                weekday: Weekday::from_iso(w.weekday),
                start: w.start_hhmm(),
                end: w.end_hhmm(),
            })
            .collect()
    }
    async fn time_off(&self) -> Vec<Slot> {
        self.0.schedule.time_off.iter().map(|t| Slot { starts_at: t.starts_at, ends_at: t.ends_at }).collect()
    }
    async fn pricing(&self) -> Option<Pricing> {
        self.0.pricing.as_ref().map(|p| Pricing {
            currency: p.currency.to_string(),
            lowest_hourly: p.lowest_hourly().into(),
            options: p
                .options
                .iter()
                .map(|o| PricingOptionView {
                    id: ID(o.id.to_string()),
                    kind: match o.kind {
                        PricingKind::Hourly => PricingOptionKind::Hourly,
                        PricingKind::Package { .. } => PricingOptionKind::Package,
                    },
                    sessions: match o.kind {
                        PricingKind::Hourly => 1,
                        PricingKind::Package { sessions } => sessions as i32,
                    },
                    price: domain::Money::new(o.amount_minor, p.currency).into(),
                })
                .collect(),
        })
    }
    async fn certifications(&self) -> Vec<CertificationView> {
        self.0.certifications.iter().map(CertificationView::from).collect()
    }
    async fn education(&self) -> Vec<EducationView> {
        self.0.education.iter().map(EducationView::from).collect()
    }
    /// The average of published reviews (from the review context's events).
    async fn rating(&self) -> RatingView {
        RatingView {
            average: self.0.rating.average_hundredths().map(|h| h as f64 / 100.0),
            count: self.0.rating.count as i32,
        }
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Subject")]
pub struct SubjectView {
    /// Normalised: lower case, single spaces.
    name: String,
    level: SubjectLevel,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum SubjectLevel {
    Beginner,
    Intermediate,
    Advanced,
    Expert,
}

impl From<Level> for SubjectLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::Beginner => Self::Beginner,
            Level::Intermediate => Self::Intermediate,
            Level::Advanced => Self::Advanced,
            Level::Expert => Self::Expert,
        }
    }
}

impl From<SubjectLevel> for Level {
    fn from(level: SubjectLevel) -> Self {
        match level {
            SubjectLevel::Beginner => Self::Beginner,
            SubjectLevel::Intermediate => Self::Intermediate,
            SubjectLevel::Advanced => Self::Advanced,
            SubjectLevel::Expert => Self::Expert,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    const ALL: [Self; 7] =
        [Self::Monday, Self::Tuesday, Self::Wednesday, Self::Thursday, Self::Friday, Self::Saturday, Self::Sunday];

    fn from_iso(n: u8) -> Self {
        Self::ALL[usize::from(n.clamp(1, 7) - 1)]
    }

    fn iso(self) -> u8 {
        Self::ALL.iter().position(|d| *d == self).map_or(1, |i| i as u8 + 1)
    }
}

/// A weekly window in the tutor's time zone, `HH:MM` to `HH:MM` (24:00 = midnight at the end).
#[derive(SimpleObject)]
pub struct AvailabilityWindow {
    weekday: Weekday,
    start: String,
    end: String,
}

/// A half-open interval `[startsAt, endsAt)`.
#[derive(SimpleObject)]
pub struct Slot {
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

/// An amount of money: integer minor units of an ISO 4217 currency (1234 EUR = 12.34 €).
#[derive(SimpleObject)]
#[graphql(shareable)]
pub struct Money {
    amount_minor: i64,
    currency: String,
}

impl From<domain::Money> for Money {
    fn from(m: domain::Money) -> Self {
        Self { amount_minor: m.amount_minor, currency: m.currency.to_string() }
    }
}

#[derive(SimpleObject)]
pub struct Pricing {
    currency: String,
    /// The lowest price of one hour over all options (what search sorts and filters by).
    lowest_hourly: Money,
    options: Vec<PricingOptionView>,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum PricingOptionKind {
    /// A price per one-hour session.
    Hourly,
    /// A price for a package of `sessions` one-hour sessions.
    Package,
}

#[derive(SimpleObject)]
#[graphql(name = "PricingOption")]
pub struct PricingOptionView {
    id: ID,
    kind: PricingOptionKind,
    sessions: i32,
    price: Money,
}

#[derive(SimpleObject)]
#[graphql(name = "Certification")]
pub struct CertificationView {
    id: ID,
    name: String,
    issuer: String,
    year: i32,
    /// Checked by an admin.
    verified: bool,
}

impl From<&domain::Certification> for CertificationView {
    fn from(c: &domain::Certification) -> Self {
        Self {
            id: ID(c.id.to_string()),
            name: c.name.clone(),
            issuer: c.issuer.clone(),
            year: c.year,
            verified: c.verified,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Education")]
pub struct EducationView {
    id: ID,
    institution: String,
    degree: String,
    field: String,
    start_year: i32,
    end_year: Option<i32>,
}

impl From<&domain::Education> for EducationView {
    fn from(e: &domain::Education) -> Self {
        Self {
            id: ID(e.id.to_string()),
            institution: e.institution.clone(),
            degree: e.degree.clone(),
            field: e.field.clone(),
            start_year: e.start_year,
            end_year: e.end_year,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "Rating")]
pub struct RatingView {
    /// Rounded to two decimals; null without reviews.
    average: Option<f64>,
    count: i32,
}

#[derive(SimpleObject)]
pub struct TutorConnection {
    edges: Vec<TutorEdge>,
    page_info: PageInfo,
}

#[derive(SimpleObject)]
pub struct TutorEdge {
    cursor: String,
    node: Tutor,
}

#[derive(SimpleObject)]
#[graphql(shareable)]
pub struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum TutorSort {
    /// Best average first (unrated last).
    Rating,
    /// Lowest hourly price first (tutors without pricing are left out).
    Price,
    Newest,
}

impl From<TutorSort> for SortBy {
    fn from(sort: TutorSort) -> Self {
        match sort {
            TutorSort::Rating => Self::Rating,
            TutorSort::Price => Self::Price,
            TutorSort::Newest => Self::Newest,
        }
    }
}

#[derive(InputObject)]
pub struct MoneyInput {
    amount_minor: i64,
    currency: String,
}

#[derive(InputObject, Default)]
pub struct TutorFilter {
    /// A subject name (normalised like profiles' subjects).
    subject: Option<String>,
    /// Bounds on the lowest hourly price; tutors in other currencies are left out.
    min_price: Option<MoneyInput>,
    max_price: Option<MoneyInput>,
    /// 0–5.
    min_rating: Option<f64>,
    /// With `availableTo`: only tutors with a free one-hour slot in the range (≤ 31 days).
    available_from: Option<DateTime<Utc>>,
    available_to: Option<DateTime<Utc>>,
    #[graphql(default)]
    verified_only: bool,
    /// Words that must all appear in the bio, subjects or the tutor's name.
    text: Option<String>,
}

#[derive(InputObject)]
pub struct SubjectInput {
    name: String,
    level: SubjectLevel,
}

fn subjects(input: Vec<SubjectInput>) -> Result<Vec<Subject>, ServiceError> {
    input.into_iter().map(|s| Subject::new(&s.name, s.level.into()).map_err(ServiceError::from)).collect()
}

#[derive(InputObject)]
pub struct CreateTutorProfileInput {
    bio: String,
    subjects: Vec<SubjectInput>,
    /// IANA time zone of the weekly availability, e.g. `Europe/Paris`.
    time_zone: String,
    #[graphql(default)]
    instant_booking: bool,
}

#[derive(InputObject)]
pub struct UpdateTutorProfileInput {
    bio: Option<String>,
    subjects: Option<Vec<SubjectInput>>,
    instant_booking: Option<bool>,
}

#[derive(InputObject)]
pub struct WeeklyWindowInput {
    weekday: Weekday,
    /// `HH:MM`, local to the tutor's time zone.
    start: String,
    /// `HH:MM` after `start`; `24:00` is the end of the day.
    end: String,
}

#[derive(InputObject)]
pub struct TimeOffInput {
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

/// Replaces the whole schedule.
#[derive(InputObject)]
pub struct UpdateAvailabilityInput {
    /// Keeps the current time zone when omitted.
    time_zone: Option<String>,
    weekly: Vec<WeeklyWindowInput>,
    #[graphql(default)]
    time_off: Vec<TimeOffInput>,
}

#[derive(InputObject)]
pub struct PricingOptionInput {
    /// An existing option's id keeps it (bookings refer to it); omit it for a new option.
    id: Option<ID>,
    kind: PricingOptionKind,
    /// For PACKAGE: 2–50 sessions.
    sessions: Option<i32>,
    amount_minor: i64,
}

/// Replaces all pricing options.
#[derive(InputObject)]
pub struct UpdatePricingInput {
    currency: String,
    options: Vec<PricingOptionInput>,
}

#[derive(InputObject)]
pub struct AddCertificationInput {
    name: String,
    issuer: String,
    year: i32,
}

#[derive(InputObject)]
pub struct AddEducationInput {
    institution: String,
    degree: String,
    field: String,
    start_year: i32,
    end_year: Option<i32>,
}

pub struct Mutation;

#[Object]
impl Mutation {
    /// Creates the caller's tutor profile (role TUTOR; one per user).
    #[graphql(guard = "SignedInGuard")]
    async fn create_tutor_profile(&self, ctx: &Context<'_>, input: CreateTutorProfileInput) -> Result<Tutor> {
        let principal = require_principal(ctx)?;
        let profile = NewProfile {
            bio: input.bio,
            subjects: subjects(input.subjects).gql()?,
            time_zone: input.time_zone,
            instant_booking: input.instant_booking,
        };
        service(ctx).create_profile(principal, profile).await.gql().map(Tutor)
    }

    #[graphql(guard = "SignedInGuard")]
    async fn update_tutor_profile(&self, ctx: &Context<'_>, input: UpdateTutorProfileInput) -> Result<Tutor> {
        let principal = require_principal(ctx)?;
        let changes = ProfileChanges {
            bio: input.bio,
            subjects: input.subjects.map(subjects).transpose().gql()?,
            instant_booking: input.instant_booking,
        };
        service(ctx).update_profile(principal, changes).await.gql().map(Tutor)
    }

    /// Replaces the caller's weekly availability and time off.
    #[graphql(guard = "SignedInGuard")]
    async fn update_availability(&self, ctx: &Context<'_>, input: UpdateAvailabilityInput) -> Result<Tutor> {
        let principal = require_principal(ctx)?;
        let weekly = input
            .weekly
            .iter()
            .map(|w| WeeklyWindow::parse(w.weekday.iso(), &w.start, &w.end))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ServiceError::from)
            .gql()?;
        let time_off = input.time_off.iter().map(|t| TimeOff { starts_at: t.starts_at, ends_at: t.ends_at }).collect();
        let schedule = NewSchedule { time_zone: input.time_zone, weekly, time_off };
        service(ctx).update_availability(principal, schedule).await.gql().map(Tutor)
    }

    /// Replaces the caller's pricing options (one currency).
    #[graphql(guard = "SignedInGuard")]
    async fn update_pricing(&self, ctx: &Context<'_>, input: UpdatePricingInput) -> Result<Tutor> {
        let principal = require_principal(ctx)?;
        let mut options = Vec::with_capacity(input.options.len());
        for o in input.options {
            let id = o.id.as_ref().map(|id| parse_id::<Uuid>(id, "pricing option")).transpose()?;
            let kind = match (o.kind, o.sessions) {
                (PricingOptionKind::Hourly, None | Some(1)) => PricingKind::Hourly,
                (PricingOptionKind::Hourly, Some(_)) => return Err(bad_input("an HOURLY option has no sessions")),
                (PricingOptionKind::Package, Some(n)) => {
                    PricingKind::Package { sessions: u32::try_from(n).map_err(|_| bad_input("sessions is positive"))? }
                }
                (PricingOptionKind::Package, None) => return Err(bad_input("a PACKAGE option needs sessions")),
            };
            options.push(OptionInput { id, kind, amount_minor: o.amount_minor });
        }
        service(ctx).update_pricing(principal, &input.currency, options).await.gql().map(Tutor)
    }

    #[graphql(guard = "SignedInGuard")]
    async fn add_certification(&self, ctx: &Context<'_>, input: AddCertificationInput) -> Result<CertificationView> {
        let principal = require_principal(ctx)?;
        let (tutor, id) =
            service(ctx).add_certification(principal, &input.name, &input.issuer, input.year).await.gql()?;
        tutor
            .certifications
            .iter()
            .find(|c| c.id == id)
            .map(CertificationView::from)
            .ok_or_else(|| platform::graphql::internal_error(&"the added certification is missing"))
    }

    #[graphql(guard = "SignedInGuard")]
    async fn add_education(&self, ctx: &Context<'_>, input: AddEducationInput) -> Result<EducationView> {
        let principal = require_principal(ctx)?;
        let years = (input.start_year, input.end_year);
        let (tutor, id) = service(ctx)
            .add_education(principal, &input.institution, &input.degree, &input.field, years)
            .await
            .gql()?;
        tutor
            .education
            .iter()
            .find(|e| e.id == id)
            .map(EducationView::from)
            .ok_or_else(|| platform::graphql::internal_error(&"the added education is missing"))
    }

    /// Admin: marks a tutor verified.
    #[graphql(guard = "SignedInGuard")]
    async fn verify_tutor(&self, ctx: &Context<'_>, tutor_id: ID) -> Result<Tutor> {
        let principal = require_principal(ctx)?;
        let id = parse_id(&tutor_id, "tutor")?;
        service(ctx).verify_tutor(principal, id).await.gql().map(Tutor)
    }

    /// Admin: marks one of a tutor's certifications verified.
    #[graphql(guard = "SignedInGuard")]
    async fn verify_certification(&self, ctx: &Context<'_>, tutor_id: ID, certification_id: ID) -> Result<Tutor> {
        let principal = require_principal(ctx)?;
        let tutor = parse_id(&tutor_id, "tutor")?;
        let certification = parse_id(&certification_id, "certification")?;
        service(ctx).verify_certification(principal, tutor, certification).await.gql().map(Tutor)
    }
}
