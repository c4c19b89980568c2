//! A presence that owns its text, for configuration that must outlive any borrow.

use core::fmt;

use heapless::String;

use super::{Activity, ActivityType, Status, UpdatePresence};

/// The most activities an [`OwnedPresence`] holds. Bots show one; two leave room for a custom
/// status next to it without making every session config large.
pub const MAX_OWNED_ACTIVITIES: usize = 2;

/// The longest string (name, state or URL) an [`OwnedActivity`] holds, in bytes.
pub const MAX_OWNED_STRING_LEN: usize = 128;

/// A presence kept by value: the session sends it in the Identify of every new session, long after
/// the caller's borrowed [`UpdatePresence`] is gone.
///
/// Its size is fixed (about 800 bytes). Even at the limits it encodes well within
/// [`MAX_PAYLOAD_LEN`](super::MAX_PAYLOAD_LEN) unless its strings are full of characters JSON
/// must escape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedPresence {
    since: Option<u64>,
    activities: heapless::Vec<OwnedActivity, MAX_OWNED_ACTIVITIES>,
    status: Status,
    afk: bool,
}

impl OwnedPresence {
    /// Copies `presence`.
    ///
    /// # Errors
    /// [`PresenceTooLarge`] when it has more than [`MAX_OWNED_ACTIVITIES`] activities or a string
    /// longer than [`MAX_OWNED_STRING_LEN`] bytes.
    pub fn from_borrowed(presence: &UpdatePresence<'_>) -> Result<Self, PresenceTooLarge> {
        let mut activities = heapless::Vec::new();
        for activity in presence.activities {
            activities
                .push(OwnedActivity::from_borrowed(activity)?)
                .map_err(|_| PresenceTooLarge {
                    field: "activities",
                    limit: MAX_OWNED_ACTIVITIES,
                })?;
        }
        Ok(Self {
            since: presence.since,
            activities,
            status: presence.status,
            afk: presence.afk,
        })
    }

    /// Lends this presence as an [`UpdatePresence`] (built on the stack) to `f`, e.g. to put it in
    /// an [`Identify`](super::Identify) or send it as op 3.
    pub fn with_borrowed<R>(&self, f: impl FnOnce(&UpdatePresence<'_>) -> R) -> R {
        let mut activities = [Activity::new(ActivityType::Playing, ""); MAX_OWNED_ACTIVITIES];
        for (slot, activity) in activities.iter_mut().zip(&self.activities) {
            *slot = activity.as_borrowed();
        }
        f(&UpdatePresence {
            since: self.since,
            activities: &activities[..self.activities.len()],
            status: self.status,
            afk: self.afk,
        })
    }

    /// Since when the bot is idle (Unix milliseconds), if it is.
    #[must_use]
    pub const fn since(&self) -> Option<u64> {
        self.since
    }

    /// The activities.
    #[must_use]
    pub fn activities(&self) -> &[OwnedActivity] {
        &self.activities
    }

    /// The status.
    #[must_use]
    pub const fn status(&self) -> Status {
        self.status
    }

    /// Whether the bot is AFK.
    #[must_use]
    pub const fn afk(&self) -> bool {
        self.afk
    }
}

impl TryFrom<&UpdatePresence<'_>> for OwnedPresence {
    type Error = PresenceTooLarge;

    fn try_from(presence: &UpdatePresence<'_>) -> Result<Self, Self::Error> {
        Self::from_borrowed(presence)
    }
}

/// An [`Activity`] kept by value, inside an [`OwnedPresence`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedActivity {
    name: String<MAX_OWNED_STRING_LEN>,
    kind: ActivityType,
    state: Option<String<MAX_OWNED_STRING_LEN>>,
    url: Option<String<MAX_OWNED_STRING_LEN>>,
}

impl OwnedActivity {
    /// Copies `activity`.
    ///
    /// # Errors
    /// [`PresenceTooLarge`] when a string is longer than [`MAX_OWNED_STRING_LEN`] bytes.
    pub fn from_borrowed(activity: &Activity<'_>) -> Result<Self, PresenceTooLarge> {
        Ok(Self {
            name: owned("name", activity.name)?,
            kind: activity.kind,
            state: activity
                .state
                .map(|state| owned("state", state))
                .transpose()?,
            url: activity.url.map(|url| owned("url", url)).transpose()?,
        })
    }

    /// This activity as borrowed from `self`.
    #[must_use]
    pub fn as_borrowed(&self) -> Activity<'_> {
        Activity {
            name: &self.name,
            kind: self.kind,
            state: self.state.as_deref(),
            url: self.url.as_deref(),
        }
    }
}

fn owned(
    field: &'static str,
    text: &str,
) -> Result<String<MAX_OWNED_STRING_LEN>, PresenceTooLarge> {
    String::try_from(text).map_err(|_| PresenceTooLarge {
        field,
        limit: MAX_OWNED_STRING_LEN,
    })
}

/// A presence did not fit in an [`OwnedPresence`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PresenceTooLarge {
    /// What overflowed: `activities`, or an activity's `name`, `state` or `url`.
    pub field: &'static str,
    /// How many activities, or bytes, fit.
    pub limit: usize,
}

impl fmt::Display for PresenceTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { field, limit } = self;
        if *field == "activities" {
            write!(f, "a stored presence holds at most {limit} activities")
        } else {
            write!(
                f,
                "an activity's `{field}` is longer than the {limit} bytes a stored presence holds"
            )
        }
    }
}

impl core::error::Error for PresenceTooLarge {}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::ToString;

    use serde_json::json;

    use super::{OwnedPresence, PresenceTooLarge, MAX_OWNED_STRING_LEN};
    use crate::command::testing::round_trip;
    use crate::command::{
        encode_into, Activity, ActivityType, ConnectionProperties, Identify, Status,
        UpdatePresence, MAX_PAYLOAD_LEN,
    };
    use crate::protocol::{Intents, OpCode};
    use crate::token::Token;

    #[test]
    fn it_lends_back_what_it_copied() {
        let activities = [
            Activity::new(ActivityType::Streaming, "stream").with_url("https://twitch.tv/x"),
            Activity::custom("back soon"),
        ];
        let presence = UpdatePresence {
            since: Some(5),
            activities: &activities,
            status: Status::Idle,
            afk: true,
        };
        let owned = OwnedPresence::from_borrowed(&presence).unwrap();
        assert!(owned.with_borrowed(|lent| *lent == presence));
        assert_eq!(owned.status(), Status::Idle);
        assert_eq!(owned.since(), Some(5));
        assert!(owned.afk());
        assert_eq!(owned.activities()[1].as_borrowed(), activities[1]);
    }

    #[test]
    fn the_default_is_online_without_activities() {
        let d = OwnedPresence::default()
            .with_borrowed(|presence| round_trip(presence, OpCode::PresenceUpdate));
        assert_eq!(
            d,
            json!({"since": null, "activities": [], "status": "online", "afk": false})
        );
    }

    #[test]
    fn it_goes_into_every_identify() {
        let token = Token::new("abc").unwrap();
        let activities = [Activity::new(ActivityType::Competing, "a tournament")];
        let owned =
            OwnedPresence::try_from(&UpdatePresence::new(Status::DoNotDisturb, &activities))
                .unwrap();
        let d = owned.with_borrowed(|presence| {
            let identify = Identify {
                presence: Some(*presence),
                ..Identify::new(
                    &token,
                    Intents::GUILDS,
                    ConnectionProperties::new("none", "x", "x"),
                )
            };
            round_trip(&identify, OpCode::Identify)
        });
        assert_eq!(
            d["presence"]["activities"],
            json!([{"name": "a tournament", "type": 5}])
        );
    }

    #[test]
    fn a_third_activity_is_refused() {
        let activities = [Activity::new(ActivityType::Playing, "a"); 3];
        assert_eq!(
            OwnedPresence::from_borrowed(&UpdatePresence::new(Status::Online, &activities)),
            Err(PresenceTooLarge {
                field: "activities",
                limit: 2
            })
        );
    }

    #[test]
    fn overlong_strings_are_refused() {
        let long = "x".repeat(MAX_OWNED_STRING_LEN + 1);
        let longest = "x".repeat(MAX_OWNED_STRING_LEN);
        let fits = Activity::new(ActivityType::Playing, &longest)
            .with_state(&longest)
            .with_url(&longest);
        for (activity, field) in [
            (Activity::new(ActivityType::Playing, &long), "name"),
            (fits.with_state(&long), "state"),
            (fits.with_url(&long), "url"),
        ] {
            let activities = [activity];
            let error =
                OwnedPresence::from_borrowed(&UpdatePresence::new(Status::Online, &activities))
                    .unwrap_err();
            assert_eq!(error, PresenceTooLarge { field, limit: 128 });
            assert!(error.to_string().contains(field));
        }
        let full = [fits, fits];
        let owned =
            OwnedPresence::from_borrowed(&UpdatePresence::new(Status::Online, &full)).unwrap();
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        let len = owned
            .with_borrowed(|presence| encode_into(presence, &mut buf))
            .unwrap();
        assert!(len < MAX_PAYLOAD_LEN);
    }
}
