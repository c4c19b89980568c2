//! Messages over `max_message_size` that the shard skips without losing the connection: the
//! core reads their head from the first bytes the inflater kept, and the session counts them as
//! if they had been read, so the next dispatch is no sequence gap and the heartbeat carries
//! the skipped number. On the deterministic runtime.

mod common;

use common::{message, Scene};
use discord_gateway_driver::discord_gateway::session::{Compression, DisconnectCause};
use discord_gateway_driver::{Frame, MessageError, SessionEvent, ShardEvent};

const LIMIT: usize = 1024;

fn guild_create(seq: u64, data_first: bool) -> String {
    let data = format!(r#"{{"id":"1","members":"{}"}}"#, "x".repeat(4 * LIMIT));
    if data_first {
        format!(r#"{{"d":{data},"t":"GUILD_CREATE","s":{seq},"op":0}}"#)
    } else {
        format!(r#"{{"t":"GUILD_CREATE","s":{seq},"op":0,"d":{data}}}"#)
    }
}

fn gaps(scene: &Scene) -> Vec<&ShardEvent> {
    scene
        .events
        .iter()
        .filter_map(|item| item.as_ref().ok())
        .filter(|event| {
            matches!(
                event,
                ShardEvent::Session(SessionEvent::SequenceGap { .. }, _)
            )
        })
        .collect()
}

fn skipped(scene: &Scene) -> usize {
    scene
        .events
        .iter()
        .filter(|item| matches!(item, Ok(ShardEvent::Malformed(MessageError::Inflate(_)))))
        .count()
}

fn dispatched(scene: &Scene) -> Vec<Option<u64>> {
    scene
        .events
        .iter()
        .filter_map(|item| match item {
            Ok(ShardEvent::Dispatch(dispatch)) => Some(dispatch.seq()),
            _ => None,
        })
        .collect()
}

/// The skipped dispatch is counted: no gap before the next one, one connection, and the next
/// heartbeat carries the last number.
fn counted_without_a_gap(scene: &mut Scene) {
    assert_eq!(skipped(scene), 1, "{:?}", scene.events);
    assert!(gaps(scene).is_empty(), "{:?}", gaps(scene));
    assert_eq!(
        dispatched(scene),
        [Some(1), Some(3)],
        "READY, then the one after the skip"
    );
    assert_eq!(scene.rt.dials().len(), 1, "the connection carries on");
    let _ = scene.sent();
    scene.wait();
    assert_eq!(scene.sent(), [r#"{"op":1,"d":3}"#]);
}

#[test]
fn an_uncompressed_binary_message_over_the_limit_is_counted_from_its_head() {
    let mut scene = Scene::new(|b| b.max_message_size(LIMIT));
    scene.connect_and_ready();
    scene
        .server()
        .send(Frame::Binary(guild_create(2, false).into_bytes().into()));
    scene.poll();
    scene.gateway_says(&message(3));
    counted_without_a_gap(&mut scene);
}

#[cfg(feature = "zlib")]
fn zlib(payloads: &[String]) -> Vec<Frame> {
    use flate2::{Compress, Compression as Level, FlushCompress};
    let mut compress = Compress::new(Level::default(), true);
    payloads
        .iter()
        .map(|payload| {
            let mut out = Vec::with_capacity(payload.len() + 1024);
            compress
                .compress_vec(payload.as_bytes(), &mut out, FlushCompress::Sync)
                .unwrap();
            Frame::Binary(out.into())
        })
        .collect()
}

#[cfg(feature = "zlib")]
#[test]
fn a_zlib_message_inflating_past_the_limit_is_counted_from_its_head() {
    let mut scene = Scene::new(|b| {
        b.max_message_size(LIMIT)
            .configure(|c| c.compression(Compression::ZlibStream))
    });
    scene.connect_and_ready();
    for frame in zlib(&[guild_create(2, false), message(3)]) {
        scene.server().send(frame);
        scene.poll();
    }
    counted_without_a_gap(&mut scene);
}

/// A compressed payload so large that even compressed it is over the limit, split across
/// messages: skipped while still compressed, its first bytes kept all the same.
#[cfg(feature = "zlib")]
#[test]
fn a_zlib_payload_over_the_limit_while_compressed_is_counted_from_its_head() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: String = (0..8 * LIMIT)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(b'a' + (state % 26) as u8)
        })
        .collect();
    let big = format!(r#"{{"t":"GUILD_CREATE","s":2,"op":0,"d":"{noise}"}}"#);
    let mut scene = Scene::new(|b| {
        b.max_message_size(LIMIT)
            .configure(|c| c.compression(Compression::ZlibStream))
    });
    scene.connect_and_ready();
    let frames = zlib(&[big, message(3)]);
    let Frame::Binary(first) = &frames[0] else {
        unreachable!()
    };
    assert!(first.len() > LIMIT, "compressed, still over the limit");
    for piece in first.chunks(first.len() / 3 + 1) {
        scene.server().send(Frame::Binary(piece.to_vec().into()));
        scene.poll();
    }
    scene.server().send(frames[1].clone());
    scene.poll();
    counted_without_a_gap(&mut scene);
}

/// `d` before the head: the first bytes cannot tell its sequence number, so the shard resumes
/// to have it replayed rather than report a gap it made up.
#[cfg(feature = "zlib")]
#[test]
fn a_zlib_message_whose_head_is_behind_its_data_is_resumed_not_guessed() {
    let mut scene = Scene::new(|b| {
        b.max_message_size(LIMIT)
            .configure(|c| c.compression(Compression::ZlibStream))
    });
    scene.connect_and_ready();
    for frame in zlib(&[guild_create(2, true)]) {
        scene.server().send(frame);
        scene.poll();
    }
    let disconnected = scene.events.iter().find_map(|item| match item {
        Ok(ShardEvent::Session(SessionEvent::Disconnected { cause, .. }, _)) => Some(*cause),
        _ => None,
    });
    assert_eq!(
        disconnected,
        Some(DisconnectCause::MessageTooLarge { attempt: 1 }),
        "{:?}",
        scene.events
    );
    assert!(gaps(&scene).is_empty());
}
