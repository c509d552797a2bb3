//! The tutoring use cases: one transaction each (load, decide in the domain, save with events).

use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Datelike, Utc};
use platform::Principal;
use uuid::Uuid;

use crate::domain::{
    self, Certification, Currency, Education, Interval, Pricing, PricingKind, PricingOption, Role, Schedule, Subject,
    TimeOff, Tutor, TutorId, UserId, WeeklyWindow,
};
use crate::error::ServiceError;
use crate::events;
use crate::store::{After, SearchQuery, SortBy, StoreError, TutorStore};

/// The most tutors one page holds.
pub const MAX_PAGE: usize = 100;
/// How many candidates an availability-filtered search examines per page at most; the rest is
/// reached through the cursor (a page may then be short, and `hasNextPage` stays true).
const MAX_SCANNED: usize = 2_000;

pub struct TutoringService {
    store: Arc<dyn TutorStore>,
}

/// A new profile.
pub struct NewProfile {
    pub bio: String,
    pub subjects: Vec<Subject>,
    pub time_zone: String,
    pub instant_booking: bool,
}

/// Changes to a profile; `None` keeps the current value.
#[derive(Default)]
pub struct ProfileChanges {
    pub bio: Option<String>,
    pub subjects: Option<Vec<Subject>>,
    pub instant_booking: Option<bool>,
}

/// A new schedule; `time_zone` keeps the current one when `None`.
pub struct NewSchedule {
    pub time_zone: Option<String>,
    pub weekly: Vec<WeeklyWindow>,
    pub time_off: Vec<TimeOff>,
}

/// One pricing option as given: an existing id keeps the option's identity (bookings name it).
pub struct OptionInput {
    pub id: Option<Uuid>,
    pub kind: PricingKind,
    pub amount_minor: i64,
}

/// A search as the schema received it.
#[derive(Default)]
pub struct Search {
    pub subject: Option<String>,
    pub min_price: Option<domain::Money>,
    pub max_price: Option<domain::Money>,
    /// Hundredths (450 = 4.5).
    pub min_rating: Option<i64>,
    pub available: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub verified_only: bool,
    pub text: Option<String>,
    pub sort: Option<SortBy>,
    pub first: usize,
    pub after: Option<String>,
}

/// A page of tutors and its cursors.
pub struct Page {
    pub tutors: Vec<(Tutor, String)>,
    pub has_next_page: bool,
}

impl TutoringService {
    pub fn new(store: Arc<dyn TutorStore>) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &Arc<dyn TutorStore> {
        &self.store
    }

    /// The caller's role as tutoring knows it: the projection of identity's events when it has
    /// seen the user, the signed token's role while the projection catches up.
    async fn role_of(&self, principal: &Principal) -> Result<Role, ServiceError> {
        Ok(self.store.known_user(principal.user_id).await?.map_or(principal.role, |u| u.role))
    }

    pub async fn create_profile(&self, principal: &Principal, input: NewProfile) -> Result<Tutor, ServiceError> {
        if !domain::may_create_profile(self.role_of(principal).await?) {
            return Err(ServiceError::Forbidden("only users with the TUTOR role can create a tutor profile"));
        }
        domain::validate_subjects(&input.subjects)?;
        let now = now();
        let tutor = Tutor {
            id: TutorId::new(),
            user_id: principal.user_id,
            bio: domain::validate_bio(&input.bio)?,
            subjects: input.subjects,
            instant_booking: input.instant_booking,
            verified: false,
            schedule: Schedule::empty(domain::parse_time_zone(&input.time_zone)?),
            pricing: None,
            certifications: Vec::new(),
            education: Vec::new(),
            rating: domain::Rating::default(),
            availability_revision: 0,
            pricing_revision: 0,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        self.store.insert(&tutor, &[events::profile_created(&tutor)]).await?;
        Ok(tutor)
    }

    pub async fn tutor(&self, id: TutorId) -> Result<Option<Tutor>, ServiceError> {
        Ok(self.store.tutor(id).await?)
    }

    /// The caller's own profile, for changes.
    async fn own(&self, principal: &Principal) -> Result<Tutor, ServiceError> {
        self.store
            .tutors_of_users(&[principal.user_id])
            .await?
            .pop()
            .ok_or(ServiceError::NotFound("you have no tutor profile; create one first"))
    }

    /// Saves a changed copy (version bumped) with its events.
    async fn save(
        &self,
        mut tutor: Tutor,
        events: impl FnOnce(&Tutor) -> Vec<kernel::EventEnvelope>,
    ) -> Result<Tutor, ServiceError> {
        tutor.version += 1;
        tutor.updated_at = now();
        let events = events(&tutor);
        self.store.save(&tutor, &events).await?;
        Ok(tutor)
    }

    pub async fn update_profile(&self, principal: &Principal, changes: ProfileChanges) -> Result<Tutor, ServiceError> {
        let mut tutor = self.own(principal).await?;
        if let Some(bio) = changes.bio {
            tutor.bio = domain::validate_bio(&bio)?;
        }
        if let Some(subjects) = changes.subjects {
            domain::validate_subjects(&subjects)?;
            tutor.subjects = subjects;
        }
        if let Some(instant) = changes.instant_booking {
            tutor.instant_booking = instant;
        }
        self.save(tutor, |t| vec![events::profile_updated(t)]).await
    }

    pub async fn update_availability(&self, principal: &Principal, input: NewSchedule) -> Result<Tutor, ServiceError> {
        let mut tutor = self.own(principal).await?;
        let time_zone = match &input.time_zone {
            Some(tz) => domain::parse_time_zone(tz)?,
            None => tutor.schedule.time_zone,
        };
        tutor.schedule = Schedule::new(time_zone, input.weekly, input.time_off)?;
        tutor.availability_revision += 1;
        self.save(tutor, |t| vec![events::availability_updated(t)]).await
    }

    pub async fn update_pricing(
        &self,
        principal: &Principal,
        currency: &str,
        options: Vec<OptionInput>,
    ) -> Result<Tutor, ServiceError> {
        let mut tutor = self.own(principal).await?;
        let currency = Currency::parse(currency).map_err(|e| ServiceError::BadInput(e.to_string()))?;
        let known: Vec<Uuid> = tutor.pricing.iter().flat_map(|p| p.options.iter().map(|o| o.id)).collect();
        let mut built = Vec::with_capacity(options.len());
        for option in options {
            let id = match option.id {
                Some(id) if known.contains(&id) => id,
                Some(id) => {
                    return Err(ServiceError::BadInput(format!(
                        "pricing option {id} is not one of yours; omit the id to add one"
                    )));
                }
                None => Uuid::now_v7(),
            };
            built.push(PricingOption { id, kind: option.kind, amount_minor: option.amount_minor });
        }
        tutor.pricing = Some(Pricing::new(currency, built)?);
        tutor.pricing_revision += 1;
        self.save(tutor, |t| vec![events::pricing_changed(t)]).await
    }

    pub async fn add_certification(
        &self,
        principal: &Principal,
        name: &str,
        issuer: &str,
        year: i32,
    ) -> Result<(Tutor, Uuid), ServiceError> {
        let mut tutor = self.own(principal).await?;
        if tutor.certifications.len() >= domain::MAX_CERTIFICATIONS {
            return Err(domain::DomainError::TooManyEntries(domain::MAX_CERTIFICATIONS).into());
        }
        let certification = Certification::new(name, issuer, year, now().year())?;
        let id = certification.id;
        tutor.certifications.push(certification);
        Ok((self.save(tutor, |_| Vec::new()).await?, id))
    }

    pub async fn add_education(
        &self,
        principal: &Principal,
        institution: &str,
        degree: &str,
        field: &str,
        years: (i32, Option<i32>),
    ) -> Result<(Tutor, Uuid), ServiceError> {
        let mut tutor = self.own(principal).await?;
        if tutor.education.len() >= domain::MAX_EDUCATION {
            return Err(domain::DomainError::TooManyEntries(domain::MAX_EDUCATION).into());
        }
        let education = Education::new(institution, degree, field, years.0, years.1, now().year())?;
        let id = education.id;
        tutor.education.push(education);
        Ok((self.save(tutor, |_| Vec::new()).await?, id))
    }

    fn require_admin(principal: &Principal) -> Result<(), ServiceError> {
        if principal.role == Role::Admin { Ok(()) } else { Err(ServiceError::Forbidden("only an admin can do this")) }
    }

    async fn existing(&self, id: TutorId) -> Result<Tutor, ServiceError> {
        self.store.tutor(id).await?.ok_or(ServiceError::NotFound("no such tutor"))
    }

    pub async fn verify_tutor(&self, principal: &Principal, id: TutorId) -> Result<Tutor, ServiceError> {
        Self::require_admin(principal)?;
        let mut tutor = self.existing(id).await?;
        if tutor.verified {
            return Ok(tutor);
        }
        tutor.verified = true;
        let by = principal.user_id;
        self.save(tutor, |t| vec![events::verified(t, by)]).await
    }

    pub async fn verify_certification(
        &self,
        principal: &Principal,
        tutor: TutorId,
        certification: Uuid,
    ) -> Result<Tutor, ServiceError> {
        Self::require_admin(principal)?;
        let mut tutor = self.existing(tutor).await?;
        let found = tutor
            .certifications
            .iter_mut()
            .find(|c| c.id == certification)
            .ok_or(ServiceError::NotFound("this tutor has no such certification"))?;
        found.verified = true;
        self.save(tutor, |_| Vec::new()).await
    }

    /// Bookable slots of one tutor in `[from, to)`.
    pub async fn available_slots(
        &self,
        id: TutorId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        duration_minutes: u16,
    ) -> Result<Vec<Interval>, ServiceError> {
        domain::check_range(from, to)?;
        let tutor = self.existing(id).await?;
        let taken = self.store.taken(id, from, to).await?;
        Ok(tutor.schedule.bookable_slots(from, to, duration_minutes, &taken, now())?)
    }

    /// Searches tutors; see [`Search`]. Availability is checked exactly (time zones, time off,
    /// bookings) on the candidates the indexed query returns.
    pub async fn search(&self, search: Search) -> Result<Page, ServiceError> {
        if search.first == 0 || search.first > MAX_PAGE {
            return Err(ServiceError::BadInput(format!("`first` must be between 1 and {MAX_PAGE}")));
        }
        let sort = search.sort.unwrap_or(SortBy::Rating);
        let currency = match (&search.min_price, &search.max_price) {
            (Some(a), Some(b)) if a.currency != b.currency => {
                return Err(ServiceError::BadInput("minPrice and maxPrice must be in one currency".into()));
            }
            (Some(m), _) | (_, Some(m)) => Some(m.currency),
            _ => None,
        };
        if let Some((from, to)) = search.available {
            domain::check_range(from, to)?;
        }
        let subject = search.subject.as_deref().map(domain::normalize_subject).transpose()?;
        let words: Vec<String> = search
            .text
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .take(8)
            .map(|w| w.to_lowercase().chars().take(60).collect())
            .collect();
        let after = search.after.as_deref().map(|c| decode_cursor(c, sort)).transpose()?;
        let mut query = SearchQuery {
            subject,
            currency,
            min_price: search.min_price.map(|m| m.amount_minor),
            max_price: search.max_price.map(|m| m.amount_minor),
            min_rating: search.min_rating,
            verified_only: search.verified_only,
            with_availability: search.available.is_some(),
            words,
            sort: Some(sort),
            after,
            limit: 0,
        };
        let mut found: Vec<(Tutor, String)> = Vec::new();
        let mut scanned = 0;
        loop {
            let batch = if search.available.is_some() { 100 } else { search.first + 1 };
            query.limit = batch as i64;
            let ids = self.store.search(&query).await?;
            let exhausted = ids.len() < batch;
            let Some(&(last_id, last_key)) = ids.last() else {
                return Ok(Page { tutors: found, has_next_page: false });
            };
            query.after = Some(cursor_position(sort, last_id, last_key));
            let batch_ids: Vec<TutorId> = ids.iter().map(|(id, _)| *id).collect();
            let mut tutors = self.store.tutors(&batch_ids).await?;
            let taken = match search.available {
                Some((from, to)) => self.store.taken_by(&batch_ids, from, to).await?,
                None => Default::default(),
            };
            for (id, key) in &ids {
                scanned += 1;
                let Some(index) = tutors.iter().position(|t| t.id == *id) else { continue };
                let tutor = tutors.swap_remove(index);
                if let Some((from, to)) = search.available {
                    let held = taken.get(&tutor.id).map_or(&[][..], Vec::as_slice);
                    if tutor.schedule.bookable_slots(from, to, 60, held, now())?.is_empty() {
                        continue;
                    }
                }
                if found.len() == search.first {
                    return Ok(Page { tutors: found, has_next_page: true });
                }
                found.push((tutor, encode_cursor(cursor_position(sort, *id, *key))));
            }
            if exhausted {
                return Ok(Page { tutors: found, has_next_page: false });
            }
            if scanned >= MAX_SCANNED {
                return Ok(Page { tutors: found, has_next_page: true });
            }
        }
    }

    /// Tutor profiles of these users (for `User.tutorProfile`).
    pub async fn tutors_of_users(&self, users: &[UserId]) -> Result<Vec<Tutor>, ServiceError> {
        Ok(self.store.tutors_of_users(users).await?)
    }

    pub async fn tutors(&self, ids: &[TutorId]) -> Result<Vec<Tutor>, StoreError> {
        self.store.tutors(ids).await
    }
}

fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(3)
}

fn cursor_position(sort: SortBy, id: TutorId, key: i64) -> After {
    match sort {
        SortBy::Rating => After::Rating(key, id.as_uuid()),
        SortBy::Price => After::Price(key, id.as_uuid()),
        SortBy::Newest => After::Newest(id.as_uuid()),
    }
}

/// Cursors are opaque: `<sort>:<key>:<id>` in URL-safe base64.
fn encode_cursor(after: After) -> String {
    let raw = match after {
        After::Rating(key, id) => format!("r:{key}:{id}"),
        After::Price(key, id) => format!("p:{key}:{id}"),
        After::Newest(id) => format!("n:0:{id}"),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_cursor(cursor: &str, sort: SortBy) -> Result<After, ServiceError> {
    let invalid = || ServiceError::BadInput("`after` is not a cursor of this search's sort order".into());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor.trim()).map_err(|_| invalid())?;
    let raw = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = raw.splitn(3, ':');
    let (tag, key, id) = (parts.next(), parts.next(), parts.next());
    let key: i64 = key.and_then(|k| k.parse().ok()).ok_or_else(invalid)?;
    let id: Uuid = id.and_then(|i| i.parse().ok()).ok_or_else(invalid)?;
    match (tag, sort) {
        (Some("r"), SortBy::Rating) => Ok(After::Rating(key, id)),
        (Some("p"), SortBy::Price) => Ok(After::Price(key, id)),
        (Some("n"), SortBy::Newest) => Ok(After::Newest(id)),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_belong_to_one_sort_order() {
        let id = Uuid::now_v7();
        let cursor = encode_cursor(After::Price(1234, id));
        assert!(matches!(decode_cursor(&cursor, SortBy::Price), Ok(After::Price(1234, i)) if i == id));
        assert!(decode_cursor(&cursor, SortBy::Rating).is_err());
        assert!(decode_cursor("garbage!", SortBy::Rating).is_err());
    }
}
