//! Every example, run to its end against the simulated gateway it starts without a token. The
//! sim's script (`examples/examples/common`) includes a message whose `content` Discord would
//! escape (a quote, a backslash, a newline), which an example reading `content` as a borrowed
//! `&str` fails on.

// The examples are programs: their `main` is `pub` for this file, they print, and each one
// brings its own copy of `examples/common` (as it does when built alone).
#![allow(
    unreachable_pub,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::duplicate_mod
)]

#[path = "../examples/manual_loop.rs"]
mod manual_loop;
#[path = "../examples/multi_shard.rs"]
mod multi_shard;
#[path = "../examples/smol_bot.rs"]
mod smol_bot;
#[path = "../examples/tokio_bot.rs"]
mod tokio_bot;

type Main = fn() -> Result<(), Box<dyn std::error::Error>>;

/// Runs an example's `main` against the sim: only without `DISCORD_TOKEN`, which would point
/// it at Discord.
fn run(name: &str, main: Main) {
    if std::env::var_os("DISCORD_TOKEN").is_some() {
        eprintln!("{name}: not run, DISCORD_TOKEN is set (the examples would connect to Discord)");
        return;
    }
    if let Err(error) = main() {
        panic!("{name} failed against the sim: {error}");
    }
}

#[test]
fn tokio_bot_answers_commands_and_reads_escaped_messages() {
    run("tokio_bot", tokio_bot::main);
}

#[test]
fn multi_shard_runs_a_shard_manager_and_closes_resumably() {
    run("multi_shard", multi_shard::main);
}

#[test]
fn smol_bot_reads_every_message() {
    run("smol_bot", smol_bot::main);
}

#[test]
fn manual_loop_drives_the_core_by_hand() {
    run("manual_loop", manual_loop::main);
}
