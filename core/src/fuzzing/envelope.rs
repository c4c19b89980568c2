//! The envelope scan's own promises, on arbitrary bytes, without `std`.

use crate::codec::{parse_invalid_session, Data, Envelope, Hello, Ready};
use crate::protocol::OpCode;

/// Scans arbitrary bytes every way the crate offers and checks that the answers agree.
///
/// # Panics
/// When the scan panics, or breaks a promise: `Envelope::decode` and
/// `Envelope::decode_filtered` with a filter that always says yes disagree; a filter that
/// says no changes anything but `d`, or is asked other than exactly once for a dispatch with a
/// string `t` (and never otherwise); the span of `d` is out of bounds or not trimmed; the event
/// name is not UTF-8 or its kind does not match its text.
pub fn envelope(data: &[u8]) {
    let full = Envelope::decode(data);
    let mut asked_yes = 0u32;
    let yes = Envelope::decode_filtered(data, |_| {
        asked_yes += 1;
        true
    });
    assert_eq!(
        full, yes,
        "decode and a filter that always says yes disagree"
    );
    let mut asked_no = 0u32;
    let no = Envelope::decode_filtered(data, |_| {
        asked_no += 1;
        false
    });

    match (&full, &no) {
        (Ok(full), Ok(no)) => {
            assert_eq!(full.message(), data);
            assert_eq!(
                (full.op(), full.seq(), full.name()),
                (no.op(), no.seq(), no.name())
            );
            let named_dispatch = full.op() == OpCode::Dispatch && full.name().is_some();
            assert_eq!(asked_yes, u32::from(named_dispatch));
            assert_eq!(asked_no, u32::from(named_dispatch));
            if named_dispatch {
                assert_eq!(no.data_span(), &Data::Skipped);
            } else {
                assert_eq!(no.data_span(), full.data_span());
            }
            check_scanned(full);
        }
        (Err(_), Ok(no)) => {
            // Stopping early may skip whatever was wrong, but only for an unwanted dispatch.
            assert_eq!(no.op(), OpCode::Dispatch);
            assert!(no.name().is_some());
            assert_eq!(no.data_span(), &Data::Skipped);
            assert_eq!(asked_no, 1);
        }
        (Ok(_), Err(error)) => panic!("a filter that says no failed where decode did not: {error}"),
        (Err(_), Err(_)) => assert!(asked_no <= 1 && asked_yes <= 1),
    }
}

fn check_scanned(envelope: &Envelope<'_>) {
    let message = envelope.message();
    match envelope.data_span() {
        Data::Present(range) => {
            let d = message
                .get(range.clone())
                .expect("the span of d is in bounds");
            assert!(!d.is_empty());
            assert!(!d[0].is_ascii_whitespace() && !d[d.len() - 1].is_ascii_whitespace());
            assert_eq!(envelope.data(), Some(d));
            // The control payload readers must cope with any `d`, whatever the opcode.
            let _ = Hello::parse(d);
            let _ = Ready::parse(d);
            let _ = parse_invalid_session(Some(d));
        }
        Data::Absent => assert_eq!(envelope.data(), None),
        Data::Skipped => panic!("decode skipped d"),
    }
    if let Some(name) = envelope.name() {
        // Borrowed from the message, not copied (an empty name has nothing to point at).
        let raw = name.raw();
        assert!(raw.is_empty() || message.as_ptr_range().contains(&raw.as_ptr()));
        let mut unescaped = heapless::String::<64>::new();
        match name.unescape_into(&mut unescaped) {
            Ok(()) => {
                assert_eq!(
                    name.kind(),
                    crate::protocol::EventType::from_name(unescaped.as_bytes())
                );
                if !name.is_escaped() {
                    assert_eq!(unescaped.as_str(), raw);
                }
            }
            // Longer than any documented name.
            Err(_) => assert_eq!(name.kind(), None),
        }
    }
}
