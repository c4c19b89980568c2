//! The shard's metrics, read back from an in-memory recorder (run with `--features metrics`).

#![cfg(feature = "metrics")]

mod common;

use common::{ack, message, Scene};
use discord_gateway_driver::discord_gateway::command::{
    Activity, ActivityType, Status, UpdatePresence,
};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use discord_gateway_driver::metrics::names;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};

/// A recorder that keeps every value where the test can read it without draining it.
#[derive(Clone)]
struct Store(Arc<Registry<Key, AtomicStorage>>);

impl Recorder for Store {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.0
            .get_or_create_counter(key, |c| Counter::from_arc(Arc::clone(c)))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.0
            .get_or_create_gauge(key, |g| Gauge::from_arc(Arc::clone(g)))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.0
            .get_or_create_histogram(key, |h| Histogram::from_arc(Arc::clone(h)))
    }
}

impl Store {
    fn new() -> Self {
        Self(Arc::new(Registry::atomic()))
    }

    fn key(name: &str, labels: &[(&str, &str)]) -> Key {
        let labels: Vec<metrics::Label> = labels
            .iter()
            .map(|(k, v)| metrics::Label::new(k.to_string(), v.to_string()))
            .collect();
        Key::from_parts(name.to_owned(), labels)
    }

    /// The value of `name` with exactly these labels, if recorded.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let key = Self::key(name, labels);
        if let Some(counter) = self.0.get_counter(&key) {
            return Some(counter.load(Ordering::Relaxed) as f64);
        }
        self.0
            .get_gauge(&key)
            .map(|gauge| f64::from_bits(gauge.load(Ordering::Relaxed)))
    }

    /// How many label sets counter `name` was recorded with.
    fn counter_series(&self, name: &str) -> usize {
        self.0
            .get_counter_handles()
            .keys()
            .filter(|key| key.name() == name)
            .count()
    }
}

#[test]
fn a_shard_counts_events_bytes_commands_and_reconnects_and_tracks_its_state() {
    let store = Store::new();
    metrics::with_local_recorder(&store, || {
        let shard = [("shard", "0")];
        let mut scene = Scene::new(|b| b);
        scene.connect_and_ready();
        assert_eq!(store.value(names::SHARD_UP, &shard), Some(1.0));
        assert_eq!(
            store.value(names::SHARD_STATE, &[("shard", "0"), ("state", "live")]),
            Some(1.0)
        );
        assert_eq!(
            store.value(
                names::SHARD_STATE,
                &[("shard", "0"), ("state", "identifying")]
            ),
            Some(0.0)
        );
        scene.gateway_says(&message(2));
        scene.gateway_says(&message(3));
        // A hostile gateway's made-up names all count as `other`.
        for (seq, name) in ["EVIL_1", "EVIL_2", "EVIL_3"].iter().enumerate() {
            scene.gateway_says(&format!(
                r#"{{"t":"{name}","s":{},"op":0,"d":{{}}}}"#,
                seq + 4
            ));
        }
        let event = |name| store.value(names::EVENTS, &[("shard", "0"), ("event", name)]);
        assert_eq!(event("READY"), Some(1.0));
        assert_eq!(event("MESSAGE_CREATE"), Some(2.0));
        assert_eq!(event("other"), Some(3.0));
        assert_eq!(store.counter_series(names::EVENTS), 3);
        let wire = store.value(names::BYTES_RECEIVED, &shard).expect("counted");
        assert!(wire > 200.0, "{wire}");

        let activities = [Activity::new(ActivityType::Playing, "tests")];
        let presence = UpdatePresence::new(Status::Online, &activities);
        scene.shard.send(&presence).expect("a valid command");
        scene.poll();
        assert_eq!(store.value(names::COMMANDS_SENT, &shard), Some(1.0));
        assert_eq!(store.value(names::COMMAND_QUEUE_DEPTH, &shard), Some(0.0));

        // A heartbeat and its ACK: the latency gauge.
        scene.wait();
        scene.rt.advance(std::time::Duration::from_millis(250));
        scene.gateway_says(ack());
        assert_eq!(store.value(names::HEARTBEAT_LATENCY, &shard), Some(0.25));

        // Op 7: the shard is down until it resumes, and the reconnect says why.
        scene.gateway_says(r#"{"t":null,"s":null,"op":7,"d":null}"#);
        assert_eq!(store.value(names::SHARD_UP, &shard), Some(0.0));
        assert_eq!(
            store.value(
                names::RECONNECTS,
                &[("shard", "0"), ("cause", "op7_reconnect")]
            ),
            Some(1.0)
        );
    });
}

#[test]
fn a_refused_dial_is_counted_by_its_cause_and_the_identify_queue_reports_its_line() {
    let store = Store::new();
    metrics::with_local_recorder(&store, || {
        let mut scene = Scene::new(|b| b);
        scene.rt.refuse_dials(2);
        scene.poll();
        scene.wait();
        assert_eq!(
            store.value(
                names::RECONNECTS,
                &[("shard", "0"), ("cause", "dial_refused")]
            ),
            Some(2.0)
        );
        assert_eq!(
            store.value(
                names::SHARD_STATE,
                &[("shard", "0"), ("state", "connecting")]
            ),
            Some(0.0)
        );
        while scene.server.is_none() {
            scene.wait();
        }
        scene.poll();
        scene.gateway_says(&common::hello());
        // The shard took its permit at once: nobody waits.
        assert_eq!(store.value(names::IDENTIFY_WAITING, &[]), Some(0.0));
    });
}
