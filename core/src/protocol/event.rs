//! Dispatch event names: the `t` field of every op 0 payload (protocol reference §9).

use core::fmt;
use core::str::FromStr;

use super::Intents;

/// Declares [`EventType`] from one table of `Variant = "WIRE_NAME"` rows, so that the variant,
/// its place in [`EventType::ALL`] and its wire name can never drift apart.
macro_rules! event_types {
    ($($(#[$doc:meta])+ $variant:ident = $name:literal,)+) => {
        /// The name of a dispatch event, as carried in the `t` field of an op 0 payload.
        ///
        /// One variant per receive event Discord documents (protocol reference §9), in the order of
        /// that table. Names Discord adds later are not an error on the wire:
        /// [`EventType::from_name`] returns `None` for them and the caller decides what to do with
        /// the payload.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        #[repr(u8)]
        pub enum EventType {
            $($(#[$doc])+ $variant,)+
        }

        impl EventType {
            /// Every event type, in [`EventType::index`] order.
            pub const ALL: [Self; Self::COUNT] = [$(Self::$variant,)+];

            /// How many event types there are.
            pub const COUNT: usize = [$($name,)+].len();

            /// The wire name of this event, e.g. `"MESSAGE_CREATE"`.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }
    };
}

event_types! {
    /// The session is established (reply to Identify).
    Ready = "READY",
    /// A Resume succeeded and missed events were replayed.
    Resumed = "RESUMED",
    /// A gateway command was rate limited (currently only Request Guild Members).
    RateLimited = "RATE_LIMITED",
    /// The permissions of an application command changed.
    ApplicationCommandPermissionsUpdate = "APPLICATION_COMMAND_PERMISSIONS_UPDATE",
    /// An auto-moderation rule was created.
    AutoModerationRuleCreate = "AUTO_MODERATION_RULE_CREATE",
    /// An auto-moderation rule was updated.
    AutoModerationRuleUpdate = "AUTO_MODERATION_RULE_UPDATE",
    /// An auto-moderation rule was deleted.
    AutoModerationRuleDelete = "AUTO_MODERATION_RULE_DELETE",
    /// An auto-moderation rule triggered and its action ran.
    AutoModerationActionExecution = "AUTO_MODERATION_ACTION_EXECUTION",
    /// A guild channel was created.
    ChannelCreate = "CHANNEL_CREATE",
    /// A channel was updated (not sent for `last_message_id` changes).
    ChannelUpdate = "CHANNEL_UPDATE",
    /// A channel was deleted.
    ChannelDelete = "CHANNEL_DELETE",
    /// Ephemeral channel information (reply to Request Channel Info, op 43).
    ChannelInfo = "CHANNEL_INFO",
    /// A message was pinned or unpinned.
    ChannelPinsUpdate = "CHANNEL_PINS_UPDATE",
    /// A thread was created, or the current user was added to a private thread.
    ThreadCreate = "THREAD_CREATE",
    /// A thread was updated.
    ThreadUpdate = "THREAD_UPDATE",
    /// A thread was deleted.
    ThreadDelete = "THREAD_DELETE",
    /// The current user gained access to a channel's threads.
    ThreadListSync = "THREAD_LIST_SYNC",
    /// The thread member object of the current user changed.
    ThreadMemberUpdate = "THREAD_MEMBER_UPDATE",
    /// Members were added to or removed from a thread.
    ThreadMembersUpdate = "THREAD_MEMBERS_UPDATE",
    /// An entitlement was created.
    EntitlementCreate = "ENTITLEMENT_CREATE",
    /// An entitlement was updated or renewed.
    EntitlementUpdate = "ENTITLEMENT_UPDATE",
    /// An entitlement was deleted.
    EntitlementDelete = "ENTITLEMENT_DELETE",
    /// A guild became available, or the current user joined one.
    GuildCreate = "GUILD_CREATE",
    /// A guild was updated.
    GuildUpdate = "GUILD_UPDATE",
    /// A guild became unavailable, or the current user left or was removed from it.
    GuildDelete = "GUILD_DELETE",
    /// An audit-log entry was written.
    GuildAuditLogEntryCreate = "GUILD_AUDIT_LOG_ENTRY_CREATE",
    /// A user was banned from a guild.
    GuildBanAdd = "GUILD_BAN_ADD",
    /// A user was unbanned from a guild.
    GuildBanRemove = "GUILD_BAN_REMOVE",
    /// A guild's emojis changed.
    GuildEmojisUpdate = "GUILD_EMOJIS_UPDATE",
    /// A guild's stickers changed.
    GuildStickersUpdate = "GUILD_STICKERS_UPDATE",
    /// A guild's integrations changed.
    GuildIntegrationsUpdate = "GUILD_INTEGRATIONS_UPDATE",
    /// A user joined a guild.
    GuildMemberAdd = "GUILD_MEMBER_ADD",
    /// A user left or was removed from a guild.
    GuildMemberRemove = "GUILD_MEMBER_REMOVE",
    /// A guild member was updated (the bot's own member is sent without any intent).
    GuildMemberUpdate = "GUILD_MEMBER_UPDATE",
    /// A chunk of members (reply to Request Guild Members, op 8).
    GuildMembersChunk = "GUILD_MEMBERS_CHUNK",
    /// A role was created.
    GuildRoleCreate = "GUILD_ROLE_CREATE",
    /// A role was updated.
    GuildRoleUpdate = "GUILD_ROLE_UPDATE",
    /// A role was deleted.
    GuildRoleDelete = "GUILD_ROLE_DELETE",
    /// A scheduled event was created.
    GuildScheduledEventCreate = "GUILD_SCHEDULED_EVENT_CREATE",
    /// A scheduled event was updated.
    GuildScheduledEventUpdate = "GUILD_SCHEDULED_EVENT_UPDATE",
    /// A scheduled event was deleted.
    GuildScheduledEventDelete = "GUILD_SCHEDULED_EVENT_DELETE",
    /// A user subscribed to a scheduled event.
    GuildScheduledEventUserAdd = "GUILD_SCHEDULED_EVENT_USER_ADD",
    /// A user unsubscribed from a scheduled event.
    GuildScheduledEventUserRemove = "GUILD_SCHEDULED_EVENT_USER_REMOVE",
    /// A soundboard sound was created.
    GuildSoundboardSoundCreate = "GUILD_SOUNDBOARD_SOUND_CREATE",
    /// A soundboard sound was updated.
    GuildSoundboardSoundUpdate = "GUILD_SOUNDBOARD_SOUND_UPDATE",
    /// A soundboard sound was deleted.
    GuildSoundboardSoundDelete = "GUILD_SOUNDBOARD_SOUND_DELETE",
    /// Several of a guild's soundboard sounds were updated at once.
    GuildSoundboardSoundsUpdate = "GUILD_SOUNDBOARD_SOUNDS_UPDATE",
    /// A guild's soundboard sounds (reply to Request Soundboard Sounds, op 31).
    SoundboardSounds = "SOUNDBOARD_SOUNDS",
    /// An integration was created.
    IntegrationCreate = "INTEGRATION_CREATE",
    /// An integration was updated.
    IntegrationUpdate = "INTEGRATION_UPDATE",
    /// An integration was deleted.
    IntegrationDelete = "INTEGRATION_DELETE",
    /// A user used an interaction (command, component, modal).
    InteractionCreate = "INTERACTION_CREATE",
    /// An invite was created.
    InviteCreate = "INVITE_CREATE",
    /// An invite was deleted.
    InviteDelete = "INVITE_DELETE",
    /// A message was sent.
    MessageCreate = "MESSAGE_CREATE",
    /// A message was edited.
    MessageUpdate = "MESSAGE_UPDATE",
    /// A message was deleted.
    MessageDelete = "MESSAGE_DELETE",
    /// Several messages were deleted at once.
    MessageDeleteBulk = "MESSAGE_DELETE_BULK",
    /// A user reacted to a message.
    MessageReactionAdd = "MESSAGE_REACTION_ADD",
    /// A user removed a reaction.
    MessageReactionRemove = "MESSAGE_REACTION_REMOVE",
    /// All reactions were removed from a message.
    MessageReactionRemoveAll = "MESSAGE_REACTION_REMOVE_ALL",
    /// All reactions with one emoji were removed from a message.
    MessageReactionRemoveEmoji = "MESSAGE_REACTION_REMOVE_EMOJI",
    /// A user voted on a poll answer.
    MessagePollVoteAdd = "MESSAGE_POLL_VOTE_ADD",
    /// A user removed a poll vote.
    MessagePollVoteRemove = "MESSAGE_POLL_VOTE_REMOVE",
    /// A user's presence or info changed.
    PresenceUpdate = "PRESENCE_UPDATE",
    /// A stage instance was created.
    StageInstanceCreate = "STAGE_INSTANCE_CREATE",
    /// A stage instance was updated.
    StageInstanceUpdate = "STAGE_INSTANCE_UPDATE",
    /// A stage instance was deleted or closed.
    StageInstanceDelete = "STAGE_INSTANCE_DELETE",
    /// A premium app subscription was created.
    SubscriptionCreate = "SUBSCRIPTION_CREATE",
    /// A premium app subscription was updated.
    SubscriptionUpdate = "SUBSCRIPTION_UPDATE",
    /// A premium app subscription was deleted.
    SubscriptionDelete = "SUBSCRIPTION_DELETE",
    /// A user started typing.
    TypingStart = "TYPING_START",
    /// The current (bot) user was updated.
    UserUpdate = "USER_UPDATE",
    /// Someone sent an effect (emoji or soundboard sound) in a voice channel.
    VoiceChannelEffectSend = "VOICE_CHANNEL_EFFECT_SEND",
    /// A voice channel's start time changed.
    VoiceChannelStartTimeUpdate = "VOICE_CHANNEL_START_TIME_UPDATE",
    /// A voice channel's status changed.
    VoiceChannelStatusUpdate = "VOICE_CHANNEL_STATUS_UPDATE",
    /// Someone joined, left or moved between voice channels.
    VoiceStateUpdate = "VOICE_STATE_UPDATE",
    /// A guild's voice server was assigned or changed (half of a voice connection's credentials).
    VoiceServerUpdate = "VOICE_SERVER_UPDATE",
    /// A channel's webhooks changed.
    WebhooksUpdate = "WEBHOOKS_UPDATE",
}

// The index doubles as a bit position in `EventSet`'s u128.
const _: () = assert!(EventType::COUNT >= 1 && EventType::COUNT <= 128);

impl EventType {
    /// The event type with this wire name, or `None` for a name this crate does not know.
    ///
    /// Names are matched exactly: Discord sends them in upper case, so `b"ready"` is not `READY`.
    #[must_use]
    pub fn from_name(name: &[u8]) -> Option<Self> {
        // This runs for every dispatch received. Branching on the length first rejects most unknown
        // names at once and leaves at most ten candidates of the same length, so a lookup costs a
        // few short memcmps instead of a scan over all 79 names.
        // Arms are tried in order, so the busiest events come first within their length.
        let event = match name.len() {
            5 => match name {
                b"READY" => Self::Ready,
                _ => return None,
            },
            7 => match name {
                b"RESUMED" => Self::Resumed,
                _ => return None,
            },
            11 => match name {
                b"USER_UPDATE" => Self::UserUpdate,
                _ => return None,
            },
            12 => match name {
                b"TYPING_START" => Self::TypingStart,
                b"GUILD_CREATE" => Self::GuildCreate,
                b"RATE_LIMITED" => Self::RateLimited,
                b"CHANNEL_INFO" => Self::ChannelInfo,
                b"GUILD_UPDATE" => Self::GuildUpdate,
                b"GUILD_DELETE" => Self::GuildDelete,
                _ => return None,
            },
            13 => match name {
                b"THREAD_CREATE" => Self::ThreadCreate,
                b"THREAD_UPDATE" => Self::ThreadUpdate,
                b"THREAD_DELETE" => Self::ThreadDelete,
                b"GUILD_BAN_ADD" => Self::GuildBanAdd,
                b"INVITE_CREATE" => Self::InviteCreate,
                b"INVITE_DELETE" => Self::InviteDelete,
                _ => return None,
            },
            14 => match name {
                b"MESSAGE_CREATE" => Self::MessageCreate,
                b"MESSAGE_UPDATE" => Self::MessageUpdate,
                b"MESSAGE_DELETE" => Self::MessageDelete,
                b"CHANNEL_CREATE" => Self::ChannelCreate,
                b"CHANNEL_UPDATE" => Self::ChannelUpdate,
                b"CHANNEL_DELETE" => Self::ChannelDelete,
                _ => return None,
            },
            15 => match name {
                b"PRESENCE_UPDATE" => Self::PresenceUpdate,
                b"WEBHOOKS_UPDATE" => Self::WebhooksUpdate,
                _ => return None,
            },
            16 => match name {
                b"THREAD_LIST_SYNC" => Self::ThreadListSync,
                b"GUILD_BAN_REMOVE" => Self::GuildBanRemove,
                b"GUILD_MEMBER_ADD" => Self::GuildMemberAdd,
                _ => return None,
            },
            17 => match name {
                b"GUILD_ROLE_CREATE" => Self::GuildRoleCreate,
                b"GUILD_ROLE_UPDATE" => Self::GuildRoleUpdate,
                b"GUILD_ROLE_DELETE" => Self::GuildRoleDelete,
                b"SOUNDBOARD_SOUNDS" => Self::SoundboardSounds,
                _ => return None,
            },
            18 => match name {
                b"INTERACTION_CREATE" => Self::InteractionCreate,
                b"VOICE_STATE_UPDATE" => Self::VoiceStateUpdate,
                b"ENTITLEMENT_CREATE" => Self::EntitlementCreate,
                b"ENTITLEMENT_UPDATE" => Self::EntitlementUpdate,
                b"ENTITLEMENT_DELETE" => Self::EntitlementDelete,
                b"INTEGRATION_CREATE" => Self::IntegrationCreate,
                b"INTEGRATION_UPDATE" => Self::IntegrationUpdate,
                b"INTEGRATION_DELETE" => Self::IntegrationDelete,
                _ => return None,
            },
            19 => match name {
                b"CHANNEL_PINS_UPDATE" => Self::ChannelPinsUpdate,
                b"GUILD_EMOJIS_UPDATE" => Self::GuildEmojisUpdate,
                b"GUILD_MEMBER_REMOVE" => Self::GuildMemberRemove,
                b"GUILD_MEMBER_UPDATE" => Self::GuildMemberUpdate,
                b"GUILD_MEMBERS_CHUNK" => Self::GuildMembersChunk,
                b"MESSAGE_DELETE_BULK" => Self::MessageDeleteBulk,
                b"SUBSCRIPTION_CREATE" => Self::SubscriptionCreate,
                b"SUBSCRIPTION_UPDATE" => Self::SubscriptionUpdate,
                b"SUBSCRIPTION_DELETE" => Self::SubscriptionDelete,
                b"VOICE_SERVER_UPDATE" => Self::VoiceServerUpdate,
                _ => return None,
            },
            20 => match name {
                b"THREAD_MEMBER_UPDATE" => Self::ThreadMemberUpdate,
                b"MESSAGE_REACTION_ADD" => Self::MessageReactionAdd,
                _ => return None,
            },
            21 => match name {
                b"THREAD_MEMBERS_UPDATE" => Self::ThreadMembersUpdate,
                b"GUILD_STICKERS_UPDATE" => Self::GuildStickersUpdate,
                b"MESSAGE_POLL_VOTE_ADD" => Self::MessagePollVoteAdd,
                b"STAGE_INSTANCE_CREATE" => Self::StageInstanceCreate,
                b"STAGE_INSTANCE_UPDATE" => Self::StageInstanceUpdate,
                b"STAGE_INSTANCE_DELETE" => Self::StageInstanceDelete,
                _ => return None,
            },
            23 => match name {
                b"MESSAGE_REACTION_REMOVE" => Self::MessageReactionRemove,
                _ => return None,
            },
            24 => match name {
                b"MESSAGE_POLL_VOTE_REMOVE" => Self::MessagePollVoteRemove,
                _ => return None,
            },
            25 => match name {
                b"GUILD_INTEGRATIONS_UPDATE" => Self::GuildIntegrationsUpdate,
                b"VOICE_CHANNEL_EFFECT_SEND" => Self::VoiceChannelEffectSend,
                _ => return None,
            },
            27 => match name {
                b"AUTO_MODERATION_RULE_CREATE" => Self::AutoModerationRuleCreate,
                b"AUTO_MODERATION_RULE_UPDATE" => Self::AutoModerationRuleUpdate,
                b"AUTO_MODERATION_RULE_DELETE" => Self::AutoModerationRuleDelete,
                b"MESSAGE_REACTION_REMOVE_ALL" => Self::MessageReactionRemoveAll,
                b"VOICE_CHANNEL_STATUS_UPDATE" => Self::VoiceChannelStatusUpdate,
                _ => return None,
            },
            28 => match name {
                b"GUILD_AUDIT_LOG_ENTRY_CREATE" => Self::GuildAuditLogEntryCreate,
                b"GUILD_SCHEDULED_EVENT_CREATE" => Self::GuildScheduledEventCreate,
                b"GUILD_SCHEDULED_EVENT_UPDATE" => Self::GuildScheduledEventUpdate,
                b"GUILD_SCHEDULED_EVENT_DELETE" => Self::GuildScheduledEventDelete,
                _ => return None,
            },
            29 => match name {
                b"GUILD_SOUNDBOARD_SOUND_CREATE" => Self::GuildSoundboardSoundCreate,
                b"GUILD_SOUNDBOARD_SOUND_UPDATE" => Self::GuildSoundboardSoundUpdate,
                b"GUILD_SOUNDBOARD_SOUND_DELETE" => Self::GuildSoundboardSoundDelete,
                b"MESSAGE_REACTION_REMOVE_EMOJI" => Self::MessageReactionRemoveEmoji,
                _ => return None,
            },
            30 => match name {
                b"GUILD_SCHEDULED_EVENT_USER_ADD" => Self::GuildScheduledEventUserAdd,
                b"GUILD_SOUNDBOARD_SOUNDS_UPDATE" => Self::GuildSoundboardSoundsUpdate,
                _ => return None,
            },
            31 => match name {
                b"VOICE_CHANNEL_START_TIME_UPDATE" => Self::VoiceChannelStartTimeUpdate,
                _ => return None,
            },
            32 => match name {
                b"AUTO_MODERATION_ACTION_EXECUTION" => Self::AutoModerationActionExecution,
                _ => return None,
            },
            33 => match name {
                b"GUILD_SCHEDULED_EVENT_USER_REMOVE" => Self::GuildScheduledEventUserRemove,
                _ => return None,
            },
            38 => match name {
                b"APPLICATION_COMMAND_PERMISSIONS_UPDATE" => {
                    Self::ApplicationCommandPermissionsUpdate
                }
                _ => return None,
            },
            _ => return None,
        };
        Some(event)
    }

    /// The event type at `index` (see [`EventType::index`]), or `None` past the last one.
    #[must_use]
    pub const fn from_index(index: u8) -> Option<Self> {
        if (index as usize) < Self::COUNT {
            Some(Self::ALL[index as usize])
        } else {
            None
        }
    }

    /// A dense index in `0..COUNT`: this event's position in [`EventType::ALL`] and its bit in
    /// [`EventSet`](super::EventSet).
    #[must_use]
    pub const fn index(self) -> u8 {
        self as u8
    }

    /// The intents under which Discord sends this event about a guild (protocol reference §8).
    ///
    /// Empty for the events that are always delivered ([`EventType::is_always_delivered`]).
    ///
    /// Two events are sent more widely than this says, and it names the intent that makes them
    /// arrive at all, not the one that makes them complete:
    /// - [`EventType::ThreadMembersUpdate`] needs [`Intents::GUILDS`]; without the privileged
    ///   [`Intents::GUILD_MEMBERS`] it is only sent when the current user was added or removed, so
    ///   that intent widens it but is not required for it.
    /// - [`EventType::GuildMemberUpdate`] needs [`Intents::GUILD_MEMBERS`], except that the bot's
    ///   own member is updated without it.
    #[must_use]
    pub const fn guild_intents(self) -> Intents {
        match self {
            Self::GuildCreate
            | Self::GuildUpdate
            | Self::GuildDelete
            | Self::GuildRoleCreate
            | Self::GuildRoleUpdate
            | Self::GuildRoleDelete
            | Self::ChannelCreate
            | Self::ChannelUpdate
            | Self::ChannelDelete
            | Self::ChannelPinsUpdate
            | Self::ThreadCreate
            | Self::ThreadUpdate
            | Self::ThreadDelete
            | Self::ThreadListSync
            | Self::ThreadMemberUpdate
            | Self::ThreadMembersUpdate
            | Self::StageInstanceCreate
            | Self::StageInstanceUpdate
            | Self::StageInstanceDelete
            | Self::VoiceChannelStatusUpdate
            | Self::VoiceChannelStartTimeUpdate => Intents::GUILDS,
            Self::GuildMemberAdd | Self::GuildMemberUpdate | Self::GuildMemberRemove => {
                Intents::GUILD_MEMBERS
            }
            Self::GuildAuditLogEntryCreate | Self::GuildBanAdd | Self::GuildBanRemove => {
                Intents::GUILD_MODERATION
            }
            Self::GuildEmojisUpdate
            | Self::GuildStickersUpdate
            | Self::GuildSoundboardSoundCreate
            | Self::GuildSoundboardSoundUpdate
            | Self::GuildSoundboardSoundDelete
            | Self::GuildSoundboardSoundsUpdate => Intents::GUILD_EXPRESSIONS,
            Self::GuildIntegrationsUpdate
            | Self::IntegrationCreate
            | Self::IntegrationUpdate
            | Self::IntegrationDelete => Intents::GUILD_INTEGRATIONS,
            Self::WebhooksUpdate => Intents::GUILD_WEBHOOKS,
            Self::InviteCreate | Self::InviteDelete => Intents::GUILD_INVITES,
            Self::VoiceChannelEffectSend | Self::VoiceStateUpdate => Intents::GUILD_VOICE_STATES,
            Self::PresenceUpdate => Intents::GUILD_PRESENCES,
            Self::MessageCreate
            | Self::MessageUpdate
            | Self::MessageDelete
            | Self::MessageDeleteBulk => Intents::GUILD_MESSAGES,
            Self::MessageReactionAdd
            | Self::MessageReactionRemove
            | Self::MessageReactionRemoveAll
            | Self::MessageReactionRemoveEmoji => Intents::GUILD_MESSAGE_REACTIONS,
            Self::TypingStart => Intents::GUILD_MESSAGE_TYPING,
            Self::GuildScheduledEventCreate
            | Self::GuildScheduledEventUpdate
            | Self::GuildScheduledEventDelete
            | Self::GuildScheduledEventUserAdd
            | Self::GuildScheduledEventUserRemove => Intents::GUILD_SCHEDULED_EVENTS,
            Self::AutoModerationRuleCreate
            | Self::AutoModerationRuleUpdate
            | Self::AutoModerationRuleDelete => Intents::AUTO_MODERATION_CONFIGURATION,
            Self::AutoModerationActionExecution => Intents::AUTO_MODERATION_EXECUTION,
            Self::MessagePollVoteAdd | Self::MessagePollVoteRemove => Intents::GUILD_MESSAGE_POLLS,
            // No wildcard: a new variant must be placed in a row of the table on purpose.
            Self::Ready
            | Self::Resumed
            | Self::RateLimited
            | Self::ApplicationCommandPermissionsUpdate
            | Self::ChannelInfo
            | Self::EntitlementCreate
            | Self::EntitlementUpdate
            | Self::EntitlementDelete
            | Self::GuildMembersChunk
            | Self::SoundboardSounds
            | Self::InteractionCreate
            | Self::SubscriptionCreate
            | Self::SubscriptionUpdate
            | Self::SubscriptionDelete
            | Self::UserUpdate
            | Self::VoiceServerUpdate => Intents::empty(),
        }
    }

    /// The intents under which Discord sends this event about a direct message (protocol
    /// reference §8); empty for events that only happen in guilds and for the always-delivered
    /// ones.
    ///
    /// Ephemeral messages also arrive under [`Intents::DIRECT_MESSAGES`], even in guilds.
    #[must_use]
    pub const fn direct_message_intents(self) -> Intents {
        match self {
            Self::MessageCreate
            | Self::MessageUpdate
            | Self::MessageDelete
            | Self::ChannelPinsUpdate => Intents::DIRECT_MESSAGES,
            Self::MessageReactionAdd
            | Self::MessageReactionRemove
            | Self::MessageReactionRemoveAll
            | Self::MessageReactionRemoveEmoji => Intents::DIRECT_MESSAGE_REACTIONS,
            Self::TypingStart => Intents::DIRECT_MESSAGE_TYPING,
            Self::MessagePollVoteAdd | Self::MessagePollVoteRemove => Intents::DIRECT_MESSAGE_POLLS,
            // Everything else is guild-only or not tied to an intent; unlike the guild table this
            // is the short list of exceptions, so a wildcard is the readable choice.
            _ => Intents::empty(),
        }
    }

    /// Whether Discord sends this event whatever the intents (protocol reference §8.1): session
    /// lifecycle, replies to the client's own requests, interactions, monetisation and the bot
    /// user itself.
    #[must_use]
    pub const fn is_always_delivered(self) -> bool {
        matches!(
            self,
            Self::Ready
                | Self::Resumed
                | Self::RateLimited
                | Self::ApplicationCommandPermissionsUpdate
                | Self::ChannelInfo
                | Self::EntitlementCreate
                | Self::EntitlementUpdate
                | Self::EntitlementDelete
                | Self::GuildMembersChunk
                | Self::SoundboardSounds
                | Self::InteractionCreate
                | Self::SubscriptionCreate
                | Self::SubscriptionUpdate
                | Self::SubscriptionDelete
                | Self::UserUpdate
                | Self::VoiceServerUpdate
        )
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = ParseEventTypeError;

    /// Parses an exact wire name, like [`EventType::from_name`].
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::from_name(name.as_bytes()).ok_or(ParseEventTypeError(()))
    }
}

/// A string was not the name of a dispatch event this crate knows.
///
/// It does not carry the string because [`FromStr`] errors cannot borrow their input; use
/// [`EventSet::parse_names`](super::EventSet::parse_names) to learn which name was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseEventTypeError(());

impl fmt::Display for ParseEventTypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a known gateway dispatch event name")
    }
}

impl core::error::Error for ParseEventTypeError {}

#[cfg(test)]
mod tests {
    use core::fmt::{self, Write};

    use super::{EventType, Intents};

    /// Formats into a stack buffer, since the crate has no allocator even in tests.
    struct Buf {
        bytes: [u8; 64],
        len: usize,
    }

    impl Buf {
        fn new() -> Self {
            Self {
                bytes: [0; 64],
                len: 0,
            }
        }

        fn as_bytes(&self) -> &[u8] {
            &self.bytes[..self.len]
        }
    }

    impl Write for Buf {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let end = self.len + s.len();
            self.bytes
                .get_mut(self.len..end)
                .ok_or(fmt::Error)?
                .copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }

    #[test]
    fn the_docs_list_79_dispatch_names() {
        assert_eq!(EventType::COUNT, 79);
        assert_eq!(EventType::ALL.len(), 79);
    }

    #[test]
    fn every_name_round_trips() {
        for event in EventType::ALL {
            assert_eq!(EventType::from_name(event.as_str().as_bytes()), Some(event));
            assert_eq!(event.as_str().parse::<EventType>(), Ok(event));
        }
    }

    #[test]
    fn wire_names_are_the_variant_names_in_upper_snake_case() {
        // Catches a variant paired with the wrong string in the declaration table.
        for event in EventType::ALL {
            let mut debug = Buf::new();
            write!(debug, "{event:?}").unwrap();
            let mut camel = Buf::new();
            for word in event.as_str().split('_') {
                let (first, rest) = word.split_at(1);
                camel.write_str(first).unwrap();
                for c in rest.chars() {
                    camel.write_char(c.to_ascii_lowercase()).unwrap();
                }
            }
            assert_eq!(debug.as_bytes(), camel.as_bytes(), "{}", event.as_str());
        }
    }

    #[test]
    fn display_writes_the_wire_name() {
        let mut out = Buf::new();
        write!(out, "{}", EventType::GuildMembersChunk).unwrap();
        assert_eq!(out.as_bytes(), b"GUILD_MEMBERS_CHUNK");
    }

    #[test]
    fn only_exact_names_are_recognised() {
        for name in [
            &b""[..],
            b"ready",
            b"Ready",
            b"message_create",
            b"READ",
            b"READY ",
            b" READY",
            b"MESSAGE",
            b"MESSAGE_CREATE_",
            b"MESSAGE_REACTION_REMOVE_EMOJIS",
            b"GUILD_BANS",
            b"HELLO",
            b"PRESENCES_REPLACE",
            b"APPLICATION_COMMAND_PERMISSIONS_UPDATEX",
            b"\xff\xfe",
        ] {
            assert_eq!(EventType::from_name(name), None, "{name:?}");
        }
        assert!("ready".parse::<EventType>().is_err());
    }

    #[test]
    fn indices_are_dense_and_unique() {
        for (position, event) in EventType::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(event.index()), position);
            assert_eq!(EventType::from_index(event.index()), Some(event));
        }
        assert_eq!(EventType::from_index(79), None);
        assert_eq!(EventType::from_index(u8::MAX), None);
    }

    /// Rows of the intents table (protocol reference §8): event, guild intents, DM intents. At least
    /// one row per intent bit that carries events.
    const INTENT_TABLE: &[(EventType, Intents, Intents)] = &[
        (EventType::GuildCreate, Intents::GUILDS, Intents::empty()),
        (
            EventType::ThreadMembersUpdate,
            Intents::GUILDS,
            Intents::empty(),
        ),
        (
            EventType::VoiceChannelStartTimeUpdate,
            Intents::GUILDS,
            Intents::empty(),
        ),
        (
            EventType::ChannelPinsUpdate,
            Intents::GUILDS,
            Intents::DIRECT_MESSAGES,
        ),
        (
            EventType::GuildMemberUpdate,
            Intents::GUILD_MEMBERS,
            Intents::empty(),
        ),
        (
            EventType::GuildAuditLogEntryCreate,
            Intents::GUILD_MODERATION,
            Intents::empty(),
        ),
        (
            EventType::GuildSoundboardSoundsUpdate,
            Intents::GUILD_EXPRESSIONS,
            Intents::empty(),
        ),
        (
            EventType::IntegrationDelete,
            Intents::GUILD_INTEGRATIONS,
            Intents::empty(),
        ),
        (
            EventType::WebhooksUpdate,
            Intents::GUILD_WEBHOOKS,
            Intents::empty(),
        ),
        (
            EventType::InviteCreate,
            Intents::GUILD_INVITES,
            Intents::empty(),
        ),
        (
            EventType::VoiceChannelEffectSend,
            Intents::GUILD_VOICE_STATES,
            Intents::empty(),
        ),
        (
            EventType::PresenceUpdate,
            Intents::GUILD_PRESENCES,
            Intents::empty(),
        ),
        (
            EventType::MessageCreate,
            Intents::GUILD_MESSAGES,
            Intents::DIRECT_MESSAGES,
        ),
        (
            EventType::MessageDeleteBulk,
            Intents::GUILD_MESSAGES,
            Intents::empty(),
        ),
        (
            EventType::MessageReactionRemoveEmoji,
            Intents::GUILD_MESSAGE_REACTIONS,
            Intents::DIRECT_MESSAGE_REACTIONS,
        ),
        (
            EventType::TypingStart,
            Intents::GUILD_MESSAGE_TYPING,
            Intents::DIRECT_MESSAGE_TYPING,
        ),
        (
            EventType::GuildScheduledEventUserRemove,
            Intents::GUILD_SCHEDULED_EVENTS,
            Intents::empty(),
        ),
        (
            EventType::AutoModerationRuleDelete,
            Intents::AUTO_MODERATION_CONFIGURATION,
            Intents::empty(),
        ),
        (
            EventType::AutoModerationActionExecution,
            Intents::AUTO_MODERATION_EXECUTION,
            Intents::empty(),
        ),
        (
            EventType::MessagePollVoteAdd,
            Intents::GUILD_MESSAGE_POLLS,
            Intents::DIRECT_MESSAGE_POLLS,
        ),
        (EventType::Ready, Intents::empty(), Intents::empty()),
        (
            EventType::InteractionCreate,
            Intents::empty(),
            Intents::empty(),
        ),
        (
            EventType::GuildMembersChunk,
            Intents::empty(),
            Intents::empty(),
        ),
        (
            EventType::VoiceServerUpdate,
            Intents::empty(),
            Intents::empty(),
        ),
    ];

    #[test]
    fn events_need_the_intents_of_the_table() {
        for &(event, guild, direct) in INTENT_TABLE {
            assert_eq!(event.guild_intents(), guild, "{event}");
            assert_eq!(event.direct_message_intents(), direct, "{event}");
        }
    }

    #[test]
    fn the_table_covers_every_intent_that_carries_events() {
        let mut covered = Intents::empty();
        for &(_, guild, direct) in INTENT_TABLE {
            covered |= guild | direct;
        }
        assert_eq!(covered, Intents::all().difference(Intents::MESSAGE_CONTENT));
    }

    #[test]
    fn events_without_intents_are_exactly_the_always_delivered_ones() {
        let mut always = 0;
        for event in EventType::ALL {
            let needs_none =
                event.guild_intents().is_empty() && event.direct_message_intents().is_empty();
            assert_eq!(event.is_always_delivered(), needs_none, "{event}");
            always += usize::from(event.is_always_delivered());
        }
        // §8.1 lists 16 dispatch names.
        assert_eq!(always, 16);
    }

    #[test]
    fn each_event_belongs_to_one_intent_per_context() {
        for event in EventType::ALL {
            assert!(event.guild_intents().bits().count_ones() <= 1, "{event}");
            assert!(
                event.direct_message_intents().bits().count_ones() <= 1,
                "{event}"
            );
        }
    }

    #[test]
    fn message_content_gates_fields_not_events() {
        for event in EventType::ALL {
            assert!(!event.guild_intents().contains(Intents::MESSAGE_CONTENT));
            assert!(!event
                .direct_message_intents()
                .contains(Intents::MESSAGE_CONTENT));
        }
    }

    #[test]
    fn direct_message_events_also_happen_in_guilds() {
        for event in EventType::ALL {
            if !event.direct_message_intents().is_empty() {
                assert!(!event.guild_intents().is_empty(), "{event}");
            }
        }
    }
}
