//! The file session store: states keyed by the whole shard id, replaced atomically, cleared on
//! request, and a damaged file reported rather than resumed.

use std::path::PathBuf;

use discord_gateway_driver::discord_gateway::session::ResumeState;
use discord_gateway_driver::discord_gateway::ShardId;
use discord_gateway_driver::{ErrorChain, FileSessionStore, SessionStore};
use futures_util::FutureExt;

fn path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "discord-gateway-store-{name}-{}.json",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

fn state(session: &str, seq: u64) -> ResumeState {
    ResumeState {
        session_id: session.try_into().unwrap(),
        resume_gateway_url: "wss://resume.example".try_into().unwrap(),
        seq,
    }
}

/// Runs a store call: the file store does its work on the first poll.
fn ready<T>(
    future: discord_gateway_driver::StoreFuture<'_, T>,
) -> Result<T, discord_gateway_driver::StoreError> {
    future.now_or_never().expect("the file store never waits")
}

fn shard(id: u32, count: u32) -> ShardId {
    ShardId::new(id, count).unwrap()
}

#[test]
fn saves_loads_replaces_and_clears_by_shard() {
    let path = path("cycle");
    let store = FileSessionStore::new(&path);
    assert_eq!(ready(store.load(&[shard(0, 2)])).unwrap(), vec![None]);
    ready(store.save(&[(shard(0, 2), state("a", 5)), (shard(1, 2), state("b", 7))])).unwrap();
    ready(store.save(&[(shard(1, 2), state("b", 9))])).unwrap();
    let loaded = ready(store.load(&[shard(1, 2), shard(0, 4), shard(0, 2)])).unwrap();
    // Shard 0 of 4 is another shard than 0 of 2.
    assert_eq!(loaded, vec![Some(state("b", 9)), None, Some(state("a", 5))]);
    ready(store.clear(&[shard(0, 2)])).unwrap();
    let loaded = ready(store.load(&[shard(0, 2), shard(1, 2)])).unwrap();
    assert_eq!(loaded, vec![None, Some(state("b", 9))]);
    // A second store on the same file (the next process) reads what the first wrote.
    let next = FileSessionStore::new(&path);
    assert_eq!(
        ready(next.load(&[shard(1, 2)])).unwrap(),
        vec![Some(state("b", 9))]
    );
    let mut partial = path.clone().into_os_string();
    partial.push(".partial");
    assert!(
        !PathBuf::from(partial).exists(),
        "no temporary file is left"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_damaged_file_is_an_error_not_a_session() {
    let path = path("damaged");
    std::fs::write(&path, b"{\"version\":1,\"sessions\":{\"0/1\":").unwrap();
    let store = FileSessionStore::new(&path);
    let error = store
        .load(&[shard(0, 1)])
        .now_or_never()
        .unwrap()
        .unwrap_err();
    let text = ErrorChain(&error).to_string();
    assert!(text.contains("parsing the session file"), "{text}");
    std::fs::write(&path, b"{\"version\":2,\"sessions\":{}}").unwrap();
    let error = store
        .load(&[shard(0, 1)])
        .now_or_never()
        .unwrap()
        .unwrap_err();
    assert!(
        ErrorChain(&error).to_string().contains("version 2"),
        "{error}"
    );
    let _ = std::fs::remove_file(&path);
}
