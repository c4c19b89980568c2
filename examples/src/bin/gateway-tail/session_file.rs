//! Saving a session on exit and resuming it on the next start.

use std::fs;
use std::io;
use std::path::Path;

use discord_gateway::session::ResumeState;

/// The saved session, if the file exists and holds one.
pub(crate) fn load(path: &Path) -> io::Result<Option<ResumeState>> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Writes the session (atomically: a half-written file must not be resumed), or removes a
/// stale file when there is no session to save.
pub(crate) fn save(path: &Path, state: Option<&ResumeState>) -> io::Result<()> {
    let Some(state) = state else {
        return match fs::remove_file(path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        };
    };
    let json = serde_json::to_vec_pretty(state).map_err(io::Error::other)?;
    let partial = path.with_extension("partial");
    fs::write(&partial, json)?;
    fs::rename(&partial, path)
}
