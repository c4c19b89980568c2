//! The file session store: states keyed by the whole shard id, replaced atomically, cleared on
//! request, taken in one step, and a damaged entry or file never resumed nor fatal.

use std::path::PathBuf;

use discord_gateway_driver::discord_gateway::session::ResumeState;
use discord_gateway_driver::discord_gateway::{ShardId, Token};
use discord_gateway_driver::{
    ErrorChain, FileSessionStore, SealedSession, SessionSeal, SessionStore,
};
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

fn sealed(shard: ShardId, session: &str, seq: u64) -> SealedSession {
    seal().seal(shard, &state(session, seq))
}

fn seal() -> SessionSeal {
    SessionSeal::new(&Token::new("file-store-token").unwrap())
}

/// What a loaded entry opens to, for the shard it was loaded for.
fn opened(shard: ShardId, loaded: &Option<SealedSession>) -> Option<ResumeState> {
    loaded.as_ref().map(|sealed| {
        seal()
            .open(shard, sealed)
            .expect("a session this test sealed")
    })
}

#[test]
fn saves_loads_replaces_and_clears_by_shard() {
    let path = path("cycle");
    let store = FileSessionStore::new(&path);
    assert_eq!(ready(store.load(&[shard(0, 2)])).unwrap(), vec![None]);
    ready(store.save(&[
        (shard(0, 2), sealed(shard(0, 2), "a", 5)),
        (shard(1, 2), sealed(shard(1, 2), "b", 7)),
    ]))
    .unwrap();
    ready(store.save(&[(shard(1, 2), sealed(shard(1, 2), "b", 9))])).unwrap();
    let wanted = [shard(1, 2), shard(0, 4), shard(0, 2)];
    let loaded = ready(store.load(&wanted)).unwrap();
    // Shard 0 of 4 is another shard than 0 of 2.
    let loaded: Vec<_> = wanted
        .iter()
        .zip(&loaded)
        .map(|(s, l)| opened(*s, l))
        .collect();
    assert_eq!(loaded, vec![Some(state("b", 9)), None, Some(state("a", 5))]);
    ready(store.clear(&[shard(0, 2)])).unwrap();
    let loaded = ready(store.load(&[shard(0, 2), shard(1, 2)])).unwrap();
    assert_eq!(loaded[0], None);
    assert_eq!(opened(shard(1, 2), &loaded[1]), Some(state("b", 9)));
    // A second store on the same file (the next process) reads what the first wrote.
    let next = FileSessionStore::new(&path);
    let loaded = ready(next.load(&[shard(1, 2)])).unwrap();
    assert_eq!(opened(shard(1, 2), &loaded[0]), Some(state("b", 9)));
    let mut partial = path.clone().into_os_string();
    partial.push(".partial");
    assert!(
        !PathBuf::from(partial).exists(),
        "no temporary file is left"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn take_returns_and_removes_in_one_step() {
    let path = path("take");
    let store = FileSessionStore::new(&path);
    assert_eq!(ready(store.take(&[shard(0, 2)])).unwrap(), vec![None]);
    assert!(!path.exists(), "taking nothing writes nothing");
    ready(store.save(&[
        (shard(0, 2), sealed(shard(0, 2), "a", 5)),
        (shard(1, 2), sealed(shard(1, 2), "b", 7)),
    ]))
    .unwrap();
    let taken = ready(store.take(&[shard(0, 2)])).unwrap();
    assert_eq!(opened(shard(0, 2), &taken[0]), Some(state("a", 5)));
    assert_eq!(ready(store.take(&[shard(0, 2)])).unwrap(), vec![None]);
    let left = ready(store.load(&[shard(1, 2)])).unwrap();
    assert_eq!(opened(shard(1, 2), &left[0]), Some(state("b", 7)));
    let _ = std::fs::remove_file(&path);
}

#[test]
fn one_bad_entry_spoils_only_itself_and_a_damaged_file_is_read_as_empty() {
    let path = path("damaged");
    let good = sealed(shard(0, 3), "a", 5);
    let text = format!(
        r#"{{"version":2,"sessions":{{"0/3":{},"1/3":"garbage","2/3":{{"state":1}}}}}}"#,
        good.as_str()
    );
    std::fs::write(&path, text).unwrap();
    let store = FileSessionStore::new(&path);
    let loaded = ready(store.load(&[shard(0, 3), shard(1, 3), shard(2, 3)])).unwrap();
    assert_eq!(opened(shard(0, 3), &loaded[0]), Some(state("a", 5)));
    for (id, entry) in [(1, &loaded[1]), (2, &loaded[2])] {
        let entry = entry
            .as_ref()
            .expect("the entry is returned, for the seal to refuse");
        assert!(seal().open(shard(id, 3), entry).is_err());
    }
    // Truncated: no session, no error (every shard identifies), and the next save mends it.
    std::fs::write(&path, b"{\"version\":2,\"sessions\":{\"0/1\":").unwrap();
    assert_eq!(ready(store.load(&[shard(0, 1)])).unwrap(), vec![None]);
    ready(store.save(&[(shard(0, 1), sealed(shard(0, 1), "c", 1))])).unwrap();
    let loaded = ready(store.load(&[shard(0, 1)])).unwrap();
    assert_eq!(opened(shard(0, 1), &loaded[0]), Some(state("c", 1)));
    // The layout before sessions were sealed: bare states, never resumed.
    std::fs::write(
        &path,
        br#"{"version":1,"sessions":{"0/1":{"session_id":"x","resume_gateway_url":"ws://planted.example","seq":1}}}"#,
    )
    .unwrap();
    assert_eq!(ready(store.load(&[shard(0, 1)])).unwrap(), vec![None]);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn an_unreadable_file_is_an_error() {
    let path =
        std::env::temp_dir().join(format!("discord-gateway-store-dir-{}", std::process::id()));
    std::fs::create_dir_all(&path).unwrap();
    // A folder where the file should be: it cannot be read, which is not "no sessions".
    let store = FileSessionStore::new(&path);
    let error = ready(store.load(&[shard(0, 1)])).unwrap_err();
    assert!(
        ErrorChain(&error)
            .to_string()
            .contains("reading the session file"),
        "{error}"
    );
    let _ = std::fs::remove_dir(&path);
}
