//! Typed reads of a dispatch's `d` without an allocator: the handler deserializes
//! MESSAGE_CREATE into a struct that borrows from the receive buffer.

mod common;

use std::ops::ControlFlow;

use common::script::Script;
use discord_gateway_embedded::replay::{Replay, SeededEntropy, VirtualTimer};
use discord_gateway_embedded::{
    Buffers, Client, Config, DataError, Event, Instant, Received, Token, SEND_BUFFER_LEN,
};
use serde::Deserialize;

const SEED: u64 = 0x5eed;

#[derive(Debug, Deserialize, PartialEq)]
struct Message<'a> {
    content: &'a str,
    #[serde(borrow)]
    author: Author<'a>,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Author<'a> {
    id: &'a str,
}

#[derive(Debug, Deserialize, PartialEq)]
struct OwnedContent<'a> {
    content: heapless::String<64>,
    #[serde(borrow)]
    author: Author<'a>,
}

fn message_create(seq: u64, content_json: &str) -> String {
    format!(
        r#"{{"t":"MESSAGE_CREATE","s":{seq},"op":0,"d":{{"id":"9{seq}","channel_id":"5","author":{{"id":"4{seq}","username":"u","global_name":null}},"content":{content_json},"mentions":[],"embeds":[{{"title":"skipped"}}],"tts":false}}}}"#
    )
}

/// Plays READY and the given MESSAGE_CREATEs; `read` sees each dispatch's `DispatchRef`.
fn each_message(
    messages: &[String],
    mut read: impl FnMut(&discord_gateway_embedded::DispatchRef<'_>),
) {
    let mut script = Script::new(SEED);
    script.connect("gateway.test").identify("s1");
    for message in messages {
        script.server_text(message);
    }
    let (mut rx, mut tx) = ([0u8; 4096], [0u8; SEND_BUFFER_LEN]);
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let config = Config::builder(Token::new(common::TOKEN).unwrap())
        .gateway_url("ws://gateway.test")
        .seed(3)
        .build()
        .unwrap();
    let mut client = Client::new(config, buffers, SeededEntropy::new(SEED)).unwrap();
    let mut replay = Replay::new(&script.records);
    let mut timer = VirtualTimer::new(Instant::from_millis(1_000));
    let mut seen = 0;
    let result = embassy_futures::block_on(client.run(&mut replay, &mut timer, |_, received| {
        match received {
            Received::Dispatch(dispatch) if dispatch.name().unwrap().raw() == "MESSAGE_CREATE" => {
                read(&dispatch);
                seen += 1;
            }
            Received::Event(Event::Ready) | Received::Dispatch(_) => {}
            other => panic!("unexpected {other:?}"),
        }
        if seen == messages.len() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }));
    result.unwrap();
    assert_eq!(replay.mismatch(), None);
}

#[test]
fn content_and_author_id_are_borrowed_from_the_receive_buffer() {
    each_message(&[message_create(2, r#""hello, device""#)], |dispatch| {
        let message: Message<'_> = dispatch.deserialize().unwrap();
        assert_eq!(
            message,
            Message {
                content: "hello, device",
                author: Author { id: "42" }
            }
        );
        // Borrowed: the text lies in the message the client received.
        let whole = dispatch.message().as_ptr_range();
        assert!(whole.contains(&message.content.as_ptr()));
    });
}

#[test]
fn an_escaped_string_is_a_clear_error_for_a_borrowed_str_and_unescapes_into_an_owned_one() {
    let escaped = r#""say \"hi\"\nto caf\u00e9""#;
    each_message(&[message_create(2, escaped)], |dispatch| {
        let error = dispatch.deserialize::<Message<'_>>().unwrap_err();
        assert_eq!(error, DataError::EscapedString);
        assert!(error.to_string().contains("borrowed &str"), "{error}");

        let mut scratch = [0u8; 64];
        let owned: OwnedContent<'_> = dispatch.deserialize_unescaped(&mut scratch).unwrap();
        assert_eq!(owned.content.as_str(), "say \"hi\"\nto café");
        assert_eq!(owned.author.id, "42");

        // Too small a scratch buffer is the same clear error, not a truncated string.
        let mut small = [0u8; 4];
        assert_eq!(
            dispatch.deserialize_unescaped::<OwnedContent<'_>>(&mut small),
            Err(DataError::EscapedString)
        );
    });
}

#[test]
fn data_that_does_not_match_the_type_is_an_error_not_a_panic() {
    each_message(&[message_create(2, "17")], |dispatch| {
        let error = dispatch.deserialize::<Message<'_>>().unwrap_err();
        assert!(matches!(error, DataError::Json(_)), "{error:?}");
        assert!(error.to_string().contains("does not match"), "{error}");
    });
}
