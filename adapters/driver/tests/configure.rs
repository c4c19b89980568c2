//! A shard's session settings are the core's `ConfigBuilder`, all of them: one the driver
//! never names reaches the gateway through `ShardBuilder::configure`.

mod common;

use discord_gateway_driver::testing::TestRuntime;
use discord_gateway_driver::ShardEvent;

#[test]
fn a_core_setting_the_driver_never_names_reaches_identify() {
    let rt = TestRuntime::new();
    let mut shard = common::builder(&rt)
        .configure(|c| c.properties("plan9", "shape-test-lib").large_threshold(120))
        .build()
        .expect("a valid configuration");
    assert!(matches!(
        rt.poll(&mut shard)[..],
        [Ok(ShardEvent::Connected { resume: false })]
    ));
    let server = rt.accept().expect("the shard dialled");
    server.send_text(&common::hello());
    rt.poll(&mut shard);
    let sent = server.received_text();
    let identify = sent
        .iter()
        .find(|text| text.starts_with(r#"{"op":2,"#))
        .unwrap_or_else(|| panic!("no Identify in {sent:?}"));
    assert!(identify.contains(r#""os":"plan9""#), "{identify}");
    assert!(
        identify.contains(r#""browser":"shape-test-lib""#),
        "{identify}"
    );
    assert!(identify.contains(r#""large_threshold":120"#), "{identify}");
    // The URL the common builder set through the same closure is the one dialled.
    assert_eq!(shard.session().config().gateway_url(), "wss://gateway.test");
}
