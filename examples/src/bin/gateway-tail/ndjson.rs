//! One dispatch as one line of JSON.

use std::io::{self, Write};

use discord_gateway_tokio::Dispatch;

/// Writes `{"shard":N,"seq":S,"t":"NAME","d":...}` and a newline, with `d` passed through byte
/// for byte (so what Discord sent is exactly what `jq` sees).
pub(crate) fn write_line(out: &mut impl Write, shard: u32, dispatch: &Dispatch) -> io::Result<()> {
    write!(out, "{{\"shard\":{shard},\"seq\":")?;
    match dispatch.seq() {
        Some(seq) => write!(out, "{seq}")?,
        None => out.write_all(b"null")?,
    }
    // The name is written as it arrived, escapes and all, so it is valid JSON string content.
    write!(out, ",\"t\":\"{}\",\"d\":", dispatch.name())?;
    out.write_all(dispatch.data())?;
    out.write_all(b"}\n")
}
