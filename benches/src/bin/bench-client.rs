//! One gateway client under measurement, started by the `e2e` and `memory` benchmarks:
//!
//! ```text
//! bench-client stream CLIENT COMPRESSION URL COUNT   # prints `ready`, then a `result` line
//! bench-client idle CLIENT COMPRESSION URL SHARDS    # prints an `idle` line
//! bench-client managed URL SHARDS MAX_CONCURRENCY WINDOW_MS   # prints a `managed` line
//! bench-client twilight-compression                  # what this build's twilight negotiates
//! ```
//!
//! CLIENT is `ours-tokio`, `ours-smol`, `twilight-raw` or `twilight-event`; COMPRESSION is
//! `none`, `zlib-stream` or `zstd-stream` (twilight's is fixed when it is compiled).
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use discord_gateway_benches::alloc::CountingAlloc;
use discord_gateway_benches::clients::{self, Client, Compress, TWILIGHT_COMPRESSION};
use discord_gateway_benches::measure::raise_fd_limit;
use discord_gateway_benches::scale;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["twilight-compression"] => println!("{TWILIGHT_COMPRESSION}"),
        ["managed", url, shards, max_concurrency, window_ms] => {
            let (Ok(shards), Ok(max_concurrency), Ok(window_ms)) = (
                shards.parse::<u32>(),
                max_concurrency.parse::<u32>(),
                window_ms.parse::<u64>(),
            ) else {
                eprintln!("bench-client: bad arguments {args:?}");
                return ExitCode::from(2);
            };
            raise_fd_limit();
            let window = std::time::Duration::from_millis(window_ms);
            println!(
                "{}",
                scale::managed(url, shards, max_concurrency, window).to_line()
            );
        }
        [mode @ ("stream" | "idle"), client, compress, url, n] => {
            let (Ok(client), Ok(compress), Ok(n)) = (
                client.parse::<Client>(),
                compress.parse::<Compress>(),
                n.parse::<u64>(),
            ) else {
                eprintln!("bench-client: bad arguments {args:?}");
                return ExitCode::from(2);
            };
            raise_fd_limit();
            if *mode == "stream" {
                println!("{}", clients::stream(client, compress, url, n).to_line());
            } else {
                let shards = u32::try_from(n).unwrap_or(u32::MAX);
                println!("{}", clients::idle(client, compress, url, shards).to_line());
            }
        }
        _ => {
            eprintln!(
                "usage: bench-client stream|idle CLIENT COMPRESSION URL N | managed URL SHARDS MAX_CONCURRENCY WINDOW_MS | twilight-compression"
            );
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
