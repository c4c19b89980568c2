//! One dispatch as one line of JSON.

use std::io::{self, Write};

use discord_gateway::codec::etf;
use discord_gateway::Encoding;
use discord_gateway_tokio::Dispatch;

/// Writes `{"shard":N,"seq":S,"t":"NAME","d":...}` and a newline, with a JSON `d` passed through
/// byte for byte (so what Discord sent is exactly what `jq` sees), and an ETF `d` transcoded to
/// JSON (see `discord_gateway::codec::etf::to_json` for what it chooses where ETF and JSON
/// differ: snowflakes Discord sends over ETF as integers print as the strings JSON has).
pub(crate) fn write_line(out: &mut impl Write, shard: u32, dispatch: &Dispatch) -> io::Result<()> {
    write_fields(
        out,
        shard,
        dispatch.seq(),
        dispatch.name(),
        dispatch.encoding(),
        dispatch.data(),
    )
}

/// [`write_line`] from the dispatch's parts: `name` as [`Dispatch::name`] gives it (JSON string
/// content as received, or on ETF the atom's or binary's text) and `data` as [`Dispatch::data`].
fn write_fields(
    out: &mut impl Write,
    shard: u32,
    seq: Option<u64>,
    name: &str,
    encoding: Encoding,
    data: &[u8],
) -> io::Result<()> {
    write!(out, "{{\"shard\":{shard},\"seq\":")?;
    match seq {
        Some(seq) => write!(out, "{seq}")?,
        None => out.write_all(b"null")?,
    }
    out.write_all(b",\"t\":")?;
    match encoding {
        // The name as it arrived between its quotes, escapes and all: valid string content.
        Encoding::Json => write!(out, "\"{name}\"")?,
        // ETF carries the text itself, which may hold `"` or `\`: escaped as serde_json does,
        // which for the names Discord sends is the same bytes as their JSON.
        Encoding::Etf => serde_json::to_writer(&mut *out, name)?,
    }
    out.write_all(b",\"d\":")?;
    match encoding {
        Encoding::Json => out.write_all(data)?,
        Encoding::Etf => {
            let mut text = String::with_capacity(data.len() * 2);
            etf::to_json(data, &mut text)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
            out.write_all(text.as_bytes())?;
        }
    }
    out.write_all(b"}\n")
}

#[cfg(test)]
mod tests {
    use discord_gateway::codec::Envelope;
    use discord_gateway::Encoding;
    use serde_json::Value;

    use super::write_fields;

    /// The NDJSON line of one whole payload, in the encoding it is in.
    fn line(payload: &[u8], encoding: Encoding) -> String {
        let envelope = match encoding {
            Encoding::Json => Envelope::decode(payload),
            Encoding::Etf => Envelope::decode_etf(payload),
        }
        .unwrap();
        let name = envelope.name().map_or("", |name| name.raw());
        let mut out = Vec::new();
        write_fields(
            &mut out,
            3,
            envelope.seq(),
            name,
            encoding,
            envelope.data().unwrap_or(encoding.null()),
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Issue 23: the captured payloads, transcoded to ETF as Discord sends them (snowflakes as
    /// integers, through the sim's encoder), print byte for byte the line their JSON prints.
    #[test]
    fn etf_prints_the_ndjson_its_json_prints_byte_for_byte() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
        let mut paths: Vec<_> = ["captured", "payload-examples"]
            .iter()
            .flat_map(|dir| std::fs::read_dir(fixtures.join(dir)).unwrap())
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        let mut dispatches = 0;
        let mut snowflakes = 0;
        for path in paths {
            let value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            if value["op"] != 0 || value.get("d").is_none() {
                continue;
            }
            // As Discord writes JSON: compact, non-ASCII text as is.
            let json = serde_json::to_string(&value).unwrap();
            let etf = discord_gateway_sim::etf::from_json(&json).unwrap();
            // The ETF really carries snowflakes as integers past 2^53 (SMALL_BIG_EXT, 8 bytes).
            snowflakes += etf.windows(3).filter(|w| w == &[110, 8, 0]).count();
            let expected = line(json.as_bytes(), Encoding::Json);
            assert_eq!(line(&etf, Encoding::Etf), expected, "{}", path.display());
            let parsed: Value = serde_json::from_str(&expected).unwrap();
            assert_eq!(parsed["d"], value["d"]);
            dispatches += 1;
        }
        assert!(dispatches >= 10, "{dispatches}");
        assert!(snowflakes >= 10, "{snowflakes}");
    }

    /// Issue 22 item 11b: an ETF event name is text, not JSON string content: a `"` or `\` in it
    /// is escaped, so the line stays JSON and carries the name.
    #[test]
    fn an_etf_event_name_with_quotes_and_backslashes_is_escaped() {
        let name = "ODD\"NAME\\X\u{1}";
        let json = serde_json::json!({"op": 0, "s": 7, "t": name, "d": {"id": "1"}}).to_string();
        let etf = discord_gateway_sim::etf::from_json(&json).unwrap();
        let printed = line(&etf, Encoding::Etf);
        let parsed: Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(parsed["t"], name);
        assert_eq!(parsed["seq"], 7);
        // The same bytes as the JSON encoding's line, whose name arrives escaped.
        assert_eq!(printed, line(json.as_bytes(), Encoding::Json));
    }
}
