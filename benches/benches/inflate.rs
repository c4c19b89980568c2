//! Benchmark 4: transport decompression throughput.
//!
//! The realistic mix (Discord's key order, 200 messages) is compressed in setup the way the
//! gateway does it: zlib-stream is one deflate stream per connection with a sync flush after
//! every payload; zstd-stream is one zstd frame per connection, flushed after every payload.
//! Each iteration inflates the whole stream with a fresh context, one payload at a time, into a
//! reused output buffer, and every output is checked against the original in setup.
//!
//! Contenders: for zlib, `miniz_oxide` (flate2's default backend, which the driver used until
//! these figures), `flate2` on its `zlib-rs` backend (what the driver and twilight-gateway 0.18's
//! `zlib` feature use) and `zlib-rs` through its own API; for zstd, libzstd through the `zstd`
//! crate, once with a 16 KiB stack chunk copied into the output (the driver's first loop) and once
//! decoding straight into the output buffer (the driver's loop now).
//!
//! `cargo bench -p discord-gateway-benches --bench inflate`
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use discord_gateway_benches::corpus::{mix, Order};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use zstd::stream::raw::{Decoder, Encoder, InBuffer, Operation, OutBuffer};

const SYNC_FLUSH: [u8; 4] = [0, 0, 0xff, 0xff];

fn zlib_stream(payloads: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut ctx = Compress::new(Compression::default(), true);
    payloads
        .iter()
        .map(|payload| {
            let mut out = Vec::with_capacity(payload.len() + 64);
            let start = ctx.total_in();
            loop {
                if out.len() == out.capacity() {
                    out.reserve(out.capacity());
                }
                let done = usize::try_from(ctx.total_in() - start).expect("fits");
                ctx.compress_vec(&payload[done..], &mut out, FlushCompress::Sync)
                    .expect("deflate");
                let done = usize::try_from(ctx.total_in() - start).expect("fits");
                if done == payload.len() && out.len() < out.capacity() {
                    break;
                }
            }
            assert!(out.ends_with(&SYNC_FLUSH));
            out
        })
        .collect()
}

fn zstd_stream(payloads: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut enc = Encoder::new(3).expect("zstd encoder");
    payloads
        .iter()
        .map(|payload| {
            let mut out = vec![0u8; zstd::zstd_safe::compress_bound(payload.len()) + 64];
            let mut src = InBuffer::around(payload);
            let mut dst = OutBuffer::around(&mut out[..]);
            while src.pos() < payload.len() {
                enc.run(&mut src, &mut dst).expect("zstd");
            }
            while enc.flush(&mut dst).expect("zstd flush") != 0 {}
            let len = dst.pos();
            out.truncate(len);
            out
        })
        .collect()
}

/// miniz_oxide's streaming inflate, as flate2's default backend drives it: a zero-filled output
/// it only grows, like `inflate_zlib_rs`.
fn inflate_miniz(
    state: &mut miniz_oxide::inflate::stream::InflateState,
    mut input: &[u8],
    buf: &mut Vec<u8>,
) -> usize {
    use miniz_oxide::{inflate::stream::inflate, MZFlush};
    let mut len = 0;
    loop {
        if len == buf.len() {
            let grow = buf.len().max(input.len() * 4).max(4096);
            buf.resize(buf.len() + grow, 0);
        }
        let result = inflate(state, input, &mut buf[len..], MZFlush::Sync);
        result.status.expect("inflate");
        len += result.bytes_written;
        input = &input[result.bytes_consumed..];
        if input.is_empty() && len < buf.len() {
            return len;
        }
    }
}

/// flate2 on its zlib-rs backend, with a `Vec` output as the driver had it.
fn inflate_flate2(ctx: &mut Decompress, mut input: &[u8], out: &mut Vec<u8>) -> usize {
    out.clear();
    loop {
        if out.len() == out.capacity() {
            let grow = out.capacity().max(input.len() * 4).max(4096);
            out.reserve_exact(grow);
        }
        let before = ctx.total_in();
        ctx.decompress_vec(input, out, FlushDecompress::Sync)
            .expect("inflate");
        let consumed = usize::try_from(ctx.total_in() - before).expect("fits");
        input = &input[consumed..];
        if input.is_empty() && out.len() < out.capacity() {
            return out.len();
        }
    }
}

/// zlib-rs through its safe streaming API. `buf` stays fully initialised (it only grows), so
/// nothing is zeroed per payload; returns the payload's length.
fn inflate_zlib_rs(ctx: &mut zlib_rs::Inflate, mut input: &[u8], buf: &mut Vec<u8>) -> usize {
    let mut len = 0;
    loop {
        if len == buf.len() {
            let grow = buf.len().max(input.len() * 4).max(4096);
            buf.resize(buf.len() + grow, 0);
        }
        let (in_before, out_before) = (ctx.total_in(), ctx.total_out());
        ctx.decompress(input, &mut buf[len..], zlib_rs::InflateFlush::SyncFlush)
            .expect("inflate");
        len += usize::try_from(ctx.total_out() - out_before).expect("fits");
        let consumed = usize::try_from(ctx.total_in() - in_before).expect("fits");
        input = &input[consumed..];
        if input.is_empty() && len < buf.len() {
            return len;
        }
    }
}

/// libzstd, the driver's loop: decode into a 16 KiB stack chunk, append to the output.
fn inflate_zstd_chunked(decoder: &mut Decoder<'static>, input: &[u8], out: &mut Vec<u8>) -> usize {
    out.clear();
    let mut source = InBuffer::around(input);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let mut sink = OutBuffer::around(&mut chunk[..]);
        decoder.run(&mut source, &mut sink).expect("zstd");
        let produced = sink.pos();
        out.extend_from_slice(&chunk[..produced]);
        if source.pos() == input.len() && produced < chunk.len() {
            return out.len();
        }
    }
}

/// libzstd decoding straight into the output's spare capacity.
fn inflate_zstd_direct(decoder: &mut Decoder<'static>, input: &[u8], out: &mut Vec<u8>) -> usize {
    out.clear();
    let mut source = InBuffer::around(input);
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(input.len() * 4).max(16 * 1024));
        }
        let pos = out.len();
        let mut sink = OutBuffer::around_pos(out, pos);
        decoder.run(&mut source, &mut sink).expect("zstd");
        let full = sink.pos() == sink.capacity();
        if source.pos() == input.len() && !full {
            return out.len();
        }
    }
}

fn check(
    name: &str,
    payloads: &[Vec<u8>],
    mut inflate: impl FnMut(&[u8], &mut Vec<u8>) -> usize,
    frames: &[Vec<u8>],
) {
    let mut out = Vec::new();
    for (frame, payload) in frames.iter().zip(payloads) {
        let len = inflate(frame, &mut out);
        assert_eq!(
            &out[..len],
            payload.as_slice(),
            "{name} inflated a payload wrong"
        );
    }
}

fn inflate(c: &mut Criterion) {
    let payloads: Vec<Vec<u8>> = mix(Order::Discord)
        .messages
        .into_iter()
        .map(|m| m.bytes)
        .collect();
    let raw: u64 = payloads.iter().map(|p| p.len() as u64).sum();
    let zlib = zlib_stream(&payloads);
    let zstd = zstd_stream(&payloads);
    let size = |frames: &[Vec<u8>]| frames.iter().map(|f| f.len() as u64).sum::<u64>();
    println!(
        "inflate corpus: {} payloads, {raw} bytes; zlib-stream (level 6) {} bytes ({:.1}%), \
         zstd-stream (level 3) {} bytes ({:.1}%)",
        payloads.len(),
        size(&zlib),
        100.0 * size(&zlib) as f64 / raw as f64,
        size(&zstd),
        100.0 * size(&zstd) as f64 / raw as f64
    );

    let mut state =
        miniz_oxide::inflate::stream::InflateState::new_boxed(miniz_oxide::DataFormat::Zlib);
    check(
        "miniz_oxide",
        &payloads,
        |f, o| inflate_miniz(&mut state, f, o),
        &zlib,
    );
    let mut ctx = Decompress::new(true);
    check(
        "flate2",
        &payloads,
        |f, o| inflate_flate2(&mut ctx, f, o),
        &zlib,
    );
    let mut ctx = zlib_rs::Inflate::new(true, 15);
    check(
        "zlib-rs",
        &payloads,
        |f, o| inflate_zlib_rs(&mut ctx, f, o),
        &zlib,
    );
    let mut dec = Decoder::new().expect("zstd");
    check(
        "zstd chunked",
        &payloads,
        |f, o| inflate_zstd_chunked(&mut dec, f, o),
        &zstd,
    );
    let mut dec = Decoder::new().expect("zstd");
    check(
        "zstd direct",
        &payloads,
        |f, o| inflate_zstd_direct(&mut dec, f, o),
        &zstd,
    );

    let mut group = c.benchmark_group("inflate/mix");
    group.throughput(Throughput::Bytes(raw));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("zlib-stream/miniz_oxide", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let mut state = miniz_oxide::inflate::stream::InflateState::new_boxed(
                miniz_oxide::DataFormat::Zlib,
            );
            for frame in &zlib {
                black_box(inflate_miniz(&mut state, black_box(frame), &mut out));
            }
        });
    });
    group.bench_function("zlib-stream/flate2-zlib-rs", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let mut ctx = Decompress::new(true);
            for frame in &zlib {
                black_box(inflate_flate2(&mut ctx, black_box(frame), &mut out));
            }
        });
    });
    group.bench_function("zlib-stream/zlib-rs", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let mut ctx = zlib_rs::Inflate::new(true, 15);
            for frame in &zlib {
                black_box(inflate_zlib_rs(&mut ctx, black_box(frame), &mut out));
            }
        });
    });
    group.bench_function("zstd-stream/libzstd-chunked", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let mut dec = Decoder::new().expect("zstd");
            for frame in &zstd {
                black_box(inflate_zstd_chunked(&mut dec, black_box(frame), &mut out));
            }
        });
    });
    group.bench_function("zstd-stream/libzstd-direct", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let mut dec = Decoder::new().expect("zstd");
            for frame in &zstd {
                black_box(inflate_zstd_direct(&mut dec, black_box(frame), &mut out));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, inflate);
criterion_main!(benches);
