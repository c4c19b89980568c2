//! The adapter suite (`adapters/suite`) against the sim, on smol.

#[path = "../../suite/mod.rs"]
mod suite;

fn run<F: std::future::Future>(future: F) -> F::Output {
    smol::block_on(future)
}

suite_tests!(discord_gateway_smol::Smol, run);
