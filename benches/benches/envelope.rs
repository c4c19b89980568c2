//! Benchmark 1: envelope decode.
//!
//! Every contender reads the same bytes in one run: two corpora (a realistic mix and one 5 MB
//! GUILD_CREATE), each with Discord's key order and shuffled. Before anything is timed, every
//! contender's answer (op, s, t, and d where it gives one) is checked against what the corpus
//! was built from, so a fast wrong answer is reported, not rewarded.
//!
//! `cargo bench -p discord-gateway-benches --bench envelope`
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use discord_gateway::codec::{Data, Envelope};
use discord_gateway::OpCode;
use discord_gateway_benches::corpus::{big_guild_create, mix, Corpus, Order};
use serde::Deserialize;
use serde_json::value::RawValue;
use twilight_gateway::EventTypeFlags;
use twilight_model::gateway::event::GatewayEventDeserializer;

/// What a user of serde_json would write to read the envelope and keep `d` for later.
#[derive(Deserialize)]
struct SerdeEnvelope<'a> {
    op: u8,
    s: Option<u64>,
    #[serde(borrow)]
    t: Option<&'a str>,
    #[serde(borrow)]
    d: &'a RawValue,
}

fn op_of(op: OpCode) -> u8 {
    op.to_u8()
}

/// Checks every contender on every message; returns a note about contenders that were wrong.
fn check(corpus: &Corpus) -> String {
    let mut twilight_wrong = 0;
    let mut twilight_full_failed = 0;
    for (i, m) in corpus.messages.iter().enumerate() {
        let ctx = || format!("{} message {i}", corpus.label());
        // Ours, d wanted: everything, d byte for byte.
        let env = Envelope::decode(&m.bytes).unwrap_or_else(|e| panic!("{}: {e}", ctx()));
        assert_eq!(op_of(env.op()), m.op, "{}", ctx());
        assert_eq!(env.seq(), m.seq, "{}", ctx());
        assert_eq!(env.name().map(|n| n.raw()), m.name.as_deref(), "{}", ctx());
        assert_eq!(env.data(), Some(m.data.as_bytes()), "{}", ctx());
        // Ours, unwanted: the same header, d skipped for dispatches.
        let env = Envelope::decode_filtered(&m.bytes, |_| false)
            .unwrap_or_else(|e| panic!("{}: {e}", ctx()));
        assert_eq!(op_of(env.op()), m.op, "{}", ctx());
        assert_eq!(env.seq(), m.seq, "{}", ctx());
        assert_eq!(env.name().map(|n| n.raw()), m.name.as_deref(), "{}", ctx());
        if m.op == 0 {
            assert_eq!(env.data_span(), &Data::Skipped, "{}", ctx());
        }
        // serde_json.
        let env: SerdeEnvelope<'_> = serde_json::from_slice(&m.bytes).expect("serde_json");
        assert_eq!((env.op, env.s, env.t), (m.op, m.seq, m.name.as_deref()));
        assert_eq!(env.d.get(), m.data);
        // twilight: its scan finds op, s and t by searching for `"op":`, `"s":` and `"t":`.
        let text = std::str::from_utf8(&m.bytes).expect("utf-8");
        let right = GatewayEventDeserializer::from_json(text).is_some_and(|d| {
            (d.op(), d.sequence(), d.event_type()) == (m.op, m.seq, m.name.as_deref())
        });
        if !right {
            twilight_wrong += 1;
        }
        if !matches!(
            twilight_gateway::parse(text.to_owned(), EventTypeFlags::all()),
            Ok(Some(_))
        ) {
            twilight_full_failed += 1;
        }
    }
    format!(
        "{}: {} messages, {} bytes; ours and serde_json agree with the corpus on every message; \
         twilight's scan got op/s/t wrong on {twilight_wrong}; twilight's full parse failed on {twilight_full_failed}",
        corpus.label(),
        corpus.messages.len(),
        corpus.bytes()
    )
}

fn bench_corpus(c: &mut Criterion, corpus: &Corpus) {
    println!("{}", check(corpus));
    let strings: Vec<String> = corpus
        .messages
        .iter()
        .map(|m| String::from_utf8(m.bytes.clone()).expect("utf-8"))
        .collect();
    let big = corpus.bytes() > 1_000_000;
    let mut group = c.benchmark_group(corpus.label());
    group.throughput(Throughput::Bytes(corpus.bytes()));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(if big { 4 } else { 3 }));
    if big {
        group.sample_size(20);
    }

    group.bench_function("ours/d_wanted", |b| {
        b.iter(|| {
            for m in &corpus.messages {
                let _ = black_box(Envelope::decode(black_box(&m.bytes)));
            }
        });
    });
    group.bench_function("ours/unwanted", |b| {
        b.iter(|| {
            for m in &corpus.messages {
                let _ = black_box(Envelope::decode_filtered(black_box(&m.bytes), |_| false));
            }
        });
    });
    group.bench_function("serde_json/raw_value", |b| {
        b.iter(|| {
            for m in &corpus.messages {
                let _ = black_box(serde_json::from_slice::<SerdeEnvelope<'_>>(black_box(
                    &m.bytes,
                )));
            }
        });
    });
    // `twilight_gateway::parse` takes the message by value (a `String`): the copies are made
    // outside the timing; dropping them, which parse does, is inside.
    group.bench_function("twilight/parse_no_event", |b| {
        b.iter_batched(
            || strings.clone(),
            |strings| {
                for s in strings {
                    let _ = black_box(twilight_gateway::parse(s, EventTypeFlags::empty()));
                }
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("twilight/scan_only", |b| {
        b.iter(|| {
            for s in &strings {
                black_box(GatewayEventDeserializer::from_json(black_box(s)));
            }
        });
    });
    group.bench_function("twilight/parse_all_events", |b| {
        b.iter_batched(
            || strings.clone(),
            |strings| {
                strings
                    .into_iter()
                    .map(|s| twilight_gateway::parse(s, EventTypeFlags::all()))
                    .collect::<Vec<_>>()
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("memchr/floor", |b| {
        b.iter(|| {
            for m in &corpus.messages {
                black_box(memchr::memchr(0, black_box(&m.bytes)));
            }
        });
    });
    group.finish();
}

fn envelope(c: &mut Criterion) {
    for order in [Order::Discord, Order::Shuffled] {
        bench_corpus(c, &mix(order));
    }
    for order in [Order::Discord, Order::Shuffled] {
        bench_corpus(c, &big_guild_create(order));
    }
}

criterion_group!(benches, envelope);
criterion_main!(benches);
