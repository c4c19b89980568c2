//! The default [`SessionStore`]: every saved session of a process in one JSON file.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use discord_gateway::ShardId;
use serde::{Deserialize, Serialize};

use crate::fleet::seal::SealedSession;
use crate::fleet::store::{SessionStore, StoreError, StoreFuture};

/// Keeps sessions in one JSON file, rewritten whole on every change.
///
/// Writes go to a temporary file beside it that is flushed to disk and then renamed over it,
/// so a crash mid-write leaves the previous file, never half of a new one (resuming a
/// truncated session would fail; resuming a previous one fails cleanly with Invalid Session
/// and the shard identifies).
///
/// Each entry is a [`SealedSession`]: bound to its shard and to the bot, and checked by the
/// [`crate::ShardManager`] when it takes it. A file that cannot be parsed at all (truncated by
/// hand, another program's) is logged and read as empty, so every shard identifies; one
/// unreadable entry costs only its shard.
///
/// The file is read and written on the calling task: it holds a few hundred bytes per shard
/// and is touched once at start and once at stop. One process per file: two processes saving
/// into one file at once would each rewrite it from what they read.
#[derive(Debug)]
pub struct FileSessionStore {
    path: PathBuf,
    /// Read-modify-write cycles of this process, one at a time.
    lock: Mutex<()>,
}

/// The file's layout. Versioned, so a later layout can still read this one.
#[derive(Default, Serialize, Deserialize)]
struct SessionFile {
    version: u32,
    /// Keyed `"ID/COUNT"`: a session of shard 3 of 16 says nothing about shard 3 of 32. Each
    /// value is a sealed record, read one by one (one bad entry spoils only itself).
    sessions: BTreeMap<String, serde_json::Value>,
}

/// 2: sealed records. 1 held bare states, which are not resumed (nothing binds them to the
/// bot), only replaced.
const VERSION: u32 = 2;

fn key(shard: ShardId) -> String {
    format!("{}/{}", shard.id(), shard.count())
}

impl FileSessionStore {
    /// A store in the file at `path` (created on the first save; its folder must exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    /// Where the sessions are kept.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<SessionFile, StoreError> {
        let empty = SessionFile {
            version: VERSION,
            sessions: BTreeMap::new(),
        };
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(empty),
            Err(error) => return Err(StoreError::new("reading the session file", error)),
        };
        let file: SessionFile = match serde_json::from_slice(&bytes) {
            Ok(file) => file,
            Err(error) => {
                tracing::warn!(
                    path = %self.path.display(),
                    %error,
                    "the session file cannot be parsed; every shard identifies, and the next save replaces it"
                );
                return Ok(empty);
            }
        };
        if file.version != VERSION {
            tracing::warn!(
                path = %self.path.display(),
                version = file.version,
                expected = VERSION,
                "the session file has another layout; its sessions are not resumed, and the next save replaces it"
            );
            return Ok(empty);
        }
        Ok(file)
    }

    fn write(&self, file: &SessionFile) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(file)
            .map_err(|error| StoreError::new("encoding the session file", error))?;
        let mut partial = self.path.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let written = (|| {
            let mut out = fs::File::create(&partial)?;
            out.write_all(&json)?;
            out.sync_all()?;
            fs::rename(&partial, &self.path)
        })();
        written.map_err(|error| {
            let _ = fs::remove_file(&partial);
            StoreError::new("writing the session file", error)
        })
    }

    /// Runs one read-modify-write cycle under the process-wide lock.
    fn update(&self, change: impl FnOnce(&mut SessionFile)) -> Result<(), StoreError> {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let mut file = self.read()?;
        change(&mut file);
        file.version = VERSION;
        self.write(&file)
    }
}

impl SessionStore for FileSessionStore {
    fn load<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, Vec<Option<SealedSession>>> {
        Box::pin(async move {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            let file = self.read()?;
            Ok(shards
                .iter()
                .map(|shard| file.sessions.get(&key(*shard)).map(stored))
                .collect())
        })
    }

    fn take<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, Vec<Option<SealedSession>>> {
        Box::pin(async move {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            let mut file = self.read()?;
            let taken: Vec<Option<SealedSession>> = shards
                .iter()
                .map(|shard| file.sessions.remove(&key(*shard)).as_ref().map(stored))
                .collect();
            if taken.iter().any(Option::is_some) {
                file.version = VERSION;
                self.write(&file)?;
            }
            Ok(taken)
        })
    }

    fn save<'a>(&'a self, sessions: &'a [(ShardId, SealedSession)]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut values = Vec::with_capacity(sessions.len());
            for (shard, sealed) in sessions {
                let value = serde_json::from_str(sealed.as_str())
                    .map_err(|error| StoreError::new("encoding the session file", error))?;
                values.push((key(*shard), value));
            }
            self.update(|file| file.sessions.extend(values))
        })
    }

    fn clear<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.update(|file| {
                for shard in shards {
                    file.sessions.remove(&key(*shard));
                }
            })
        })
    }
}

/// An entry of the file as the record it holds (checked when opened, not here).
fn stored(value: &serde_json::Value) -> SealedSession {
    SealedSession::from_stored(value.to_string())
}
