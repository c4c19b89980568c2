//! Commands across reconnects, on the deterministic runtime: a command queued at any step of
//! the op 7 / resume and op 9 / re-identify sequences goes out exactly once, on a live session
//! (after READY or RESUMED), never before Identify or Resume, and never on a connection the
//! gateway has already left.

mod common;

use std::time::Duration;

use common::{hello, message, ready, texts, Scene};
use discord_gateway_driver::discord_gateway::command::{MemberSelector, RequestGuildMembers};
use discord_gateway_driver::discord_gateway::Snowflake;
use discord_gateway_driver::testing::TestServer;
use discord_gateway_driver::{Frame, QueueError, ShardSender};

const RECONNECT: &str = r#"{"t":null,"s":null,"op":7,"d":null}"#;
const INVALID_SESSION: &str = r#"{"t":null,"s":null,"op":9,"d":false}"#;

/// A command tagged by its guild id, so the transcripts say which one went where.
fn request(guild: u64) -> RequestGuildMembers<'static> {
    RequestGuildMembers::new(
        Snowflake::from(guild),
        MemberSelector::Query {
            prefix: "",
            limit: 1,
        },
    )
}

fn queue(sender: &ShardSender, guild: u64) {
    sender.send(&request(guild)).expect("queued");
}

/// The guild ids of the commands in `sent`, in order.
fn commands(sent: &[String]) -> Vec<u64> {
    sent.iter()
        .filter(|text| text.starts_with(r#"{"op":8,"#))
        .map(|text| {
            let at = text.find(r#""guild_id":""#).expect("a guild id") + 12;
            text[at..]
                .split('"')
                .next()
                .and_then(|id| id.parse().ok())
                .expect("a numeric guild id")
        })
        .collect()
}

fn resumed(seq: u64) -> String {
    format!(r#"{{"t":"RESUMED","s":{seq},"op":0,"d":{{}}}}"#)
}

/// Everything the connection `server` ever delivered, as text.
fn transcript(server: &TestServer) -> Vec<String> {
    texts(&server.transcript())
}

/// The handshake a connection sent first: Identify (2) or Resume (6).
fn first_op(sent: &[String]) -> Option<&str> {
    sent.iter()
        .find(|text| !text.starts_with(r#"{"op":1,"#))
        .and_then(|text| text.get(6..7))
}

/// Polls through the wait before a dial (backoff, the op 9 pause) until a new connection is up.
fn until_connected(scene: &mut Scene) {
    while scene.server.is_none() {
        scene.wait();
    }
    scene.poll();
}

#[test]
fn commands_queued_around_op_7_go_out_once_after_resumed() {
    let mut scene = Scene::new(|b| b.connect_timeout(Duration::from_secs(5)));
    let sender = scene.shard.sender();
    scene.connect_and_ready();
    scene.gateway_says(&message(2));
    let old = scene.server.take().expect("connected");
    let _ = old.received();

    // 1. The gateway has sent op 7, the shard has not read it yet, and a command is queued:
    //    the shard reads what already arrived before it writes a command.
    old.send_text(RECONNECT);
    queue(&sender, 1);
    // The next dial hangs, so a command can be queued while dialling.
    scene.rt.hang_dials(1);
    scene.poll();
    // 2. Op 7 read: the old connection is closing, the new one not up yet.
    queue(&sender, 2);
    scene.poll();
    // 3. While dialling (the dial hangs, times out, and the next one goes through).
    queue(&sender, 3);
    until_connected(&mut scene);
    let new = scene.server.clone().expect("a new connection");
    // 4. Between Hello and RESUMED, with replayed dispatches flowing.
    scene.gateway_says(&hello());
    queue(&sender, 4);
    scene.poll();
    scene.gateway_says(&message(3));
    queue(&sender, 5);
    scene.poll();
    let before_resumed = new.received();
    assert_eq!(
        commands(&texts(&before_resumed)),
        Vec::<u64>::new(),
        "no command before RESUMED: {before_resumed:?}"
    );
    assert_eq!(first_op(&texts(&before_resumed)), Some("6"));
    // 5. RESUMED: the session is live again, and every queued command goes out, in order.
    scene.gateway_says(&resumed(4));
    queue(&sender, 6);
    scene.poll();
    let after = texts(&new.received());
    assert_eq!(commands(&after), [1, 2, 3, 4, 5, 6], "{after:?}");

    // The old connection got no command after op 7, and got its close frame.
    let old_sent = transcript(&old);
    assert_eq!(commands(&old_sent), Vec::<u64>::new(), "{old_sent:?}");
    assert_eq!(
        old.transcript()
            .iter()
            .filter(|frame| matches!(frame, Frame::Close(_)))
            .count(),
        1
    );
    // Each command exactly once over both connections.
    assert_eq!(commands(&transcript(&new)), [1, 2, 3, 4, 5, 6]);
}

#[test]
fn commands_queued_around_op_9_go_out_once_after_the_new_ready() {
    let mut scene = Scene::new(|b| b);
    let sender = scene.shard.sender();
    scene.connect_and_ready();
    scene.gateway_says(&message(2));
    let old = scene.server.take().expect("connected");
    let _ = old.received();

    // 1. Op 9 has arrived, unread, when a command is queued: it must not be written on the
    //    invalidated session (Discord closes that with 4003).
    old.send_text(INVALID_SESSION);
    queue(&sender, 1);
    scene.poll();
    // 2. Op 9 read: the shard waits 1-5 s before it identifies again.
    queue(&sender, 2);
    scene.poll();
    assert!(
        scene.server.is_none(),
        "the shard waits before a new Identify"
    );
    // 3. While dialling (the first dial hangs until the connect timeout).
    scene.rt.hang_dials(1);
    while scene.rt.dials().len() < 2 {
        scene.wait();
    }
    queue(&sender, 3);
    scene.poll();
    until_connected(&mut scene);
    let new = scene.server.clone().expect("a new connection");
    // 4. Connected, before Hello.
    queue(&sender, 4);
    scene.poll();
    // 5. Between Hello and READY: Identify goes out, the commands wait.
    scene.gateway_says(&hello());
    queue(&sender, 5);
    scene.poll();
    // The identify window of the first Identify may still be closed: wait for the permit.
    let mut before_ready = texts(&new.received());
    while !before_ready
        .iter()
        .any(|text| text.starts_with(r#"{"op":2,"#))
    {
        scene.wait();
        before_ready.extend(texts(&new.received()));
    }
    assert_eq!(first_op(&before_ready), Some("2"), "{before_ready:?}");
    assert_eq!(
        commands(&before_ready),
        Vec::<u64>::new(),
        "{before_ready:?}"
    );
    // 6. READY: the new session is live, and the commands queued for the old one go out on it.
    scene.gateway_says(&ready());
    queue(&sender, 6);
    scene.poll();
    let after = texts(&new.received());
    assert_eq!(commands(&after), [1, 2, 3, 4, 5, 6], "{after:?}");

    let old_sent = transcript(&old);
    assert_eq!(commands(&old_sent), Vec::<u64>::new(), "{old_sent:?}");
    assert_eq!(commands(&transcript(&new)), [1, 2, 3, 4, 5, 6]);
    assert_eq!(
        scene.rt.dials().len(),
        3,
        "the dial that hung was retried once"
    );
}

/// `server` (a connection the scene may no longer hold) sends `text`; the shard is polled.
fn says(scene: &mut Scene, server: &TestServer, text: &str) {
    server.send_text(text);
    scene.poll();
}

fn close_frames(server: &TestServer) -> Vec<Frame> {
    server
        .transcript()
        .into_iter()
        .filter(|frame| matches!(frame, Frame::Close(_)))
        .collect()
}

/// A connection left for op 7 whose peer is slow to read keeps its close frame (and what was
/// written before it) even when the next connection is left too before the first one finished:
/// each closing connection gets its own bounded closing handshake.
#[test]
fn a_second_connection_set_aside_does_not_drop_the_first_one_closing() {
    let mut scene = Scene::new(|b| b);
    scene.connect_and_ready();
    // A stable connection: leaving it is no failure, so the next dial comes at once.
    scene.prove_stable();
    let first = scene.server.take().expect("connected");
    first.stall_writes(true);
    let left_at = scene.rt.elapsed();
    says(&mut scene, &first, RECONNECT);
    until_connected(&mut scene);
    let second = scene.server.take().expect("a new connection");
    says(&mut scene, &second, &hello());
    // The gateway sends op 7 again at once, well within the first one's close timeout.
    says(&mut scene, &second, RECONNECT);
    assert!(scene.rt.elapsed() - left_at < Duration::from_secs(1));
    until_connected(&mut scene);
    // The first peer reads again: its close frame is still there to flush.
    first.stall_writes(false);
    scene.poll();
    assert_eq!(close_frames(&first).len(), 1, "{:?}", first.transcript());
    assert_eq!(close_frames(&second).len(), 1, "{:?}", second.transcript());
}

/// A shard closed through its sender ends its stream only once the close frame went out (or
/// the close timeout passed), so an application that drops it then does not cut the close off.
#[test]
fn a_shard_closed_through_its_sender_ends_after_its_close_frame_went_out() {
    let mut scene = Scene::new(|b| b);
    let sender = scene.shard.sender();
    scene.connect_and_ready();
    let server = scene.server.clone().expect("connected");
    server.stall_writes(true);
    sender
        .close(discord_gateway_driver::CloseKind::Resumable)
        .expect("the shard is there");
    let mut next = Box::pin(scene.shard.next_event());
    assert!(
        scene.rt.poll_once(&mut next).is_pending(),
        "the stream must not end before the close frame was flushed"
    );
    // The peer reads again: the close frame goes out, and the shard waits for the answer.
    server.stall_writes(false);
    assert!(scene.rt.poll_once(&mut next).is_pending());
    assert_eq!(close_frames(&server).len(), 1, "{:?}", server.transcript());
    server.hang_up();
    assert!(matches!(
        scene.rt.poll_once(&mut next),
        std::task::Poll::Ready(None)
    ));
}

/// Commands still queued when the shard stops are not sent later on any connection, and the
/// callers learn that the shard takes no more.
#[test]
fn after_a_stop_commands_are_refused_not_silently_kept() {
    let mut scene = Scene::new(|b| b);
    let sender = scene.shard.sender();
    scene.poll();
    let server = scene.server.clone().expect("dialled");
    // Not live yet (no Hello): these wait in the queue.
    queue(&sender, 1);
    scene.shard.send(&request(2)).expect("queued");
    scene.poll();
    let mut close = Box::pin(
        scene
            .shard
            .close(discord_gateway_driver::CloseKind::Resumable),
    );
    assert!(scene.rt.poll_once(&mut close).is_pending());
    server.hang_up();
    assert!(scene.rt.poll_once(&mut close).is_ready());
    drop(close);
    assert_eq!(
        sender.send(&request(3)),
        Err(QueueError::ShardGone),
        "a sender learns the shard has stopped"
    );
    assert_eq!(scene.shard.send(&request(4)), Err(QueueError::ShardGone));
    assert!(scene.poll().is_empty());
    assert_eq!(commands(&transcript(&server)), Vec::<u64>::new());
    assert_eq!(scene.rt.dials().len(), 1, "a stopped shard dials no more");
}
