//! The client's state changes, logged through `log` (feature `log`) or `defmt` (feature
//! `defmt`); with neither, these are empty and compile to nothing. Nothing here sees the
//! configuration, so the token can never reach a log line.

#[cfg(any(feature = "log", feature = "defmt"))]
use discord_gateway::session::Event;

#[cfg(any(feature = "log", feature = "defmt"))]
use crate::client::ConnectionError;
#[cfg(any(feature = "log", feature = "defmt"))]
use crate::url::GatewayUrl;

macro_rules! state {
    ($name:ident($($arg:ident: $ty:ty),*), log: ($($log:tt)*), defmt: ($($defmt:tt)*)) => {
        #[cfg(any(feature = "log", feature = "defmt"))]
        pub(crate) fn $name($($arg: $ty),*) {
            #[cfg(feature = "log")]
            log::info!(target: "discord_gateway_embedded", $($log)*);
            #[cfg(feature = "defmt")]
            defmt::info!($($defmt)*);
        }
        #[cfg(not(any(feature = "log", feature = "defmt")))]
        #[allow(clippy::missing_const_for_fn)]
        pub(crate) fn $name<T>(_: T) {}
    };
}

state!(dialing(url: &GatewayUrl),
    log: ("dialing {}:{}", url.host(), url.port()),
    defmt: ("dialing {=str}:{=u16}", url.host(), url.port()));
state!(dial_failed(_unit: ()),
    log: ("dial failed"),
    defmt: ("dial failed"));
state!(upgrading(_unit: ()),
    log: ("connected; websocket upgrade sent"),
    defmt: ("connected; websocket upgrade sent"));
state!(upgraded(_unit: ()),
    log: ("websocket open"),
    defmt: ("websocket open"));
state!(lost(error: &ConnectionError),
    log: ("connection lost: {}", error),
    defmt: ("connection lost: {}", defmt::Debug2Format(error)));
state!(server_closed(code: Option<u16>),
    log: ("the server closed the websocket with {:?}", code),
    defmt: ("the server closed the websocket with {}", code));
state!(event(event: &Event),
    log: ("{:?}", event),
    defmt: ("{}", defmt::Debug2Format(event)));
