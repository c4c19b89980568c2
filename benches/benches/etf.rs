//! Benchmark 8: the same event mix in JSON and in ETF.
//!
//! The mix of benchmark 1 (`corpus::mix`, Discord's key order), and each message transcoded to
//! ETF as Discord's encoder shapes it (atom keys, strings as binaries, snowflakes as integers,
//! `nil`/`true`/`false` atoms, smallest integer tags; the sim's `etf::from_json`). Before timing,
//! every ETF message is checked to decode to the same op, s, t and `d` value as its JSON (through
//! the JSON view, which prints snowflakes as the strings JSON has).
//!
//! Printed, not timed: the bytes on the wire for each encoding, raw and under zlib-stream and
//! zstd-stream (one compression context across the whole mix, flushed per message, as Discord
//! does).
//!
//! `cargo bench -p discord-gateway-benches --bench etf`
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::io::Write as _;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use discord_gateway::codec::etf;
use discord_gateway::codec::Envelope;
use discord_gateway_benches::corpus::{mix, Order};
use serde::de::IgnoredAny;
use serde_json::Value;

/// Both encodings of every message of the mix.
struct Pair {
    json: Vec<Vec<u8>>,
    etf: Vec<Vec<u8>>,
}

fn pair() -> Pair {
    let corpus = mix(Order::Discord);
    let json: Vec<Vec<u8>> = corpus.messages.into_iter().map(|m| m.bytes).collect();
    let etf = json
        .iter()
        .map(|m| {
            discord_gateway_sim::etf::from_json(std::str::from_utf8(m).expect("utf-8"))
                .expect("the mix is JSON")
        })
        .collect();
    Pair { json, etf }
}

/// Every ETF message scans to the JSON's op, s and t, and its `d` deserializes to the same value.
fn check(pair: &Pair) {
    for (i, (json, etf)) in pair.json.iter().zip(&pair.etf).enumerate() {
        let j = Envelope::decode(json).expect("JSON scans");
        let e = Envelope::decode_etf(etf).expect("ETF scans");
        assert_eq!((j.op(), j.seq()), (e.op(), e.seq()), "message {i}");
        assert_eq!(
            j.name().map(|n| n.raw()),
            e.name().map(|n| n.raw()),
            "message {i}"
        );
        let jd: Value = serde_json::from_slice(j.data().expect("d")).expect("JSON d");
        // Snowflakes are integers in the ETF (as Discord sends them): compare through the JSON
        // view, which prints them as the strings the JSON has, after checking `d` deserializes.
        let _: Value = etf::from_term(e.data().expect("d")).expect("ETF d");
        let mut text = String::new();
        etf::to_json(e.data().expect("d"), &mut text).expect("ETF d");
        let ed: Value = serde_json::from_str(&text).expect("the view is JSON");
        assert_eq!(jd, ed, "message {i}");
    }
}

fn zlib_stream(messages: &[Vec<u8>]) -> usize {
    use flate2::{Compress, Compression, FlushCompress};
    let mut ctx = Compress::new(Compression::default(), true);
    let mut total = 0;
    for m in messages {
        let mut out = Vec::with_capacity(m.len() + 64);
        let start = ctx.total_in();
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(256));
            }
            let consumed = usize::try_from(ctx.total_in() - start).expect("fits");
            ctx.compress_vec(&m[consumed..], &mut out, FlushCompress::Sync)
                .expect("deflate");
            let consumed = usize::try_from(ctx.total_in() - start).expect("fits");
            if consumed == m.len() && out.len() < out.capacity() {
                break;
            }
        }
        total += out.len();
    }
    total
}

fn zstd_stream(messages: &[Vec<u8>]) -> usize {
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 3).expect("zstd");
    for m in messages {
        encoder.write_all(m).expect("zstd");
        encoder.flush().expect("zstd");
    }
    encoder.get_ref().len()
}

fn wire(pair: &Pair) {
    let raw = |messages: &[Vec<u8>]| messages.iter().map(Vec::len).sum::<usize>();
    println!(
        "bytes on the wire for the mix ({} messages):",
        pair.json.len()
    );
    for (label, messages) in [("json", &pair.json), ("etf", &pair.etf)] {
        println!(
            "  {label}: raw {} B, zlib-stream {} B, zstd-stream {} B",
            raw(messages),
            zlib_stream(messages),
            zstd_stream(messages)
        );
    }
}

fn bench(c: &mut Criterion) {
    let pair = pair();
    check(&pair);
    wire(&pair);
    let json_bytes: u64 = pair.json.iter().map(|m| m.len() as u64).sum();
    let etf_bytes: u64 = pair.etf.iter().map(|m| m.len() as u64).sum();

    // Throughput is given per encoding's own bytes; compare the times, which are per mix.
    let mut group = c.benchmark_group("etf_vs_json/mix");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(pair.json.len() as u64));

    group.bench_function("json/envelope", |b| {
        b.iter(|| {
            for m in &pair.json {
                let _ = black_box(Envelope::decode(black_box(m)));
            }
        });
    });
    group.bench_function("etf/envelope", |b| {
        b.iter(|| {
            for m in &pair.etf {
                let _ = black_box(Envelope::decode_etf(black_box(m)));
            }
        });
    });
    group.bench_function("json/envelope_unwanted", |b| {
        b.iter(|| {
            for m in &pair.json {
                let _ = black_box(Envelope::decode_filtered(black_box(m), |_| false));
            }
        });
    });
    group.bench_function("etf/envelope_unwanted", |b| {
        b.iter(|| {
            for m in &pair.etf {
                let _ = black_box(Envelope::decode_etf_filtered(black_box(m), |_| false));
            }
        });
    });
    group.bench_function("json/envelope+d_ignored_any", |b| {
        b.iter(|| {
            for m in &pair.json {
                let env = Envelope::decode(black_box(m)).expect("scans");
                let d = env.data().expect("d");
                black_box(serde_json::from_slice::<IgnoredAny>(d).expect("d"));
            }
        });
    });
    group.bench_function("etf/envelope+d_ignored_any", |b| {
        b.iter(|| {
            for m in &pair.etf {
                let env = Envelope::decode_etf(black_box(m)).expect("scans");
                let d = env.data().expect("d");
                black_box(etf::from_term::<IgnoredAny>(d).expect("d"));
            }
        });
    });
    group.bench_function("json/envelope+d_value", |b| {
        b.iter(|| {
            for m in &pair.json {
                let env = Envelope::decode(black_box(m)).expect("scans");
                let d = env.data().expect("d");
                black_box(serde_json::from_slice::<Value>(d).expect("d"));
            }
        });
    });
    group.bench_function("etf/envelope+d_value", |b| {
        b.iter(|| {
            for m in &pair.etf {
                let env = Envelope::decode_etf(black_box(m)).expect("scans");
                let d = env.data().expect("d");
                black_box(etf::from_term::<Value>(d).expect("d"));
            }
        });
    });
    group.bench_function("etf/envelope+d_to_json_text", |b| {
        let mut text = String::new();
        b.iter(|| {
            for m in &pair.etf {
                let env = Envelope::decode_etf(black_box(m)).expect("scans");
                text.clear();
                etf::to_json(env.data().expect("d"), &mut text).expect("d");
                black_box(&text);
            }
        });
    });
    group.finish();
    println!("mix: {json_bytes} B as JSON, {etf_bytes} B as ETF");
}

criterion_group!(benches, bench);
criterion_main!(benches);
