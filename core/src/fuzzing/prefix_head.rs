//! The prefix head reader's promises, on arbitrary bytes, without `std`.

use crate::codec::{read_head, Encoding, Envelope, EnvelopeHead, PrefixHead};

/// Reads the head of arbitrary bytes, in JSON and in ETF, from the whole input and from cuts of
/// it (every cut of the first 64 bytes, and 32 more spread over the rest).
///
/// # Panics
/// When the reader panics, or breaks a promise: for a message the whole-message decoder
/// accepts, a cut answers an error, a head other than the decoder's, or "need more" after a
/// shorter cut knew the head, or the whole message does not settle it; for any bytes, an error
/// on a cut where the whole message decodes.
pub fn prefix_head(data: &[u8]) {
    for encoding in [Encoding::Json, Encoding::Etf] {
        let whole = Envelope::decode_as(encoding, data, |_| true);
        let expected = whole.as_ref().ok().map(|envelope| {
            (
                envelope.op(),
                envelope.seq(),
                envelope.name().map(|n| n.raw()),
            )
        });
        let len = data.len();
        let step = (len / 32).max(1);
        let mut known = false;
        let mut last_cut = None;
        // What the embedded receiver relies on to read a head the same however the socket cut
        // the bytes: a head once known stays the same head, and an error stays an error, for
        // any bytes at all (only "need more" and "behind the data" may change).
        let mut settled: Option<Result<_, ()>> = None;
        for cut in (0..len.min(64)).chain((64..len).step_by(step)).chain([len]) {
            // The spread cuts may repeat the last one.
            if last_cut.is_some_and(|last| cut <= last) {
                continue;
            }
            last_cut = Some(cut);
            let answer = read_head(encoding, &data[..cut]);
            let now = match &answer {
                Ok(PrefixHead::Known(head)) => Some(Ok(triple(head))),
                Ok(PrefixHead::NeedMore | PrefixHead::BehindData) => None,
                Err(_) => Some(Err(())),
            };
            if let Some(before) = settled {
                assert_eq!(
                    now,
                    Some(before),
                    "{encoding:?}: a final answer changed at cut {cut}: {answer:?}"
                );
            }
            settled = now.or(settled);
            let Some(expected) = expected else {
                continue;
            };
            match answer {
                Ok(PrefixHead::Known(head)) => {
                    assert_eq!(triple(&head), expected, "{encoding:?} cut at {cut}");
                    known = true;
                }
                Ok(PrefixHead::NeedMore | PrefixHead::BehindData) => {
                    assert!(!known, "{encoding:?}: unknown again at {cut}");
                }
                Err(error) => panic!("{encoding:?}: {error} at {cut} of a valid message"),
            }
        }
        if expected.is_some() {
            assert!(
                known,
                "{encoding:?}: the whole message did not settle the head"
            );
        }
    }
}

fn triple<'a>(head: &EnvelopeHead<'a>) -> (crate::protocol::OpCode, Option<u64>, Option<&'a str>) {
    (head.op(), head.seq(), head.name().map(|n| n.raw()))
}
