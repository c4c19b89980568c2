//! A range of shards in one process: started as fast as the identify rules allow, read as one
//! stream, stopped into a session store and resumed from it on the next start.

use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use discord_gateway::protocol::CloseCode;
use discord_gateway::session::{Config, ResumeState};
use discord_gateway::ShardId;
use futures_util::future::join_all;
use futures_util::stream::SelectAll;
use futures_util::{Stream, StreamExt};

use crate::identify::{IdentifyQueue, LocalIdentifyQueue};
use crate::shard_range::ShardRange;
use crate::store::{SessionStore, StoreError};
use crate::{
    BuildError, CloseKind, Runtime, Shard, ShardBuilder, ShardError, ShardEvent, ShardSender,
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
            Self::ShardingRequired { shard } | Self::Failed { shard, .. } => *shard,
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
            Self::Failed { shard, .. } => {
                write!(f, "shard {}/{} stopped", shard.id(), shard.count())
            }
        }
    }
}

impl std::error::Error for ShardStopped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ShardingRequired { .. } => None,
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
    /// The session store could not be read or cleared.
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
    /// (for one process, a [`crate::FileSessionStore`]). Without one, every start identifies.
    pub fn session_store(mut self, store: impl SessionStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Loads the saved sessions of the range's shards, builds every shard (resuming where a
    /// session was saved), and clears what it loaded from the store, so that a crash later
    /// cannot leave stale sessions for the next start. The shards connect once the manager is
    /// polled.
    ///
    /// # Errors
    /// [`StartError::Build`] for a malformed shard configuration; [`StartError::Store`] when the
    /// store cannot be read or cleared.
    pub async fn start(self) -> Result<ShardManager<R>, StartError> {
        let ids: Vec<ShardId> = self.range.shards().collect();
        let saved = match &self.store {
            Some(store) => store.load(&ids).await.map_err(StartError::Store)?,
            None => Vec::new(),
        };
        let queue = self
            .queue
            .unwrap_or_else(|| Arc::new(LocalIdentifyQueue::new(self.shard.runtime().clone(), 1)));
        let template = self.shard.shared_identify_queue(queue);
        let config = template.shared_config().map_err(StartError::Build)?;
        let mut shards = SelectAll::new();
        let mut senders = BTreeMap::new();
        let mut restored = Vec::new();
        for (index, id) in ids.iter().copied().enumerate() {
            let builder = template.clone();
            let shard = match saved.get(index).cloned().flatten() {
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
        if let Some(store) = &self.store {
            if !restored.is_empty() {
                store.clear(&restored).await.map_err(StartError::Store)?;
            }
        }
        tracing::info!(
            range = %self.range,
            resuming = restored.len(),
            identifying = ids.len() - restored.len(),
            "starting shards"
        );
        Ok(ShardManager {
            range: self.range,
            shards,
            senders,
            store: self.store,
            restored: restored.len(),
            ready: vec![false; ids.len()],
            ready_count: 0,
        })
    }
}

/// Builds a shard that resumes `state`; a state the session refuses (saved by an incompatible
/// version, say) is logged and the shard identifies instead of the start failing.
fn build_resuming<R: Runtime>(
    builder: ShardBuilder<R>,
    config: &Arc<Config>,
    id: ShardId,
    state: ResumeState,
    restored: &mut Vec<ShardId>,
) -> Result<Shard<R>, StartError> {
    match builder
        .clone()
        .resume(state)
        .build_shared(Arc::clone(config), id)
    {
        Ok(shard) => {
            restored.push(id);
            Ok(shard)
        }
        Err(BuildError::Config(error)) => {
            tracing::warn!(shard = id.id(), %error, "the saved session cannot be resumed; identifying");
            // It is cleared like the others: it will never resume.
            restored.push(id);
            builder
                .build_shared(Arc::clone(config), id)
                .map_err(StartError::Build)
        }
        Err(error) => Err(StartError::Build(error)),
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
    /// shards share on it; the manager sets each one's id and identify queue).
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

    /// Shards that have been READY or RESUMED at least once since the start.
    #[must_use]
    pub fn ready(&self) -> u32 {
        self.ready_count
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
    /// start resumes instead of identifying. Without a store, the sessions are ended instead.
    /// Events that were still due stay readable from the stream, which then ends.
    ///
    /// Returns how many sessions were saved.
    ///
    /// # Errors
    /// [`StoreError`] when the store could not save them (the shards are closed either way).
    pub async fn shutdown(&mut self) -> Result<usize, StoreError> {
        let Some(store) = self.store.clone() else {
            self.close(CloseKind::EndSession).await;
            return Ok(0);
        };
        self.close(CloseKind::Resumable).await;
        let states: Vec<(ShardId, ResumeState)> = self
            .shards
            .iter_mut()
            .filter(|tagged| !tagged.stopped)
            .filter_map(|tagged| Some((tagged.id, tagged.shard.resume_state()?)))
            .collect();
        store.save(&states).await?;
        tracing::info!(saved = states.len(), "sessions saved for the next start");
        Ok(states.len())
    }

    fn note(&mut self, item: &ManagedEvent) {
        match item {
            Ok((shard, ShardEvent::Ready { .. } | ShardEvent::Resumed { .. })) => {
                let index = (shard.id() - self.range.first()) as usize;
                if let Some(seen @ false) = self.ready.get_mut(index) {
                    *seen = true;
                    self.ready_count += 1;
                    if self.ready_count == self.range.len() {
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

impl<R: Runtime> Stream for ShardManager<R> {
    type Item = ManagedEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.shards.poll_next_unpin(cx);
        if let Poll::Ready(Some(item)) = &polled {
            self.note(item);
        }
        polled
    }
}
