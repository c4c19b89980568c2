//! `GET /gateway/bot` against the sim, on tokio: the answer parsed, 401, and 429s waited out.

use std::time::{Duration, Instant};

use discord_gateway_sim::Sim;
use discord_gateway_tokio::{Discovery, DiscoveryError, SessionStartLimit, Token, Tokio};

const TOKEN: &str = "discovery-token";

fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

fn api(sim: &Sim) -> Discovery {
    Discovery::new(&format!("{}/api/v10", sim.http_url()))
}

#[test]
fn reads_url_shards_and_session_start_limit() {
    let sim = Sim::builder()
        .token(TOKEN)
        .recommended_shards(24)
        .max_concurrency(16)
        .session_start_limit(2000, 1234)
        .session_start_reset_after(Duration::from_secs(3600))
        .start_blocking()
        .unwrap();
    let bot = run(api(&sim).gateway_bot(&Tokio, &Token::new(TOKEN).unwrap())).unwrap();
    assert_eq!(bot.url, sim.url());
    assert_eq!(bot.shards, 24);
    let SessionStartLimit {
        total,
        remaining,
        reset_after,
        max_concurrency,
    } = bot.session_start_limit;
    assert_eq!((total, remaining, max_concurrency), (2000, 1234, 16));
    assert!(
        reset_after <= Duration::from_secs(3600) && reset_after > Duration::from_secs(3590),
        "{reset_after:?}"
    );
}

#[test]
fn a_rejected_token_is_unauthorized_and_never_shown() {
    let sim = Sim::builder().token(TOKEN).start_blocking().unwrap();
    let wrong = "not-the-token-but-a-secret";
    let error = run(api(&sim).gateway_bot(&Tokio, &Token::new(wrong).unwrap())).unwrap_err();
    assert!(matches!(error, DiscoveryError::Unauthorized), "{error:?}");
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("401"), "{shown}");
    assert!(!shown.contains(wrong), "{shown}");
}

#[test]
fn rate_limits_are_waited_out_for_their_retry_after() {
    let sim = Sim::builder().token(TOKEN).start_blocking().unwrap();
    let retry_after = Duration::from_millis(150);
    sim.rate_limit_gateway_bot(2, retry_after);
    let started = Instant::now();
    let bot = run(api(&sim).gateway_bot(&Tokio, &Token::new(TOKEN).unwrap())).unwrap();
    let took = started.elapsed();
    assert_eq!(bot.shards, 1);
    let counters = sim.counters();
    assert_eq!(counters.http_rate_limited, 2);
    assert_eq!(counters.http_requests, 3);
    assert!(took >= retry_after * 2, "retried after {took:?}");
}

#[test]
fn rate_limits_past_the_retry_bound_are_an_error() {
    let sim = Sim::builder().token(TOKEN).start_blocking().unwrap();
    sim.rate_limit_gateway_bot(5, Duration::from_millis(20));
    let error = run(api(&sim)
        .rate_limit_retries(2)
        .gateway_bot(&Tokio, &Token::new(TOKEN).unwrap()))
    .unwrap_err();
    match error {
        DiscoveryError::RateLimited {
            attempts,
            retry_after,
        } => {
            assert_eq!(attempts, 3);
            assert_eq!(retry_after, Duration::from_millis(20));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.counters().http_rate_limited, 3);
}

#[test]
fn other_statuses_carry_discords_message() {
    let sim = Sim::builder().token(TOKEN).start_blocking().unwrap();
    let error = run(Discovery::new(&format!("{}/nope", sim.http_url()))
        .gateway_bot(&Tokio, &Token::new(TOKEN).unwrap()))
    .unwrap_err();
    match &error {
        DiscoveryError::Status { status, message } => {
            assert_eq!(*status, 404);
            assert_eq!(message.as_deref(), Some("404: Not Found"));
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("404"), "{error}");
}

/// Discovery over `https://` to an API whose certificate a private CA signed: refused under the
/// default roots, answered with the CA trusted through `Discovery::trust`.
#[test]
fn an_https_api_behind_a_private_ca_is_reached_with_its_ca_trusted() {
    let ca = discord_gateway_sim::TestCa::generate().unwrap();
    let sim = Sim::builder()
        .token(TOKEN)
        .recommended_shards(3)
        .tls(&ca)
        .start_blocking()
        .unwrap();
    assert!(sim.http_url().starts_with("https://"), "{}", sim.http_url());
    let token = Token::new(TOKEN).unwrap();
    let error = run(api(&sim).rate_limit_retries(0).gateway_bot(&Tokio, &token)).unwrap_err();
    assert!(matches!(error, DiscoveryError::Request(_)), "{error:?}");
    let trust = discord_gateway_tokio::Trust::roots_der([ca.ca_der()]).unwrap();
    let bot = run(api(&sim).trust(trust).gateway_bot(&Tokio, &token)).unwrap();
    assert_eq!((bot.url, bot.shards), (sim.url(), 3));
}
