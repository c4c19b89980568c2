//! A range of shards in one process: started as fast as the identify rules allow, read as one
//! stream, stopped into a session store and resumed from it on the next start.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use discord_gateway::protocol::CloseCode;
use discord_gateway::session::{Config, ResumeState};
use discord_gateway::ShardId;
use futures_util::future::join_all;
use futures_util::stream::SelectAll;
use futures_util::{Stream, StreamExt};

use crate::fleet::identify::{IdentifyQueue, LocalIdentifyQueue};
use crate::fleet::seal::{SealedSession, SessionSeal};
use crate::fleet::shard_range::ShardRange;
use crate::fleet::store::{Claim, SessionStore, StoreError};
use crate::runtime::Sleep;
use crate::shard::status::{Progress, ShardStatus};
use crate::{
    BuildError, CloseKind, Runtime, SessionEvent, Shard, ShardBuilder, ShardError, ShardEvent,
    ShardSender,
};

/// What the merged stream of a [`ShardManager`] yields: an event and the shard it came from,
/// or a shard that stopped for good.
pub type ManagedEvent = Result<(ShardId, ShardEvent), ShardStopped>;

/// A shard of a [`ShardManager`] stopped for good; the others carry on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShardStopped {
    /// Discord closed the shard with 4011: the bot is in too many guilds for its shard count.
    ShardingRequired {
        /// The shard that was closed.
        shard: ShardId,
    },
    /// The shard's lease in the session store was taken by another process (this one could
    /// not renew it in time): the shard was stopped here so that it never runs twice.
    LeaseLost {
        /// The shard that was stopped.
        shard: ShardId,
        /// Who holds the lease now, as the store names it.
        holder: String,
    },
    /// The shard stopped for another reason (see [`ShardError`]).
    Failed {
        /// The shard that stopped.
        shard: ShardId,
        /// Why.
        error: ShardError,
    },
}

impl ShardStopped {
    /// The shard that stopped.
    #[must_use]
    pub const fn shard(&self) -> ShardId {
        match self {
            Self::ShardingRequired { shard }
            | Self::LeaseLost { shard, .. }
            | Self::Failed { shard, .. } => *shard,
        }
    }

    fn new(shard: ShardId, error: ShardError) -> Self {
        match error {
            ShardError::Fatal(CloseCode::ShardingRequired) => Self::ShardingRequired { shard },
            error => Self::Failed { shard, error },
        }
    }
}

impl fmt::Display for ShardStopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShardingRequired { shard } => write!(
                f,
                "shard {}/{} was closed with 4011 (sharding required): the bot is in too many \
                 guilds for {} shards. Run discovery again (GET /gateway/bot) for the \
                 recommended shard count, and restart every process of the bot with at least \
                 that many shards",
                shard.id(),
                shard.count(),
                shard.count()
            ),
            Self::LeaseLost { shard, holder } => write!(
                f,
                "shard {}/{} stopped here: its lease is held by {holder} now (this process could \
                 not renew it in time), and a shard must not run twice",
                shard.id(),
                shard.count()
            ),
            Self::Failed { shard, .. } => {
                write!(f, "shard {}/{} stopped", shard.id(), shard.count())
            }
        }
    }
}

impl std::error::Error for ShardStopped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ShardingRequired { .. } | Self::LeaseLost { .. } => None,
            Self::Failed { error, .. } => Some(error),
        }
    }
}

/// Why a [`ShardManager`] could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The shard configuration is malformed.
    Build(BuildError),
    /// The session store could not be read, or its leases could not be claimed.
    Store(StoreError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Build(_) => "the shards could not be built",
            Self::Store(_) => "the saved sessions could not be loaded",
        })
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Build(error) => Some(error),
            Self::Store(error) => Some(error),
        }
    }
}

/// Sets up a [`ShardManager`]. Start from [`ShardManager::builder`].
#[must_use]
pub struct ManagerBuilder<R: Runtime> {
    shard: ShardBuilder<R>,
    range: ShardRange,
    queue: Option<Arc<dyn IdentifyQueue>>,
    store: Option<Arc<dyn SessionStore>>,
}

impl<R: Runtime> fmt::Debug for ManagerBuilder<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagerBuilder")
            .field("range", &self.range)
            .field("session_store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> ManagerBuilder<R> {
    /// The identify permits every shard takes. Give the bot's real `max_concurrency` (a
    /// [`LocalIdentifyQueue::with_limit`] from discovery, or a queue shared with the bot's other
    /// processes); by default one bucket, which is never too fast and is slow for a bot whose
    /// `max_concurrency` is higher.
    pub fn identify_queue(mut self, queue: impl IdentifyQueue) -> Self {
        self.queue = Some(Arc::new(queue));
        self
    }

    /// Where sessions are saved on [`ShardManager::shutdown`] and resumed from on start
    /// (for one process, a [`crate::FileSessionStore`]). Without one, every start identifies, and
    /// [`ShardManager::shutdown`] ends the sessions (close 1000) rather than keeping them.
    pub fn session_store(mut self, store: impl SessionStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// The certificate authorities every shard's `wss://` connections trust: the same as
    /// [`ShardBuilder::trust`] on the builder given to [`ShardManager::builder`], which it
    /// replaces.
    pub fn trust(mut self, trust: crate::Trust) -> Self {
        self.shard = self.shard.trust(trust);
        self
    }

    /// Claims the range's shards in the store (a shard whose lease another process holds is
    /// logged, with the holder, and not run here), takes their saved sessions out of the store
    /// in one step (so a crash later cannot leave stale sessions for the next start, and no
    /// other process can take them too), and builds every shard: resuming where a session was
    /// saved for this bot and this shard, identifying where none was or where it does not open
    /// (another bot's, another shard's, changed, corrupt: logged as a warning). The shards
    /// connect once the manager is polled.
    ///
    /// # Errors
    /// [`StartError::Build`] for a malformed shard configuration; [`StartError::Store`] when the
    /// store cannot be reached.
    pub async fn start(self) -> Result<ShardManager<R>, StartError> {
        let seal = self.shard.session_seal().clone();
        let runtime = self.shard.runtime().clone();
        let queue = self
            .queue
            .unwrap_or_else(|| Arc::new(LocalIdentifyQueue::new(self.shard.runtime().clone(), 1)));
        let template = self.shard.shared_identify_queue(Arc::clone(&queue));
        // Checked before anything is taken out of the store: a malformed configuration must
        // not cost the saved sessions.
        let config = template.shared_config().map_err(StartError::Build)?;
        let range_ids: Vec<ShardId> = self.range.shards().collect();
        let (ids, saved) = match &self.store {
            Some(store) => {
                let ids = claim(&**store, &range_ids).await?;
                let saved = store.take(&ids).await.map_err(StartError::Store)?;
                (ids, saved)
            }
            None => (range_ids, Vec::new()),
        };
        let mut shards = SelectAll::new();
        let mut senders = BTreeMap::new();
        let mut restored = 0;
        for (index, id) in ids.iter().copied().enumerate() {
            let builder = template.clone();
            let state = saved
                .get(index)
                .and_then(Option::as_ref)
                .and_then(|sealed| open(&seal, id, sealed));
            let shard = match state {
                Some(state) => build_resuming(builder, &config, id, state, &mut restored)?,
                None => builder
                    .build_shared(Arc::clone(&config), id)
                    .map_err(StartError::Build)?,
            };
            senders.insert(id, shard.sender());
            shards.push(Tagged {
                id,
                shard,
                stopped: false,
                waker: None,
            });
        }
        tracing::info!(
            range = %self.range,
            running = ids.len(),
            resuming = restored,
            identifying = ids.len() - restored,
            "starting shards"
        );
        let renewal = self.store.as_ref().and_then(|store| {
            let every = store.lease_renewal()?;
            Some(Renewal {
                every,
                sleep: Box::pin(runtime.sleep_until(runtime.now() + every)),
                pending: None,
            })
        });
        Ok(ShardManager {
            range: self.range,
            shards,
            senders,
            store: self.store,
            restored,
            ready: vec![false; self.range.len() as usize],
            ready_count: 0,
            queue,
            expected: ids.len() as u32,
            seal,
            runtime,
            renewal,
            lost: VecDeque::new(),
        })
    }
}

/// The shards of `range` whose lease this process holds now; the others are logged with
/// their holder and left to it.
async fn claim(store: &dyn SessionStore, range: &[ShardId]) -> Result<Vec<ShardId>, StartError> {
    let claims = store.claim(range).await.map_err(StartError::Store)?;
    let mut granted = Vec::with_capacity(range.len());
    for (shard, claim) in range.iter().zip(claims) {
        match claim {
            Claim::Granted => granted.push(*shard),
            Claim::HeldBy(holder) => tracing::warn!(
                shard = %format_args!("{}/{}", shard.id(), shard.count()),
                %holder,
                "shard {}/{} is already run by {holder}: not running it here",
                shard.id(),
                shard.count()
            ),
        }
    }
    Ok(granted)
}

/// The state `sealed` holds if it opens for this bot and `shard`; otherwise logged, and the
/// shard identifies.
fn open(seal: &SessionSeal, shard: ShardId, sealed: &SealedSession) -> Option<ResumeState> {
    match seal.open(shard, sealed) {
        Ok(state) => Some(state),
        Err(rejected) => {
            tracing::warn!(
                shard = shard.id(),
                count = shard.count(),
                reason = %rejected,
                "the saved session of shard {}/{} is not resumed ({rejected}); identifying",
                shard.id(),
                shard.count()
            );
            None
        }
    }
}

/// Builds a shard that resumes `state`; a state the session refuses (saved by an incompatible
/// version, say) is logged and the shard identifies instead of the start failing.
fn build_resuming<R: Runtime>(
    builder: ShardBuilder<R>,
    config: &Arc<Config>,
    id: ShardId,
    state: ResumeState,
    restored: &mut usize,
) -> Result<Shard<R>, StartError> {
    match builder
        .clone()
        .resume(state)
        .build_shared(Arc::clone(config), id)
    {
        Ok(shard) => {
            *restored += 1;
            Ok(shard)
        }
        Err(BuildError::Config(error)) => {
            tracing::warn!(shard = id.id(), %error, "the saved session cannot be resumed; identifying");
            builder
                .build_shared(Arc::clone(config), id)
                .map_err(StartError::Build)
        }
        Err(error) => Err(StartError::Build(error)),
    }
}

/// The leases of a manager's shards, renewed while it is polled.
struct Renewal {
    every: Duration,
    sleep: Sleep,
    pending: Option<Pin<Box<dyn Future<Output = RenewResult> + Send>>>,
}

type RenewResult = Result<(Vec<ShardId>, Vec<Claim>), StoreError>;

/// The sessions of a [`ShardManager`] stopped with [`ShardManager::suspend`], not saved yet
/// (they are sealed as they are saved).
#[must_use = "the sessions are lost unless saved"]
pub struct SuspendedSessions {
    store: Option<Arc<dyn SessionStore>>,
    seal: SessionSeal,
    sessions: Vec<(ShardId, ResumeState)>,
    /// The shards whose leases are released after the save.
    leased: Vec<ShardId>,
}

impl fmt::Debug for SuspendedSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SuspendedSessions")
            .field("sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl SuspendedSessions {
    /// How many sessions there are to save.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether there is none (no store, or no shard had a session).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The application handled `shard`'s dispatches only up to sequence number `seq` (it
    /// stopped reading, or dropped the ones after it): the session is saved as of `seq`, so
    /// that Discord replays the rest to whoever resumes it, instead of the saved session
    /// covering events nobody handled. A `seq` past the session's own changes nothing.
    pub fn rewind(&mut self, shard: ShardId, seq: u64) {
        for (_, state) in self.sessions.iter_mut().filter(|(id, _)| *id == shard) {
            state.seq = state.seq.min(seq);
        }
    }

    /// Saves the sessions to the store, then releases the shards' leases (the next process to
    /// claim a shard finds its session there). Returns how many were saved.
    ///
    /// # Errors
    /// [`StoreError`] when the store could not save them.
    pub async fn save(self) -> Result<usize, StoreError> {
        let Some(store) = self.store else {
            return Ok(0);
        };
        let sealed: Vec<(ShardId, SealedSession)> = self
            .sessions
            .iter()
            .map(|(id, state)| (*id, self.seal.seal(*id, state)))
            .collect();
        let saved = store.save(&sealed).await;
        let released = store.release(&self.leased).await;
        saved?;
        if let Err(error) = released {
            tracing::warn!(error = %crate::ErrorChain(&error), "the shards' leases could not be released; they lapse on their own");
        }
        tracing::info!(
            saved = self.sessions.len(),
            "sessions saved for the next start"
        );
        Ok(self.sessions.len())
    }
}

/// A shard and its id, as one stream of the merged set.
struct Tagged<R: Runtime> {
    id: ShardId,
    shard: Shard<R>,
    /// It stopped for good: it yields nothing more, and leaves the set when next polled.
    stopped: bool,
    /// The waker the set last polled the shard with. The set polls only the shards that woke
    /// it, so whoever works on the shard outside the set (a close, a command queued through
    /// `&mut Shard`) wakes this, or the set would never look at the shard again.
    waker: Option<Waker>,
}

impl<R: Runtime> Tagged<R> {
    /// The shard, for work outside the set; the set polls it again afterwards.
    fn touch(&mut self) -> &mut Shard<R> {
        if let Some(waker) = &self.waker {
            waker.wake_by_ref();
        }
        &mut self.shard
    }
}

impl<R: Runtime> Stream for Tagged<R> {
    type Item = ManagedEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.stopped {
            return Poll::Ready(None);
        }
        if !self
            .waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            self.waker = Some(cx.waker().clone());
        }
        let id = self.id;
        let polled = self.shard.poll_next_unpin(cx);
        if let Poll::Ready(Some(Err(_)) | None) = &polled {
            self.stopped = true;
        }
        polled.map(|item| {
            item.map(|result| {
                result
                    .map(|event| (id, event))
                    .map_err(|error| ShardStopped::new(id, error))
            })
        })
    }
}

/// A range of shards run in one process, read as one [`Stream`] of [`ManagedEvent`]s.
///
/// Like a [`Shard`], it does all its work while it is polled and spawns nothing: poll it
/// continuously. Every shard takes an identify permit from one shared [`IdentifyQueue`], so
/// shards start as fast as `max_concurrency` allows (one Identify per `shard_id %
/// max_concurrency` bucket per 5 s, buckets in parallel) and never faster, and wait, with a
/// log line, when the daily session start limit is used up. Shards restored from the session
/// store resume instead, and take no permit.
///
/// Between polls each shard is reachable ([`ShardManager::shard_mut`]) for its latency, resume
/// state or to send and close; [`ShardManager::sender`] hands out a cloneable handle for other
/// tasks. A shard that stops for good leaves the set after yielding [`ShardStopped`].
pub struct ShardManager<R: Runtime> {
    range: ShardRange,
    shards: SelectAll<Tagged<R>>,
    senders: BTreeMap<ShardId, ShardSender>,
    store: Option<Arc<dyn SessionStore>>,
    restored: usize,
    /// Which shards of the range have been READY or RESUMED at least once.
    ready: Vec<bool>,
    ready_count: u32,
    /// The queue every shard takes its permits from, for [`ShardManager::progress`].
    queue: Arc<dyn IdentifyQueue>,
    /// Shards started here (those whose lease this process got).
    expected: u32,
    seal: SessionSeal,
    runtime: R,
    renewal: Option<Renewal>,
    /// Shards stopped because their lease was lost, still to be reported on the stream.
    lost: VecDeque<ShardStopped>,
}

impl<R: Runtime> fmt::Debug for ShardManager<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardManager")
            .field("range", &self.range)
            .field("running", &self.shards.len())
            .field("ready", &self.ready_count)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> ShardManager<R> {
    /// A manager of the shards `range`, each built from a clone of `shard` (set everything the
    /// shards share on it; the manager sets each one's id and identify queue). Each layer takes
    /// the builder of the layer below whole and adds only its own settings: the session's are
    /// the core's `ConfigBuilder` ([`ShardBuilder::configure`]), a shard's transport and
    /// identify settings are [`ShardBuilder`]'s, and the fleet's (range, shared identify queue,
    /// session store) are [`ManagerBuilder`]'s.
    pub fn builder(shard: ShardBuilder<R>, range: ShardRange) -> ManagerBuilder<R> {
        ManagerBuilder {
            shard,
            range,
            queue: None,
            store: None,
        }
    }

    /// The shards this manager runs.
    #[must_use]
    pub fn range(&self) -> ShardRange {
        self.range
    }

    /// Shards still running (those that stopped for good have left).
    #[must_use]
    pub fn running(&self) -> usize {
        self.shards.iter().filter(|tagged| !tagged.stopped).count()
    }

    /// Shards started from a session the store held (resuming rather than identifying).
    #[must_use]
    pub fn restored(&self) -> usize {
        self.restored
    }

    /// Shards that have been READY or RESUMED at least once since the start. To tell whether
    /// every shard is up, compare it with [`ShardManager::running`], not with the range: a shard
    /// whose lease another process holds never runs here.
    #[must_use]
    pub fn ready(&self) -> u32 {
        self.ready_count
    }

    /// A snapshot of every running shard, in shard order: state, latency, last dispatch,
    /// reconnects, session, last disconnect ([`ShardStatus`]). Cheap enough to take every
    /// second.
    #[must_use]
    pub fn status(&self) -> Vec<ShardStatus> {
        let mut status: Vec<ShardStatus> = self
            .shards
            .iter()
            .filter(|tagged| !tagged.stopped)
            .map(|tagged| tagged.shard.status())
            .collect();
        status.sort_by_key(|status| status.id.id());
        status
    }

    /// How far the start has come: shards live, connecting, waiting for identify, and about
    /// how long the rest takes at the identify queue's pace. Its `Display` is a progress line.
    #[must_use]
    pub fn progress(&self) -> Progress {
        Progress::new(
            self.expected,
            self.ready_count,
            self.shards
                .iter()
                .filter(|tagged| !tagged.stopped)
                .map(|tagged| tagged.shard.state()),
            self.queue.status(),
        )
    }

    /// A running shard, for its latency, resume state, or to send or close.
    pub fn shard_mut(&mut self, shard: ShardId) -> Option<&mut Shard<R>> {
        self.shards
            .iter_mut()
            .find(|tagged| tagged.id == shard && !tagged.stopped)
            .map(Tagged::touch)
    }

    /// Every running shard.
    pub fn shards_mut(&mut self) -> impl Iterator<Item = &mut Shard<R>> {
        self.shards
            .iter_mut()
            .filter(|tagged| !tagged.stopped)
            .map(Tagged::touch)
    }

    /// A handle that queues commands for `shard` from any task; `None` outside the range.
    #[must_use]
    pub fn sender(&self, shard: ShardId) -> Option<ShardSender> {
        self.senders.get(&shard).cloned()
    }

    /// The next event of any shard. The same as [`StreamExt::next`]; cancel-safe, as every
    /// shard is.
    pub async fn next_event(&mut self) -> Option<ManagedEvent> {
        self.next().await
    }

    /// Closes every running shard with `kind`, at once, each waiting at most 2 s for the
    /// server's answer. Events that were still due stay readable from the stream, which then
    /// ends.
    pub async fn close(&mut self, kind: CloseKind) {
        join_all(self.shards_mut().map(|shard| shard.close(kind))).await;
    }

    /// The graceful stop before a deploy: closes every shard resumably (Discord keeps the
    /// sessions for a few minutes) and saves every shard's session to the store, so the next
    /// start resumes instead of identifying; then releases the shards' leases. Without a store,
    /// the sessions are ended instead. Events that were still due stay readable from the
    /// stream, which then ends.
    ///
    /// The same as [`ShardManager::suspend`] then [`SuspendedSessions::save`]: an application
    /// that forwards events somewhere (a queue, a stream) suspends, reads and forwards what was
    /// still due, flushes, and only then saves, so that a saved session never covers events it
    /// did not deliver.
    ///
    /// Returns how many sessions were saved.
    ///
    /// # Errors
    /// [`StoreError`] when the store could not save them (the shards are closed either way).
    pub async fn shutdown(&mut self) -> Result<usize, StoreError> {
        self.suspend().await.save().await
    }

    /// Closes every running shard, resumably when there is a session store (ending the sessions
    /// when there is none), and keeps their sessions for [`SuspendedSessions::save`]. Nothing is
    /// saved yet: events that were still due stay readable from the stream, which then ends;
    /// save once they are where they belong.
    pub async fn suspend(&mut self) -> SuspendedSessions {
        let Some(store) = self.store.clone() else {
            self.close(CloseKind::EndSession).await;
            return SuspendedSessions {
                store: None,
                seal: self.seal.clone(),
                sessions: Vec::new(),
                leased: Vec::new(),
            };
        };
        // No renewal from here on: the leases are released once the sessions are saved.
        self.renewal = None;
        self.close(CloseKind::Resumable).await;
        let leased = self.running_ids();
        let sessions = self
            .shards
            .iter_mut()
            .filter(|tagged| !tagged.stopped)
            .filter_map(|tagged| Some((tagged.id, tagged.shard.resume_state()?)))
            .collect();
        SuspendedSessions {
            store: Some(store),
            seal: self.seal.clone(),
            sessions,
            leased,
        }
    }

    fn running_ids(&self) -> Vec<ShardId> {
        self.shards
            .iter()
            .filter(|tagged| !tagged.stopped)
            .map(|tagged| tagged.id)
            .collect()
    }

    /// Renews the leases when due, and stops the shards whose lease another process took.
    fn poll_renewal(&mut self, cx: &mut Context<'_>) {
        loop {
            let Some(renewal) = &mut self.renewal else {
                return;
            };
            if let Some(pending) = &mut renewal.pending {
                let Poll::Ready(result) = pending.as_mut().poll(cx) else {
                    return;
                };
                renewal.pending = None;
                self.renewed(result);
                continue;
            }
            if renewal.sleep.as_mut().poll(cx).is_pending() {
                return;
            }
            let (Some(store), every) = (self.store.clone(), renewal.every) else {
                return;
            };
            let shards = self.running_ids();
            let Some(renewal) = &mut self.renewal else {
                return;
            };
            renewal.sleep = Box::pin(self.runtime.sleep_until(self.runtime.now() + every));
            renewal.pending = Some(Box::pin(async move {
                let claims = store.claim(&shards).await?;
                Ok((shards, claims))
            }));
        }
    }

    fn renewed(&mut self, result: RenewResult) {
        let (shards, claims) = match result {
            Ok(renewed) => renewed,
            Err(error) => {
                tracing::warn!(
                    error = %crate::ErrorChain(&error),
                    "the shards' leases could not be renewed; trying again at the next renewal"
                );
                return;
            }
        };
        for (shard, claim) in shards.into_iter().zip(claims) {
            let Claim::HeldBy(holder) = claim else {
                continue;
            };
            if let Some(tagged) = self
                .shards
                .iter_mut()
                .find(|tagged| tagged.id == shard && !tagged.stopped)
            {
                tagged.touch();
                tagged.stopped = true;
                let stopped = ShardStopped::LeaseLost { shard, holder };
                tracing::error!("{stopped}");
                self.lost.push_back(stopped);
            }
        }
    }

    fn note(&mut self, item: &ManagedEvent) {
        match item {
            Ok((
                shard,
                ShardEvent::Session(SessionEvent::Ready | SessionEvent::Resumed { .. }, _),
            )) => {
                let index = (shard.id() - self.range.first()) as usize;
                if let Some(seen @ false) = self.ready.get_mut(index) {
                    *seen = true;
                    self.ready_count += 1;
                    if self.ready_count == self.expected {
                        tracing::info!(range = %self.range, "every shard is ready");
                    }
                }
            }
            Err(stopped @ ShardStopped::ShardingRequired { .. }) => {
                tracing::error!("{stopped}");
            }
            _ => {}
        }
    }
}

// Nothing of it is ever pinned in place (the runtime it keeps is only a handle to a clock).
impl<R: Runtime> Unpin for ShardManager<R> {}

impl<R: Runtime> Stream for ShardManager<R> {
    type Item = ManagedEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_renewal(cx);
        if let Some(lost) = self.lost.pop_front() {
            return Poll::Ready(Some(Err(lost)));
        }
        let polled = self.shards.poll_next_unpin(cx);
        if let Poll::Ready(Some(item)) = &polled {
            self.note(item);
        }
        polled
    }
}
