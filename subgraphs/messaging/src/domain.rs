//! The messaging domain: who may talk to whom, a conversation between two users, its messages
//! (sent, edited within 15 minutes, deleted to a tombstone) and read receipts. Pure: no
//! database, HTTP or GraphQL here.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
pub use kernel::{Role, UserId};
use uuid::Uuid;

/// A rule of the domain was broken; the message is fit for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("a message cannot be empty")]
    EmptyContent,
    #[error("a message is at most {MAX_CONTENT_CHARS} characters")]
    ContentTooLong,
    #[error("you cannot start a conversation with yourself")]
    WithYourself,
    #[error("no such user")]
    UnknownUser,
    #[error("conversations are between a student and a tutor (an admin may start one with anyone)")]
    NotAStudentTutorPair,
    /// Callers answer "not found" instead: existence is never revealed to others.
    #[error("not found")]
    NotAParticipant,
    #[error("only the sender can change or delete a message")]
    NotSender,
    #[error("a message can be edited for {EDIT_WINDOW_MINUTES} minutes after it was sent")]
    EditWindowPassed,
    #[error("this message was deleted")]
    MessageDeleted,
}

/// The longest message, in characters (after trimming).
pub const MAX_CONTENT_CHARS: usize = 4_000;
/// How long after sending its sender may edit a message.
pub const EDIT_WINDOW_MINUTES: i64 = 15;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self)
            }
        }
    };
}

id_type!(
    /// A conversation (UUIDv7: ids sort by creation time).
    ConversationId
);
id_type!(
    /// A message (UUIDv7: ids sort by sending time, which is the order of a conversation).
    MessageId
);

/// A message's text: trimmed, 1 to [`MAX_CONTENT_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content(String);

impl Content {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(DomainError::EmptyContent);
        }
        if text.chars().count() > MAX_CONTENT_CHARS {
            return Err(DomainError::ContentTooLong);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Whether `starter` (with `starter_role`) may start a conversation with a user of `other_role`:
/// a student and a tutor may talk to each other; an admin may start one with anyone.
pub fn may_start(starter_role: Role, other_role: Role) -> bool {
    matches!((starter_role, other_role), (Role::Admin, _) | (Role::Student, Role::Tutor) | (Role::Tutor, Role::Student))
}

/// A conversation between two users; each may archive it for themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: ConversationId,
    /// `[the user who started it, the other]`.
    pub participants: [UserId; 2],
    pub created_at: DateTime<Utc>,
}

impl Conversation {
    /// `starter` starts a conversation with `other`, whose role messaging learned from
    /// identity's events (`None`: not known).
    pub fn start(
        starter: UserId,
        starter_role: Role,
        other: UserId,
        other_role: Option<Role>,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        if starter == other {
            return Err(DomainError::WithYourself);
        }
        let other_role = other_role.ok_or(DomainError::UnknownUser)?;
        if !may_start(starter_role, other_role) {
            return Err(DomainError::NotAStudentTutorPair);
        }
        Ok(Self { id: ConversationId::new(), participants: [starter, other], created_at: now })
    }

    pub fn started_by(&self) -> UserId {
        self.participants[0]
    }

    /// The pair in a canonical order: one conversation per pair, whoever started it.
    pub fn pair(&self) -> (UserId, UserId) {
        pair_of(self.participants[0], self.participants[1])
    }

    pub fn is_participant(&self, user: UserId) -> bool {
        self.participants.contains(&user)
    }

    pub fn check_participant(&self, user: UserId) -> Result<(), DomainError> {
        if self.is_participant(user) { Ok(()) } else { Err(DomainError::NotAParticipant) }
    }

    /// The participants other than `user`: who hears about what `user` does.
    pub fn others(&self, user: UserId) -> Vec<UserId> {
        self.participants.iter().copied().filter(|p| *p != user).collect()
    }
}

/// Two users in a canonical order.
pub fn pair_of(a: UserId, b: UserId) -> (UserId, UserId) {
    if a <= b { (a, b) } else { (b, a) }
}

/// A message of a conversation; `content` is `None` once it was deleted (a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// The conversation's participants: who may see the message.
    pub participants: [UserId; 2],
    pub sender_id: UserId,
    pub content: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Message {
    /// A participant sends a message to the conversation.
    pub fn send(
        conversation: &Conversation,
        sender: UserId,
        content: Content,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        conversation.check_participant(sender)?;
        Ok(Self {
            id: MessageId::new(),
            conversation_id: conversation.id,
            participants: conversation.participants,
            sender_id: sender,
            content: Some(content.into_string()),
            sent_at: now,
            edited_at: None,
            deleted_at: None,
        })
    }

    pub fn is_visible_to(&self, user: UserId) -> bool {
        self.participants.contains(&user)
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }

    /// The participants other than the sender.
    pub fn recipients(&self) -> Vec<UserId> {
        self.participants.iter().copied().filter(|p| *p != self.sender_id).collect()
    }

    fn check_change(&self, actor: UserId) -> Result<(), DomainError> {
        if !self.is_visible_to(actor) {
            return Err(DomainError::NotAParticipant);
        }
        if actor != self.sender_id {
            return Err(DomainError::NotSender);
        }
        if self.is_deleted() {
            return Err(DomainError::MessageDeleted);
        }
        Ok(())
    }

    /// The sender replaces the text, within [`EDIT_WINDOW_MINUTES`] of sending it.
    pub fn edit(&mut self, actor: UserId, content: Content, now: DateTime<Utc>) -> Result<(), DomainError> {
        self.check_change(actor)?;
        if now - self.sent_at > Duration::minutes(EDIT_WINDOW_MINUTES) {
            return Err(DomainError::EditWindowPassed);
        }
        self.content = Some(content.into_string());
        self.edited_at = Some(now);
        Ok(())
    }

    /// The sender deletes it: the text is gone, a tombstone stays in the conversation.
    pub fn delete(&mut self, actor: UserId, now: DateTime<Utc>) -> Result<(), DomainError> {
        self.check_change(actor)?;
        self.content = None;
        self.deleted_at = Some(now);
        Ok(())
    }
}

/// `reader` has read the conversation up to and including `message_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReceipt {
    pub conversation_id: ConversationId,
    pub message_id: MessageId,
    pub reader_id: UserId,
    pub read_at: DateTime<Utc>,
}

/// Whether reading `message` moves a reader's mark forward from `read_up_to` (what they have
/// read so far): marks only move forward, so reading an older message changes nothing.
pub fn advances(read_up_to: Option<MessageId>, message: MessageId) -> bool {
    read_up_to.is_none_or(|mark| message > mark)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(text: &str) -> Content {
        Content::parse(text).expect("valid content")
    }

    fn conversation() -> Conversation {
        Conversation::start(UserId::new(), Role::Student, UserId::new(), Some(Role::Tutor), Utc::now())
            .expect("a student and a tutor")
    }

    #[test]
    fn content_is_trimmed_and_bounded_in_characters() {
        assert_eq!(content("  hello \n").as_str(), "hello");
        assert_eq!(Content::parse(" \t\n "), Err(DomainError::EmptyContent));
        assert_eq!(Content::parse(""), Err(DomainError::EmptyContent));
        let longest = "é".repeat(MAX_CONTENT_CHARS);
        assert_eq!(content(&format!("  {longest}  ")).as_str().chars().count(), MAX_CONTENT_CHARS);
        assert_eq!(Content::parse(&"é".repeat(MAX_CONTENT_CHARS + 1)), Err(DomainError::ContentTooLong));
    }

    #[test]
    fn students_and_tutors_talk_and_admins_start_with_anyone() {
        let (me, other, now) = (UserId::new(), UserId::new(), Utc::now());
        let start = |mine, theirs| Conversation::start(me, mine, other, theirs, now).map(|c| c.participants);
        assert_eq!(start(Role::Student, Some(Role::Tutor)), Ok([me, other]));
        assert_eq!(start(Role::Tutor, Some(Role::Student)), Ok([me, other]));
        assert_eq!(start(Role::Student, Some(Role::Student)), Err(DomainError::NotAStudentTutorPair));
        assert_eq!(start(Role::Tutor, Some(Role::Tutor)), Err(DomainError::NotAStudentTutorPair));
        assert_eq!(start(Role::Student, Some(Role::Admin)), Err(DomainError::NotAStudentTutorPair));
        assert_eq!(start(Role::Admin, Some(Role::Admin)), Ok([me, other]));
        assert_eq!(start(Role::Admin, Some(Role::Student)), Ok([me, other]));
        assert_eq!(start(Role::Student, None), Err(DomainError::UnknownUser));
        let own = Conversation::start(me, Role::Admin, me, Some(Role::Admin), now);
        assert_eq!(own.map(drop), Err(DomainError::WithYourself));
    }

    #[test]
    fn a_pair_is_the_same_whoever_starts() {
        let (a, b) = (UserId::new(), UserId::new());
        let now = Utc::now();
        let one = Conversation::start(a, Role::Student, b, Some(Role::Tutor), now).expect("allowed");
        let two = Conversation::start(b, Role::Tutor, a, Some(Role::Student), now).expect("allowed");
        assert_eq!(one.pair(), two.pair());
        assert_eq!((one.started_by(), two.started_by()), (a, b));
        assert_eq!(one.others(a), vec![b]);
    }

    #[test]
    fn only_participants_send() {
        let conversation = conversation();
        let outsider = UserId::new();
        let sent = Message::send(&conversation, outsider, content("hi"), Utc::now());
        assert_eq!(sent, Err(DomainError::NotAParticipant));
        let [student, tutor] = conversation.participants;
        let message = Message::send(&conversation, student, content("hi"), Utc::now()).expect("a participant");
        assert_eq!(message.recipients(), vec![tutor]);
        assert!(message.is_visible_to(tutor) && !message.is_visible_to(outsider));
    }

    #[test]
    fn the_sender_edits_within_fifteen_minutes() {
        let conversation = conversation();
        let [student, tutor] = conversation.participants;
        let sent_at = Utc::now() - Duration::minutes(10);
        let mut message = Message::send(&conversation, student, content("helo"), sent_at).expect("sent");
        assert_eq!(message.edit(tutor, content("x"), Utc::now()), Err(DomainError::NotSender));
        assert_eq!(message.edit(UserId::new(), content("x"), Utc::now()), Err(DomainError::NotAParticipant));
        let at = sent_at + Duration::minutes(EDIT_WINDOW_MINUTES);
        message.edit(student, content("hello"), at).expect("at the edge of the window");
        assert_eq!((message.content.as_deref(), message.edited_at), (Some("hello"), Some(at)));
        let late = at + Duration::seconds(1);
        assert_eq!(message.edit(student, content("hello!"), late), Err(DomainError::EditWindowPassed));
    }

    #[test]
    fn deletion_leaves_a_tombstone_that_cannot_change() {
        let conversation = conversation();
        let [student, tutor] = conversation.participants;
        let mut message = Message::send(&conversation, student, content("oops"), Utc::now()).expect("sent");
        assert_eq!(message.delete(tutor, Utc::now()), Err(DomainError::NotSender));
        message.delete(student, Utc::now()).expect("the sender deletes");
        assert!(message.is_deleted() && message.content.is_none());
        assert_eq!(message.delete(student, Utc::now()), Err(DomainError::MessageDeleted));
        assert_eq!(message.edit(student, content("again"), Utc::now()), Err(DomainError::MessageDeleted));
    }

    #[test]
    fn read_marks_only_move_forward() {
        let (older, newer) = (MessageId::new(), MessageId::new());
        assert!(advances(None, older));
        assert!(advances(Some(older), newer));
        assert!(!advances(Some(newer), older));
        assert!(!advances(Some(newer), newer));
    }
}
