#!/usr/bin/env python3
"""Writes the checked-in seed corpora under fuzz/seeds/<target>/.

Run from anywhere: python3 fuzz/seeds/make_seeds.py. Needs the `zstd` command for the
zstd-stream seeds. Sources: the repository's payload examples
(fixtures/payload-examples), the sim's fixtures, the payloads of core/tests/session.rs,
and session transcripts written as byte programs in the grammar of core/src/fuzzing/transcript.
"""

import json
import pathlib
import shutil
import struct
import subprocess
import zlib

FUZZ = pathlib.Path(__file__).resolve().parent.parent
ROOT = FUZZ.parent
FIXTURES = ROOT / "fixtures"
SEEDS = FUZZ / "seeds"

# Payloads the session scenario tests hand in (core/tests/session.rs).
TEST_PAYLOADS = [
    b'{"t":null,"s":null,"op":11,"d":null}',
    b'{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250,"_trace":["x"]}}',
    b'{"t":null,"s":null,"op":1,"d":null}',
    b'{"t":null,"s":null,"op":7,"d":null}',
    b'{"op":7,"d":null}',
    b'{"op":9,"d":false}',
    b'{"t":"MESSAGE_CREATE","op":0,"d":{"id":"no-seq"}}',
    b'{"t":"MESSAGE_CREATE","s":null,"op":0,"d":{"id":"null-seq"}}',
    b'{"t":"MESSAGE_CREATE","s":5,"op":0,"d":{"id":"5","nested":{"s":999,"op":7}}}',
    b'{"t":"RESUMED","s":5,"op":0,"d":{"_trace":["x"]}}',
    b'{"t":"TYPING_START","s":4,"op":0,"d":{ this is never read',
    b'{"t":"X","s":-3,"op":0,"d":{}}',
    b'{"s":3,"op":0,"d":{"a":[}',
    b'{"op":0,"op":0}',
    b'{"t":"READY","s":3,"op":0,"d":{"session_id":5}}',
    b'{"op":9,"d":"yes"}',
    b'{"op":10,"d":{"heartbeat_interval":0}}',
    b'{"\\u006fp":11,"d":null}',
]


def clean(target):
    path = SEEDS / target
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def json_payloads():
    """Every recorded payload, as bytes, with a short name."""
    found = []
    for directory in [FIXTURES / "payload-examples", ROOT / "sim" / "fixtures"]:
        for path in sorted(directory.glob("*.json")):
            found.append((f"{directory.name}-{path.stem}", path.read_bytes()))
    for index, payload in enumerate(TEST_PAYLOADS):
        found.append((f"session-test-{index:02}", payload))
    return found


def envelope_seeds():
    for target in ["envelope", "envelope_differential"]:
        out = clean(target)
        for name, payload in json_payloads():
            (out / name).write_bytes(payload)


def etf_term(value, atom_keys):
    """The ETF of a JSON value, as Discord's encoder writes it (atom keys) or a client must
    (binary keys): strings as binaries, null/true/false as atoms, integers in the smallest tag."""
    def atom(name):
        raw = name.encode()
        return bytes([119, len(raw)]) + raw if len(raw) < 256 else b"v" + struct.pack(">H", len(raw)) + raw

    def binary(text):
        raw = text.encode()
        return b"m" + struct.pack(">I", len(raw)) + raw

    if value is None:
        return atom("nil")
    if value is True or value is False:
        return atom("true" if value else "false")
    if isinstance(value, int):
        if 0 <= value < 256:
            return bytes([97, value])
        if -(2**31) <= value < 2**31:
            return b"b" + struct.pack(">i", value)
        magnitude = abs(value).to_bytes((abs(value).bit_length() + 7) // 8, "little")
        return bytes([110, len(magnitude), int(value < 0)]) + magnitude
    if isinstance(value, float):
        return b"F" + struct.pack(">d", value)
    if isinstance(value, str):
        return binary(value)
    if isinstance(value, list):
        if not value:
            return b"j"
        return b"l" + struct.pack(">I", len(value)) + b"".join(
            etf_term(v, atom_keys) for v in value) + b"j"
    return b"t" + struct.pack(">I", len(value)) + b"".join(
        (atom(k) if atom_keys else binary(k)) + etf_term(v, atom_keys) for k, v in value.items())


def etf_seeds():
    out = clean("etf")
    for name, payload in json_payloads():
        try:
            value = json.loads(payload)
        except ValueError:
            continue
        (out / name).write_bytes(b"\x83" + etf_term(value, atom_keys=True))
        (out / f"{name}-binary-keys").write_bytes(b"\x83" + etf_term(value, atom_keys=False))
    # The edges: the depth bound, bigs at and past 64 bits, legacy tags, an improper list.
    (out / "edge-depth-128").write_bytes(b"\x83" + b"l\x00\x00\x00\x01" * 128 + b"j" * 129)
    (out / "edge-depth-129").write_bytes(b"\x83" + b"l\x00\x00\x00\x01" * 129 + b"j" * 130)
    (out / "edge-bigs").write_bytes(
        b"\x83l\x00\x00\x00\x03" + bytes([110, 8, 0]) + b"\xff" * 8
        + bytes([110, 9, 1]) + b"\x00" * 8 + b"\x01" + bytes([111, 0, 0, 0, 2, 1, 1, 0]) + b"j")
    (out / "edge-legacy").write_bytes(
        b"\x83h\x04" + b"d\x00\x03nil" + b"s\x04true" + b"c" + b"1.50000000000000000000e+00".ljust(31, b"\x00")
        + b"k\x00\x02\x00\x01")
    (out / "edge-improper").write_bytes(b"\x83l\x00\x00\x00\x01a\x01a\x02")
    # A subnormal float, whose exact decimal view serde_json without `float_roundtrip` misreads.
    (out / "edge-subnormal-float").write_bytes(bytes.fromhex("834600010011000a66c1"))


def command_seeds():
    """Selector byte, then the fields (core/src/command/fuzzing.rs)."""
    import json

    out = clean("command_round_trip")
    for path in sorted((FIXTURES / "payload-examples").glob("send_*.json")):
        payload = json.loads(path.read_bytes())
        d = json.dumps(payload["d"], separators=(",", ":")).encode()
        (out / f"raw-{path.stem}").write_bytes(bytes([0, payload["op"]]) + d)
    text = lambda s: bytes([len(s)]) + s
    seeds = {
        "presence": bytes([1, 0]) + text(b"the gateway") + text(b"live") + text(b"stream")
        + bytes([3, 2, 2, 1]) + struct.pack("<Q", 1_700_000_000_000) + b"\x01",
        "members-query": bytes([2]) + struct.pack("<QH", 81384788765712384, 25)
        + text(b"fer") + text(b"nonce-1") + bytes(8 * 102) + bytes([0, 1, 0, 1]),
        "members-ids": bytes([2]) + struct.pack("<QH", 1, 0) + text(b"") + text(b"n")
        + b"".join(struct.pack("<Q", i + 1) for i in range(102)) + bytes([3, 0, 1, 1]),
        "heartbeat": bytes([3, 1]) + struct.pack("<Q", 251),
        "voice": bytes([4]) + struct.pack("<Q", 41771983423143937) + b"\x01"
        + struct.pack("<Q", 127121515262115840) + b"\x00\x01",
        "channel-info": bytes([5, 2]) + struct.pack("<Q", 41771983423143937),
        "identify": bytes([6]) + text(b"MTA4NTk4.GxYzAb.token") + text(b"linux")
        + text(b"discord-gateway") + text(b"discord-gateway") + struct.pack("<H", 4) + b"game"
        + bytes([0, 2]) + struct.pack("<II", 0, 1) + bytes([0, 1, 100, 1])
        + struct.pack("<Q", 38403),
        "resume": bytes([7]) + text(b"MTA4NTk4.GxYzAb.token") + struct.pack("<H", 32)
        + b"9d3e5ab2c8f14e6f9a7b0c1d2e3f4a5b" + struct.pack("<Q", 1337),
        "soundboard": bytes([8]) + struct.pack("<QQ", 613425648685547541, 1) + b"\x02",
    }
    for name, seed in seeds.items():
        (out / name).write_bytes(seed)


# ---- session transcripts: byte programs for core/src/fuzzing/transcript ------------------

# Setup: events (0 = all), backoff (0 = default), hello timeout (0 = 20 s), send window
# (0 = 60 s), unknown events (1 = passed through), seed, restore (1 = no).
SETUP = bytes([0, 0, 0, 0, 1, 42, 1])
SETUP_RESTORED = bytes([0, 0, 0, 0, 1, 42, 0, 0, 1])  # restores session "restored" at seq 7

TEXT = b"\x00"  # the last byte of a message step: a text frame
ENVELOPE = b"\x00\x00\x00"  # s/t null, Discord's key order, no spaces
DISPATCH_ENVELOPE = b"\x00\x00"


def hello(interval=0):
    return bytes([0, 0, interval, 2]) + ENVELOPE + TEXT


def ack():
    return bytes([0, 1]) + ENVELOPE + TEXT


def heartbeat_request():
    return bytes([0, 2]) + ENVELOPE + TEXT


def reconnect():
    return bytes([0, 3]) + ENVELOPE + TEXT


def invalid_session(resumable):
    return bytes([0, 4, 1 if resumable else 0]) + ENVELOPE + TEXT


def ready(session_id=0, url=0):
    """session_id 3 = too long, 4 = empty; url 4 = too long, 5 = absent (READY before 2022)."""
    return bytes([0, 5, session_id, url, 1]) + DISPATCH_ENVELOPE + TEXT


def resumed(seq=0):
    """seq 0 = the next number, 6 = a repeat of the last."""
    return bytes([0, 6, seq]) + DISPATCH_ENVELOPE + TEXT


def dispatch(name=0, seq=0):
    """name 0 = MESSAGE_CREATE; seq 0 = the next number, 6 = a repeat, 8 = a gap."""
    extra = b"\x03" if seq in (7, 8) else b""
    return bytes([0, 7, name, 0, seq]) + extra + DISPATCH_ENVELOPE + TEXT


def permit():
    return bytes([17])


def transport_lost():
    return bytes([16, 0])


def message_too_large():
    return bytes([16, 1])


def skipped(message):
    """The same message, too large for the transport: its head read from its first bytes."""
    return bytes([13]) + message[1:]


def advance(index):
    """0, 1 ms, 10 ms, 100 ms, 1 s, 5 s, 41.25 s, 60 s, 5 min."""
    return bytes([24, index])


def close_frame(index):
    return bytes([14, index])


def flood(count):
    return bytes([23, count]) + struct.pack("<Q", 41771983423143937)


def voice_command():
    return bytes([20]) + struct.pack("<Q", 41771983423143937) + b"\x01" + struct.pack("<Q", 7)


def start():
    return hello() + permit() + ready()


def session_seeds():
    out = clean("session_transcript")
    programs = {
        "identify-dispatch-heartbeat": SETUP + start() + dispatch() + dispatch(2)
        + advance(6) + ack() + dispatch() + advance(6) + ack(),
        "gap-and-repeat": SETUP + start() + dispatch() + dispatch(0, 8) + dispatch(0, 6)
        + dispatch(),
        "zombie-then-resume": SETUP + start() + dispatch() + advance(6) + advance(6)
        + hello() + dispatch() + dispatch() + resumed() + advance(6) + ack(),
        "restored-resume": SETUP_RESTORED + hello() + dispatch() + resumed() + heartbeat_request(),
        "reconnect-and-invalid-session": SETUP + start() + reconnect() + hello()
        + invalid_session(False) + advance(5) + hello() + permit() + ready(),
        "command-flood": SETUP + start() + voice_command() + flood(200) + advance(6) + ack()
        + flood(200) + advance(7) + ack() + flood(200),
        "close-codes": SETUP + start() + close_frame(5) + hello() + close_frame(8)
        + hello() + permit() + ready() + close_frame(10),
        "hello-timeout": SETUP + advance(7) + advance(7) + hello() + permit() + ready(),
        "ready-without-resume-url-then-stale-resumed": SETUP + hello() + permit() + ready(0, 5)
        + dispatch() + transport_lost() + hello() + resumed(6) + voice_command(),
        "ready-with-unusable-session-ids": SETUP + hello() + permit() + ready(4, 0) + dispatch()
        + transport_lost() + hello() + permit() + ready(3, 4) + voice_command()
        + transport_lost() + hello() + permit() + ready(),
        "message-too-large-thrice": SETUP + start() + dispatch() + message_too_large() + hello()
        + message_too_large() + advance(4) + hello() + message_too_large() + advance(8),
        "skipped-dispatches-and-ready": SETUP + start() + skipped(dispatch())
        + skipped(dispatch(0, 8)) + dispatch() + transport_lost() + advance(5) + hello()
        + skipped(dispatch()) + skipped(resumed()) + skipped(dispatch(2))
        + invalid_session(False) + advance(5) + hello() + permit() + skipped(ready()),
    }
    for name, program in programs.items():
        (out / name).write_bytes(program)


# ---- compressed streams: limit byte, then (u16 length, message)* -------------------------


def frame(messages, limit_index):
    body = bytes([limit_index])
    for message in messages:
        body += struct.pack("<H", len(message)) + message
    return body


def compressed_seeds():
    payloads = [payload for _, payload in json_payloads()][:12]
    out = clean("zlib_stream")
    for limit in range(6):
        stream = zlib.compressobj()
        messages = [stream.compress(p) + stream.flush(zlib.Z_SYNC_FLUSH) for p in payloads]
        (out / f"zlib-limit-{limit}").write_bytes(frame(messages, limit))
    # One payload split across two messages, the suffix cut in half.
    stream = zlib.compressobj()
    whole = stream.compress(payloads[0]) + stream.flush(zlib.Z_SYNC_FLUSH)
    (out / "zlib-split").write_bytes(frame([whole[:-2], whole[-2:]], 5))

    out = clean("zstd_stream")
    for index, payload in enumerate(payloads[:6]):
        single = subprocess.run(["zstd", "-q", "-c", "-3"], input=payload, capture_output=True,
                                check=True).stdout
        whole = subprocess.run(["zstd", "-q", "-c", "-3"], input=b"".join(payloads),
                               capture_output=True, check=True).stdout
        third = len(whole) // 3
        (out / f"zstd-frame-{index}").write_bytes(frame([single, single], index))
        (out / f"zstd-split-{index}").write_bytes(
            frame([whole[:third], whole[third:2 * third], whole[2 * third:]], index))


def prefix_head_seeds():
    """JSON and ETF envelopes, in Discord's key order and with `d` first."""
    out = clean("prefix_head")
    for name, payload in json_payloads():
        if len(payload) > 4096:
            continue
        (out / name).write_bytes(payload)
        try:
            value = json.loads(payload)
        except ValueError:
            continue
        if not isinstance(value, dict):
            continue
        (out / f"{name}-etf").write_bytes(b"\x83" + etf_term(value, atom_keys=True))
        if "d" in value:
            data_first = {"d": value["d"], **{k: v for k, v in value.items() if k != "d"}}
            (out / f"{name}-data-first").write_bytes(json.dumps(data_first).encode())
            (out / f"{name}-data-first-etf").write_bytes(
                b"\x83" + etf_term(data_first, atom_keys=True))


if __name__ == "__main__":
    prefix_head_seeds()
    envelope_seeds()
    command_seeds()
    session_seeds()
    compressed_seeds()
    etf_seeds()
