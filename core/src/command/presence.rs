//! Update Presence (op 3, protocol reference §10.5), also the `presence` of Identify.

use serde::Serialize;

use super::{sealed, Command};
use crate::protocol::OpCode;

/// Sets the bot's status and activities.
///
/// Discord allows about 5 presence updates per 20 s; the session's rate limiter does not know
/// that finer limit, so callers should not update on every event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct UpdatePresence<'a> {
    /// Unix time in milliseconds since when the bot is idle; `None` (sent as `null`) if it is not.
    pub since: Option<u64>,
    /// What the bot is doing; may be empty.
    pub activities: &'a [Activity<'a>],
    /// The status shown next to the bot's name.
    pub status: Status,
    /// Whether the bot is away from keyboard (affects push notifications of user accounts only).
    pub afk: bool,
}

impl<'a> UpdatePresence<'a> {
    /// A presence with `status` and `activities`, not idle and not AFK.
    #[must_use]
    pub const fn new(status: Status, activities: &'a [Activity<'a>]) -> Self {
        Self {
            since: None,
            activities,
            status,
            afk: false,
        }
    }
}

impl sealed::Typed for UpdatePresence<'_> {}

impl Command for UpdatePresence<'_> {
    const OPCODE: OpCode = OpCode::PresenceUpdate;
}

/// An activity as a bot may set it: Discord ignores every other activity field from bots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Activity<'a> {
    /// The activity's name ("Playing **name**"). Custom statuses still need one; Discord shows
    /// `state` instead.
    pub name: &'a str,
    /// What kind of activity this is.
    #[serde(rename = "type")]
    pub kind: ActivityType,
    /// The custom status text, or the party status of other kinds; omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'a str>,
    /// The stream URL of [`ActivityType::Streaming`] (Discord accepts twitch.tv and youtube.com
    /// only); omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<&'a str>,
}

impl<'a> Activity<'a> {
    /// An activity of `kind` called `name`, without state or URL.
    #[must_use]
    pub const fn new(kind: ActivityType, name: &'a str) -> Self {
        Self {
            name,
            kind,
            state: None,
            url: None,
        }
    }

    /// A custom status showing `text`. The name is the one Discord's own clients send; it is
    /// required but not displayed.
    #[must_use]
    pub const fn custom(text: &'a str) -> Self {
        Self::new(ActivityType::Custom, "Custom Status").with_state(text)
    }

    /// This activity with `state` set.
    #[must_use]
    pub const fn with_state(mut self, state: &'a str) -> Self {
        self.state = Some(state);
        self
    }

    /// This activity with `url` set.
    #[must_use]
    pub const fn with_url(mut self, url: &'a str) -> Self {
        self.url = Some(url);
        self
    }
}

/// The kind of an activity, sent as its number in `type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActivityType {
    /// 0: "Playing {name}".
    #[default]
    Playing,
    /// 1: "Streaming {details}"; needs a `url`.
    Streaming,
    /// 2: "Listening to {name}".
    Listening,
    /// 3: "Watching {name}".
    Watching,
    /// 4: "{emoji} {state}": a custom status.
    Custom,
    /// 5: "Competing in {name}".
    Competing,
}

impl ActivityType {
    /// The number Discord uses for this kind.
    #[must_use]
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Playing => 0,
            Self::Streaming => 1,
            Self::Listening => 2,
            Self::Watching => 3,
            Self::Custom => 4,
            Self::Competing => 5,
        }
    }
}

impl Serialize for ActivityType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.to_u8())
    }
}

/// The status shown next to the bot's name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Status {
    /// Online (green).
    #[default]
    Online,
    /// Do Not Disturb (red).
    DoNotDisturb,
    /// Idle (yellow).
    Idle,
    /// Shown as offline while connected.
    Invisible,
    /// Offline.
    Offline,
}

impl Status {
    /// The string Discord uses for this status.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::DoNotDisturb => "dnd",
            Self::Idle => "idle",
            Self::Invisible => "invisible",
            Self::Offline => "offline",
        }
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Activity, ActivityType, Status, UpdatePresence};
    use crate::command::testing::{assert_matches_fixture, fixture, round_trip};
    use crate::protocol::OpCode;

    #[test]
    fn the_fixture_encodes_identically() {
        let activities = [Activity::new(ActivityType::Watching, "the gateway")];
        let presence = UpdatePresence::new(Status::Idle, &activities);
        assert_matches_fixture(&presence, fixture!("send_update_presence.json"));
    }

    #[test]
    fn every_field_round_trips() {
        let activities = [
            Activity::new(ActivityType::Streaming, "a stream")
                .with_url("https://twitch.tv/discord")
                .with_state("live"),
            Activity::custom("brb"),
        ];
        let presence = UpdatePresence {
            since: Some(1_700_000_000_000),
            activities: &activities,
            status: Status::DoNotDisturb,
            afk: true,
        };
        let d = round_trip(&presence, OpCode::PresenceUpdate);
        assert_eq!(
            d,
            json!({
                "since": 1_700_000_000_000u64,
                "activities": [
                    {"name": "a stream", "type": 1, "state": "live", "url": "https://twitch.tv/discord"},
                    {"name": "Custom Status", "type": 4, "state": "brb"},
                ],
                "status": "dnd",
                "afk": true,
            })
        );
    }

    #[test]
    fn no_activities_is_an_empty_array() {
        let d = round_trip(
            &UpdatePresence::new(Status::Invisible, &[]),
            OpCode::PresenceUpdate,
        );
        assert_eq!(
            d,
            json!({"since": null, "activities": [], "status": "invisible", "afk": false})
        );
    }

    #[test]
    fn statuses_and_activity_types_use_discords_values() {
        let statuses = [
            Status::Online,
            Status::DoNotDisturb,
            Status::Idle,
            Status::Invisible,
            Status::Offline,
        ]
        .map(Status::as_str);
        assert_eq!(statuses, ["online", "dnd", "idle", "invisible", "offline"]);
        let kinds = [
            ActivityType::Playing,
            ActivityType::Streaming,
            ActivityType::Listening,
            ActivityType::Watching,
            ActivityType::Custom,
            ActivityType::Competing,
        ]
        .map(ActivityType::to_u8);
        assert_eq!(kinds, [0, 1, 2, 3, 4, 5]);
    }
}
