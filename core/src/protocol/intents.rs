//! Gateway intents: the bitfield in Identify that selects which events a session receives.

bitflags::bitflags! {
    /// The gateway intents a session subscribes to (protocol reference §8).
    ///
    /// Privileged intents ([`Intents::PRIVILEGED`]) must also be enabled for the application in the
    /// Developer Portal, or Discord closes the connection with 4014.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub struct Intents: u64 {
        /// Guild, channel, thread, role and stage-instance lifecycle events.
        const GUILDS = 1 << 0;
        /// Member add/update/remove events. **Privileged.**
        const GUILD_MEMBERS = 1 << 1;
        /// Audit-log entries and bans (formerly `GUILD_BANS`).
        const GUILD_MODERATION = 1 << 2;
        /// Emoji, sticker and soundboard updates (formerly `GUILD_EMOJIS_AND_STICKERS`).
        const GUILD_EXPRESSIONS = 1 << 3;
        /// Integration events.
        const GUILD_INTEGRATIONS = 1 << 4;
        /// Webhook update events.
        const GUILD_WEBHOOKS = 1 << 5;
        /// Invite create/delete events.
        const GUILD_INVITES = 1 << 6;
        /// Voice state and voice channel effect events.
        const GUILD_VOICE_STATES = 1 << 7;
        /// Presence updates. **Privileged.**
        const GUILD_PRESENCES = 1 << 8;
        /// Messages in guilds.
        const GUILD_MESSAGES = 1 << 9;
        /// Reactions in guilds.
        const GUILD_MESSAGE_REACTIONS = 1 << 10;
        /// Typing in guilds.
        const GUILD_MESSAGE_TYPING = 1 << 11;
        /// Direct messages.
        const DIRECT_MESSAGES = 1 << 12;
        /// Reactions in direct messages.
        const DIRECT_MESSAGE_REACTIONS = 1 << 13;
        /// Typing in direct messages.
        const DIRECT_MESSAGE_TYPING = 1 << 14;
        /// Message content fields (no events of its own). **Privileged.**
        const MESSAGE_CONTENT = 1 << 15;
        /// Scheduled event events.
        const GUILD_SCHEDULED_EVENTS = 1 << 16;
        /// Auto-moderation rule events.
        const AUTO_MODERATION_CONFIGURATION = 1 << 20;
        /// Auto-moderation action events.
        const AUTO_MODERATION_EXECUTION = 1 << 21;
        /// Poll votes in guilds.
        const GUILD_MESSAGE_POLLS = 1 << 24;
        /// Poll votes in direct messages.
        const DIRECT_MESSAGE_POLLS = 1 << 25;
    }
}

impl Intents {
    /// The intents that need approval in the Developer Portal.
    pub const PRIVILEGED: Self = Self::GUILD_MEMBERS
        .union(Self::GUILD_PRESENCES)
        .union(Self::MESSAGE_CONTENT);

    /// Every documented intent that is not privileged.
    pub const NON_PRIVILEGED: Self = Self::all().difference(Self::PRIVILEGED);

    /// The privileged intents among these.
    #[must_use]
    pub const fn privileged(self) -> Self {
        self.intersection(Self::PRIVILEGED)
    }

    /// The intent with the given name as Discord writes it (`"GUILD_MESSAGES"`), including the
    /// former names `GUILD_BANS` and `GUILD_EMOJIS_AND_STICKERS`.
    #[must_use]
    pub fn from_discord_name(name: &str) -> Option<Self> {
        match name {
            "GUILD_BANS" => Some(Self::GUILD_MODERATION),
            "GUILD_EMOJIS_AND_STICKERS" => Some(Self::GUILD_EXPRESSIONS),
            _ => Self::from_name(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Intents;

    #[test]
    fn masks_match_the_protocol_reference() {
        assert_eq!(Intents::all().bits(), 53_608_447);
        assert_eq!(Intents::NON_PRIVILEGED.bits(), 53_575_421);
        assert_eq!(Intents::PRIVILEGED.bits(), 33_026);
    }

    #[test]
    fn undocumented_bits_are_not_intents() {
        for bit in [17u32, 18, 19, 22, 23, 26, 63] {
            assert!(Intents::from_bits(1 << bit).is_none(), "bit {bit}");
        }
    }

    #[test]
    fn names_resolve_including_former_names() {
        assert_eq!(
            Intents::from_discord_name("GUILD_MESSAGES"),
            Some(Intents::GUILD_MESSAGES)
        );
        assert_eq!(
            Intents::from_discord_name("GUILD_BANS"),
            Some(Intents::GUILD_MODERATION)
        );
        assert_eq!(
            Intents::from_discord_name("GUILD_EMOJIS_AND_STICKERS"),
            Some(Intents::GUILD_EXPRESSIONS)
        );
        assert_eq!(Intents::from_discord_name("guild_messages"), None);
        assert_eq!(Intents::from_discord_name("NOPE"), None);
    }

    #[test]
    fn the_example_identify_intents_decode() {
        // send_identify.json asks for 38403.
        let intents = Intents::from_bits(38_403).expect("documented bits");
        assert!(
            intents.contains(Intents::GUILDS | Intents::GUILD_MEMBERS | Intents::MESSAGE_CONTENT)
        );
        assert_eq!(
            intents.privileged(),
            Intents::GUILD_MEMBERS | Intents::MESSAGE_CONTENT
        );
    }
}
