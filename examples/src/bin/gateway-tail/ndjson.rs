//! One dispatch as one line of JSON.

use std::io::{self, Write};

use discord_gateway::codec::etf;
use discord_gateway::Encoding;
use discord_gateway_tokio::Dispatch;

/// Writes `{"shard":N,"seq":S,"t":"NAME","d":...}` and a newline, with a JSON `d` passed through
/// byte for byte (so what Discord sent is exactly what `jq` sees), and an ETF `d` transcoded to
/// JSON (see `discord_gateway::codec::etf::to_json` for what it chooses where ETF and JSON
/// differ).
pub(crate) fn write_line(out: &mut impl Write, shard: u32, dispatch: &Dispatch) -> io::Result<()> {
    write!(out, "{{\"shard\":{shard},\"seq\":")?;
    match dispatch.seq() {
        Some(seq) => write!(out, "{seq}")?,
        None => out.write_all(b"null")?,
    }
    // The name is written as it arrived, escapes and all, so it is valid JSON string content.
    write!(out, ",\"t\":\"{}\",\"d\":", dispatch.name())?;
    match dispatch.encoding() {
        Encoding::Json => out.write_all(dispatch.data())?,
        Encoding::Etf => {
            let mut text = String::with_capacity(dispatch.data().len() * 2);
            etf::to_json(dispatch.data(), &mut text)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
            out.write_all(text.as_bytes())?;
        }
    }
    out.write_all(b"}\n")
}
