//! `--session-file`: saving a session on exit and resuming it on the next start.
//!
//! The file holds one [`SealedSession`]: the session bound to the bot and to the shard it was
//! saved for, checked on load by the driver's [`SessionSeal`] (the same check every session
//! store goes through). A file saved for another `--shard`, by another bot, changed by hand or
//! damaged is not resumed: the shard identifies, with a warning saying why.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use discord_gateway::session::ResumeState;
use discord_gateway::ShardId;
use discord_gateway_driver::{SealedSession, SessionSeal};

/// The session file of one shard of one bot.
pub(crate) struct SessionFile {
    path: PathBuf,
    seal: SessionSeal,
}

impl SessionFile {
    pub(crate) fn new(path: PathBuf, seal: SessionSeal) -> Self {
        Self { path, seal }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The session saved for `shard` of this bot, if the file holds one. A file that cannot be
    /// read is an error; one that holds no session for `shard` of this bot is logged, and the
    /// shard identifies.
    pub(crate) fn load(&self, shard: ShardId) -> io::Result<Option<ResumeState>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) if error.kind() == io::ErrorKind::InvalidData => String::new(),
            Err(error) => return Err(error),
        };
        match self.seal.open(shard, &SealedSession::from_stored(text)) {
            Ok(state) => Ok(Some(state)),
            Err(rejected) => {
                tracing::warn!(
                    path = %self.path.display(),
                    "not resuming the session file's session for shard {}/{}: {rejected}; identifying",
                    shard.id(),
                    shard.count()
                );
                Ok(None)
            }
        }
    }

    /// Writes the session of `shard` (atomically: a half-written file must not be resumed), or
    /// removes a stale file when there is no session to save.
    pub(crate) fn save(&self, shard: ShardId, state: Option<&ResumeState>) -> io::Result<()> {
        let Some(state) = state else {
            return match fs::remove_file(&self.path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            };
        };
        let sealed = self.seal.seal(shard, state);
        let partial = self.path.with_extension("partial");
        fs::write(&partial, sealed.as_str())?;
        fs::rename(&partial, &self.path)
    }
}
