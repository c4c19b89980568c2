//! The offline demo: a simulated gateway in this process, playing a scripted session.

use std::time::Duration;

use discord_gateway_sim::{Fault, Script, ScriptHandle, Sim, SimError};

/// The token the demo's gateway accepts; it is not a Discord token.
pub(crate) const DEMO_TOKEN: &str = "offline-demo-token";

/// A running demo: the sim (stopped on drop) and its script.
pub(crate) struct Demo {
    pub(crate) sim: Sim,
    pub(crate) script: ScriptHandle,
}

/// Starts the sim and the script: a new session, a guild, messages, a forced reconnect that is
/// resumed, an invalid session that forces a new one, and a last message.
pub(crate) fn start() -> Result<Demo, SimError> {
    let sim = Sim::builder()
        .token(DEMO_TOKEN)
        .heartbeat_interval(Duration::from_secs(5))
        .start_blocking()?;
    let script = Script::new()
        .step_timeout(Duration::from_secs(20))
        .wait_ready()
        .guild_create(8)
        .message("hello from the simulated gateway")
        .typing_start()
        .presence_update()
        .interaction_create()
        .message("the next thing the gateway does is ask for a reconnect")
        .fault(Fault::Reconnect)
        .message("sent while the client was away: replayed on resume")
        .wait_resumed()
        .message("resumed: nothing was lost")
        .fault(Fault::InvalidSession(false))
        .wait_ready()
        .message("a new session after an invalid session")
        .sleep(Duration::from_millis(200));
    let script = sim.run_script(script);
    Ok(Demo { sim, script })
}
