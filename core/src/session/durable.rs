//! The part of a session that outlives connections and processes.

use core::fmt;

use crate::codec::{MAX_SESSION_ID_LEN, MAX_URL_LEN};

/// Everything needed to resume a session on a new connection, possibly in a new process:
/// Discord's session id, the URL it asked resumes to use, and the last sequence number received.
///
/// Serializable, so a process can write it out on shutdown and hand it to
/// [`crate::session::Session::restore`] after a restart. It holds no secret (the token is not
/// part of it).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResumeState {
    /// The session id from READY.
    pub session_id: heapless::String<MAX_SESSION_ID_LEN>,
    /// The `resume_gateway_url` from READY.
    pub resume_gateway_url: heapless::String<MAX_URL_LEN>,
    /// The last sequence number received.
    pub seq: u64,
}

impl fmt::Debug for ResumeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResumeState")
            .field("session_id", &self.session_id.as_str())
            .field("resume_gateway_url", &self.resume_gateway_url.as_str())
            .field("seq", &self.seq)
            .finish()
    }
}
