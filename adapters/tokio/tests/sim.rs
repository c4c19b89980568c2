//! The adapter suite (`adapters/suite`) against the sim, on tokio.

#[path = "../../suite/mod.rs"]
mod suite;

fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

suite_tests!(discord_gateway_tokio::Tokio, run);

/// The shard's future can be handed to `tokio::spawn` on a multi-threaded runtime.
#[test]
fn next_event_can_be_spawned() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sim = suite::sim();
    let mut shard = suite::builder::<discord_gateway_tokio::Tokio>(&sim)
        .build()
        .unwrap();
    let task = runtime.spawn(async move {
        loop {
            match shard.next_event().await {
                Some(Ok(discord_gateway_tokio::ShardEvent::Session(
                    discord_gateway_tokio::SessionEvent::Ready,
                    _,
                ))) => return shard.session().session_id().unwrap_or_default().to_owned(),
                Some(Ok(_)) => {}
                other => panic!("{other:?}"),
            }
        }
    });
    let session = runtime
        .block_on(async { tokio::time::timeout(suite::WAIT, task).await })
        .expect("READY in time")
        .expect("the task");
    assert_eq!(session.len(), 32);
}
