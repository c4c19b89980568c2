//! Scenarios: a sequence of steps (dispatch, fault, sleep, wait for the client to do something)
//! run on the sim's thread, with a handle that tells when the script has finished.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::block_on::block_on;
use crate::error::SimError;
use crate::fault::{Fault, Target};
use crate::record::Counters;
use crate::sim::SimHandle;
use crate::state::lock;

type Pred = Box<dyn FnMut(&Counters, &Counters) -> bool + Send>;

enum Step {
    Dispatch {
        target: Target,
        t: String,
        d: String,
    },
    Message(String),
    GuildCreate(usize),
    TypingStart,
    PresenceUpdate,
    InteractionCreate,
    Fault(Target, Fault),
    Stream(Target, u64),
    Sleep(Duration),
    Wait {
        label: String,
        pred: Pred,
        timeout: Option<Duration>,
    },
}

/// A scripted session: build it step by step, then [`SimHandle::run_script`].
///
/// Waits compare the counters at the start of the step with the current ones, so
/// `wait_resumed()` means "one more successful Resume than when this step began".
#[must_use]
pub struct Script {
    steps: Vec<Step>,
    step_timeout: Duration,
}

impl Default for Script {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Script {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Script")
            .field("steps", &self.steps.len())
            .finish_non_exhaustive()
    }
}

impl Script {
    /// An empty script; waits time out after 10 s unless [`Script::step_timeout`] says otherwise.
    pub fn new() -> Self {
        Self {
            steps: Vec::new(),
            step_timeout: Duration::from_secs(10),
        }
    }

    /// Default timeout of wait steps.
    pub fn step_timeout(mut self, timeout: Duration) -> Self {
        self.step_timeout = timeout;
        self
    }

    /// Dispatches `(t, d)` to `target`.
    pub fn dispatch(mut self, target: Target, t: &str, d: &serde_json::Value) -> Self {
        self.steps.push(Step::Dispatch {
            target,
            t: t.to_owned(),
            d: d.to_string(),
        });
        self
    }

    /// A MESSAGE_CREATE with this content (see [`SimHandle::message_create`]).
    pub fn message(mut self, content: &str) -> Self {
        self.steps.push(Step::Message(content.to_owned()));
        self
    }

    /// A GUILD_CREATE with `members` members.
    pub fn guild_create(mut self, members: usize) -> Self {
        self.steps.push(Step::GuildCreate(members));
        self
    }

    /// A TYPING_START.
    pub fn typing_start(mut self) -> Self {
        self.steps.push(Step::TypingStart);
        self
    }

    /// A PRESENCE_UPDATE.
    pub fn presence_update(mut self) -> Self {
        self.steps.push(Step::PresenceUpdate);
        self
    }

    /// An INTERACTION_CREATE.
    pub fn interaction_create(mut self) -> Self {
        self.steps.push(Step::InteractionCreate);
        self
    }

    /// Applies a fault to every open connection.
    pub fn fault(self, fault: Fault) -> Self {
        self.fault_to(Target::All, fault)
    }

    /// Applies a fault to `target`.
    pub fn fault_to(mut self, target: Target, fault: Fault) -> Self {
        self.steps.push(Step::Fault(target, fault));
        self
    }

    /// Streams `count` MESSAGE_CREATE to `target` (throughput mode).
    pub fn stream(mut self, target: Target, count: u64) -> Self {
        self.steps.push(Step::Stream(target, count));
        self
    }

    /// Pauses the script.
    pub fn sleep(mut self, duration: Duration) -> Self {
        self.steps.push(Step::Sleep(duration));
        self
    }

    /// Waits until `pred(counters_at_step_start, counters_now)` holds.
    pub fn wait_for(
        mut self,
        label: &str,
        pred: impl FnMut(&Counters, &Counters) -> bool + Send + 'static,
    ) -> Self {
        self.steps.push(Step::Wait {
            label: label.to_owned(),
            pred: Box::new(pred),
            timeout: None,
        });
        self
    }

    /// Like [`Script::wait_for`] with its own timeout.
    pub fn wait_for_within(
        mut self,
        label: &str,
        timeout: Duration,
        pred: impl FnMut(&Counters, &Counters) -> bool + Send + 'static,
    ) -> Self {
        self.steps.push(Step::Wait {
            label: label.to_owned(),
            pred: Box::new(pred),
            timeout: Some(timeout),
        });
        self
    }

    /// Waits for one more READY (a new session) than when the step started.
    pub fn wait_ready(self) -> Self {
        self.wait_for("a new session (READY)", |start, now| {
            now.readies > start.readies
        })
    }

    /// Waits for one more successful Resume than when the step started.
    pub fn wait_resumed(self) -> Self {
        self.wait_for("a successful Resume", |start, now| {
            now.resumed > start.resumed
        })
    }

    /// Waits until at least `n` connections are open.
    pub fn wait_connections(self, n: u64) -> Self {
        self.wait_for("open connections", move |_, now| now.open_connections >= n)
    }

    /// The offline demo: READY and GUILD_CREATE (sent by the sim on Identify), a few events, a
    /// forced reconnect that must be resumed, an invalid session that must be re-identified,
    /// more events, then the end. Invalid-session recovery waits up to 15 s, since clients wait
    /// 1-5 s before identifying again.
    pub fn demo() -> Self {
        Self::new()
            .wait_ready()
            .sleep(Duration::from_millis(200))
            .message("hello from the offline gateway")
            .typing_start()
            .message("this session is scripted by discord-gateway-sim")
            .presence_update()
            .sleep(Duration::from_millis(200))
            .fault(Fault::Reconnect)
            .wait_resumed()
            .message("resumed: nothing was lost")
            .sleep(Duration::from_millis(200))
            .fault(Fault::InvalidSession(false))
            .wait_for_within(
                "a new session after op 9",
                Duration::from_secs(15),
                |s, n| n.readies > s.readies,
            )
            .message("identified again after an invalid session")
            .interaction_create()
            .sleep(Duration::from_millis(200))
    }
}

#[derive(Debug, Default)]
struct Progress {
    steps_done: usize,
    result: Option<Result<(), String>>,
}

/// Tracks a running script.
#[derive(Clone, Debug)]
pub struct ScriptHandle {
    progress: Arc<Mutex<Progress>>,
    done: watch::Receiver<bool>,
    total: usize,
}

impl ScriptHandle {
    /// Whether the script has ended (successfully or not).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        *self.done.borrow()
    }

    /// Steps completed so far, out of [`ScriptHandle::total_steps`].
    #[must_use]
    pub fn steps_done(&self) -> usize {
        lock(&self.progress).steps_done
    }

    /// Number of steps in the script.
    #[must_use]
    pub fn total_steps(&self) -> usize {
        self.total
    }

    /// Resolves when the script ends: `Ok` if every step ran, or the wait step that timed out.
    /// Needs no particular runtime.
    pub async fn finished(&self) -> Result<(), SimError> {
        let mut done = self.done.clone();
        while !*done.borrow_and_update() {
            if done.changed().await.is_err() {
                break;
            }
        }
        match lock(&self.progress).result.clone() {
            Some(Ok(())) => Ok(()),
            Some(Err(what)) => Err(SimError::Timeout {
                what,
                after: Duration::ZERO,
            }),
            None => Err(SimError::Stopped),
        }
    }

    /// [`ScriptHandle::finished`], parking the calling thread.
    pub fn wait_blocking(&self) -> Result<(), SimError> {
        block_on(self.finished())
    }
}

pub(crate) fn spawn(sim: SimHandle, script: Script) -> ScriptHandle {
    let progress = Arc::new(Mutex::new(Progress::default()));
    let (done_tx, done_rx) = watch::channel(false);
    let handle = ScriptHandle {
        progress: progress.clone(),
        done: done_rx,
        total: script.steps.len(),
    };
    let runtime = sim.runtime.clone();
    runtime.spawn(async move {
        let result = run(&sim, script, &progress).await;
        lock(&progress).result = Some(result);
        let _ = done_tx.send(true);
    });
    handle
}

async fn run(sim: &SimHandle, script: Script, progress: &Mutex<Progress>) -> Result<(), String> {
    let step_timeout = script.step_timeout;
    for (i, step) in script.steps.into_iter().enumerate() {
        match step {
            Step::Dispatch { target, t, d } => {
                let _ = sim.dispatch_raw(target, &t, &d);
            }
            Step::Message(content) => {
                sim.message_create(&content);
            }
            Step::GuildCreate(members) => {
                sim.guild_create(members);
            }
            Step::TypingStart => {
                sim.typing_start();
            }
            Step::PresenceUpdate => {
                sim.presence_update();
            }
            Step::InteractionCreate => {
                sim.interaction_create();
            }
            Step::Fault(target, fault) => {
                sim.fault_to(target, fault);
            }
            Step::Stream(target, n) => {
                sim.stream_messages(target, n);
            }
            Step::Sleep(d) => tokio::time::sleep(d).await,
            Step::Wait {
                label,
                mut pred,
                timeout,
            } => {
                let start = sim.counters();
                let timeout = timeout.unwrap_or(step_timeout);
                if sim
                    .wait_for(|now| pred(&start, now), timeout)
                    .await
                    .is_err()
                {
                    return Err(format!("step {i}: {label} (within {timeout:?})"));
                }
            }
        }
        lock(progress).steps_done = i + 1;
    }
    Ok(())
}
