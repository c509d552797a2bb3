//! New-message notifications: only for messages still unread `NEW_MESSAGE_NOTIFY_DELAY` after
//! they were sent (driven here with an explicit clock), one per recipient and conversation.

use chrono::{Duration, Utc};
use kernel::events::messaging::{MessageDeleted, MessageEdited, MessageRead, MessageSent};
use notification::domain::{Channel, Kind, UserId};
use uuid::Uuid;

use crate::helpers::*;

fn sent(from: &User, to: &[&User], conversation: Uuid, id: Uuid, text: &str) -> MessageSent {
    MessageSent {
        message_id: id.to_string(),
        conversation_id: conversation.to_string(),
        sender_id: from.id.clone(),
        recipient_ids: to.iter().map(|u| u.id.clone()).collect(),
        preview: text.into(),
        sent_at: Utc::now(),
    }
}

fn read(reader: &User, conversation: Uuid, up_to: Uuid) -> MessageRead {
    MessageRead {
        message_id: up_to.to_string(),
        conversation_id: conversation.to_string(),
        reader_id: reader.id.clone(),
        read_at: Utc::now(),
    }
}

fn deleted(sender: &User, conversation: Uuid, id: Uuid) -> MessageDeleted {
    MessageDeleted {
        message_id: id.to_string(),
        conversation_id: conversation.to_string(),
        sender_id: sender.id.clone(),
        deleted_at: Utc::now(),
    }
}

fn edited(sender: &User, conversation: Uuid, id: Uuid) -> MessageEdited {
    MessageEdited {
        message_id: id.to_string(),
        conversation_id: conversation.to_string(),
        sender_id: sender.id.clone(),
        edited_at: Utc::now(),
    }
}

/// Waits until the unread messages waiting for `user` (whenever due) are exactly `ids`.
async fn wait_pending(stack: &Stack, user: &User, mut ids: Vec<Uuid>) {
    ids.sort();
    let id: UserId = user_id(user);
    eventually("the pending messages", || {
        let ids = ids.clone();
        async move {
            let due = stack.service.store().due_messages(Utc::now() + Duration::days(1), 500).await.expect("store");
            let mut mine: Vec<Uuid> = due.iter().filter(|m| m.recipient == id).map(|m| m.message_id).collect();
            mine.sort();
            (mine == ids).then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn an_unread_message_is_notified_after_the_delay_and_a_read_one_is_not() {
    let stack = spawn().await; // NEW_MESSAGE_NOTIFY_DELAY: the default 60 s
    let (sender, unread, reader) =
        (stack.user("TUTOR", "Sid").await, stack.user("STUDENT", "Una").await, stack.user("STUDENT", "Rea").await);
    let conversation = Uuid::now_v7();
    let message = Uuid::now_v7();
    stack.deliver(&sent(&sender, &[&unread, &reader], conversation, message, "See you at 5?")).await;
    stack.deliver(&read(&reader, conversation, message)).await;
    wait_pending(&stack, &unread, vec![message]).await;
    wait_pending(&stack, &reader, vec![]).await;

    assert_eq!(
        stack.service.send_due_messages(Utc::now() + Duration::seconds(30)).await.expect("runs"),
        0,
        "not due yet"
    );
    let stored = stack.service.send_due_messages(Utc::now() + Duration::seconds(61)).await.expect("runs");
    assert_eq!(stored, 2, "in the app and by email");
    let list = stack.wait_kind(&unread, Kind::NewMessage, 2).await;
    assert_eq!(list[0].title, "New message from Sid Tester");
    assert!(list[0].body.contains("See you at 5?"), "{}", list[0].body);
    assert_eq!(stack.service.send_due_messages(Utc::now() + Duration::seconds(120)).await.expect("runs"), 0, "once");
    let theirs = stack.history(&reader).await;
    assert!(theirs.iter().all(|n| n.kind != Kind::NewMessage), "read in time: {theirs:?}");
    let senders = stack.history(&sender).await;
    assert!(senders.iter().all(|n| n.kind != Kind::NewMessage), "not to the sender");
}

#[tokio::test]
async fn unread_messages_of_a_conversation_make_one_notification_and_a_read_may_arrive_first() {
    let stack = spawn().await;
    let (sender, user) = (stack.user("TUTOR", "Max").await, stack.user("STUDENT", "Liv").await);
    let conversation = Uuid::now_v7();
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    stack.deliver(&sent(&sender, &[&user], conversation, first, "one")).await;
    stack.deliver(&sent(&sender, &[&user], conversation, second, "two")).await;
    wait_pending(&stack, &user, vec![first, second]).await;
    stack.service.send_due_messages(Utc::now() + Duration::seconds(61)).await.expect("runs");
    let list = stack.wait_kind(&user, Kind::NewMessage, 2).await;
    assert_eq!(kinds(&list), vec![(Kind::NewMessage, Channel::Email), (Kind::NewMessage, Channel::InApp)]);
    assert_eq!(list[0].title, "2 new messages from Max Tester");
    assert!(list[0].body.contains("two"), "the latest preview: {}", list[0].body);

    // The read of a later message overtakes an earlier message's event: it is covered.
    let (third, fourth, fifth) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    stack.deliver(&read(&user, conversation, fourth)).await;
    stack.deliver(&sent(&sender, &[&user], conversation, third, "three")).await;
    stack.deliver(&sent(&sender, &[&user], conversation, fifth, "five")).await;
    wait_pending(&stack, &user, vec![fifth]).await;
}

#[tokio::test]
async fn a_deleted_message_is_never_notified_even_when_its_send_arrives_after_the_delete() {
    let stack = spawn().await;
    let (sender, user) = (stack.user("TUTOR", "Del").await, stack.user("STUDENT", "Ria").await);
    let conversation = Uuid::now_v7();
    let (first, second, third) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    stack.deliver(&sent(&sender, &[&user], conversation, first, "secret one")).await;
    wait_pending(&stack, &user, vec![first]).await;
    let delete = stack.deliver(&deleted(&sender, conversation, first)).await;
    stack.consumed(&delete).await;
    wait_pending(&stack, &user, vec![]).await;

    // Redelivery or reordering: the delete overtakes the send; the tombstone keeps it out.
    let delete = stack.deliver(&deleted(&sender, conversation, second)).await;
    stack.consumed(&delete).await;
    let late = stack.deliver(&sent(&sender, &[&user], conversation, second, "secret two")).await;
    stack.consumed(&late).await;
    stack.deliver(&sent(&sender, &[&user], conversation, third, "still here")).await;
    wait_pending(&stack, &user, vec![third]).await;

    stack.service.send_due_messages(Utc::now() + Duration::seconds(61)).await.expect("runs");
    let list = stack.wait_kind(&user, Kind::NewMessage, 2).await;
    assert_eq!(list[0].title, "New message from Del Tester", "one message left, not three");
    assert!(list.iter().all(|n| !n.body.contains("secret")), "{list:?}");
    assert!(list[0].body.contains("still here"), "{}", list[0].body);
}

#[tokio::test]
async fn an_edited_message_is_notified_without_its_old_text() {
    let stack = spawn().await;
    let (sender, user) = (stack.user("TUTOR", "Edi").await, stack.user("STUDENT", "Ora").await);
    let (conversation, other) = (Uuid::now_v7(), Uuid::now_v7());
    let (message, overtaken) = (Uuid::now_v7(), Uuid::now_v7());
    stack.deliver(&sent(&sender, &[&user], conversation, message, "old wording")).await;
    wait_pending(&stack, &user, vec![message]).await;
    let edit = stack.deliver(&edited(&sender, conversation, message)).await;
    stack.consumed(&edit).await;
    // An edit that overtakes its message's send: the send's preview is already stale.
    let edit = stack.deliver(&edited(&sender, other, overtaken)).await;
    stack.consumed(&edit).await;
    stack.deliver(&sent(&sender, &[&user], other, overtaken, "stale wording")).await;
    wait_pending(&stack, &user, vec![message, overtaken]).await;
    let stored = stack.service.store().due_messages(Utc::now() + Duration::days(1), 500).await.expect("store");
    assert!(stored.iter().all(|m| m.preview.is_empty() && m.edited), "the old text is not kept: {stored:?}");

    stack.service.send_due_messages(Utc::now() + Duration::seconds(61)).await.expect("runs");
    let list = stack.wait_kind(&user, Kind::NewMessage, 4).await;
    for n in &list {
        assert_eq!(n.title, "New message from Edi Tester");
        assert!(!n.body.contains("wording"), "{}", n.body);
        assert!(n.body.contains("Edi Tester edited their message"), "{}", n.body);
    }
}

#[tokio::test]
async fn a_read_or_a_delete_committed_beside_the_pending_row_still_stops_its_notification() {
    let stack = spawn().await;
    let (sender, user) = (stack.user("TUTOR", "Ray").await, stack.user("STUDENT", "Ina").await);
    let conversation = Uuid::now_v7();
    let (read_one, deleted_one, kept) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    for (id, text) in [(read_one, "read in time"), (deleted_one, "taken back"), (kept, "still unread")] {
        stack.deliver(&sent(&sender, &[&user], conversation, id, text)).await;
    }
    wait_pending(&stack, &user, vec![read_one, deleted_one, kept]).await;
    // On PostgreSQL (read committed) a MessageRead or MessageDeleted handled beside the
    // MessageSent sees no pending row to delete, and the send saw no read mark or tombstone:
    // both commit. This is what that interleaving leaves behind.
    stack
        .execute(
            "INSERT INTO message_reads (conversation_id, reader_id, message_id) VALUES ($1, $2, $3)",
            &[conversation, user_id(&user).as_uuid(), read_one],
        )
        .await;
    stack
        .execute(
            "INSERT INTO message_changes (message_id, change, at) VALUES ($1, 'DELETED', '2026-01-01T00:00:00Z')",
            &[deleted_one],
        )
        .await;

    let stored = stack.service.send_due_messages(Utc::now() + Duration::seconds(61)).await.expect("runs");
    assert_eq!(stored, 2, "one message left: in the app and by email");
    let list = stack.wait_kind(&user, Kind::NewMessage, 2).await;
    assert_eq!(list[0].title, "New message from Ray Tester", "not 3 new messages");
    assert!(list[0].body.contains("still unread"), "{}", list[0].body);
    wait_pending(&stack, &user, vec![]).await;
}
