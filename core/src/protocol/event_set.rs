//! Sets of dispatch events: the filter of what a client wants, and the intents that follows from it.

use core::fmt;
use core::iter::FusedIterator;
use core::ops::{BitOr, BitOrAssign};

use super::{EventType, Intents};

/// A set of [`EventType`]s, such as the events a client wants to receive.
///
/// A plain bitset indexed by [`EventType::index`], so it is `Copy`, every operation is a few
/// integer instructions and sets can be built in `const` items with [`EventSet::from_slice`] or
/// [`EventSet::with`], or composed with `|` like [`Intents`] (`EventType::MessageCreate |
/// EventType::GuildCreate` is a set). [`Intents::for_events`] turns it into the intents to identify with, and
/// [`EventSet::delivered_by`] goes the other way.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EventSet {
    bits: u128,
}

impl EventSet {
    /// No events.
    pub const EMPTY: Self = Self { bits: 0 };

    /// Every event this crate knows.
    pub const ALL: Self = Self {
        // COUNT is between 1 and 128 (asserted next to `EventType`), so the shift is in range.
        bits: u128::MAX >> (128 - EventType::COUNT),
    };

    const fn bit(event: EventType) -> u128 {
        1 << event.index()
    }

    /// This set with `event` added.
    #[must_use]
    pub const fn with(self, event: EventType) -> Self {
        Self {
            bits: self.bits | Self::bit(event),
        }
    }

    /// This set with `event` removed.
    #[must_use]
    pub const fn without(self, event: EventType) -> Self {
        Self {
            bits: self.bits & !Self::bit(event),
        }
    }

    /// The set of the given events; duplicates are fine.
    #[must_use]
    pub const fn from_slice(events: &[EventType]) -> Self {
        let mut set = Self::EMPTY;
        // `for` loops are not allowed in `const fn`.
        let mut i = 0;
        while i < events.len() {
            set = set.with(events[i]);
            i += 1;
        }
        set
    }

    /// Whether `event` is in this set.
    #[must_use]
    pub const fn contains(self, event: EventType) -> bool {
        self.bits & Self::bit(event) != 0
    }

    /// Adds `event`; returns whether it was not in the set before.
    pub const fn insert(&mut self, event: EventType) -> bool {
        let added = !self.contains(event);
        self.bits |= Self::bit(event);
        added
    }

    /// Removes `event`; returns whether it was in the set.
    pub const fn remove(&mut self, event: EventType) -> bool {
        let removed = self.contains(event);
        self.bits &= !Self::bit(event);
        removed
    }

    /// The events in either set.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self {
            bits: self.bits | other.bits,
        }
    }

    /// The events in both sets.
    #[must_use]
    pub const fn intersection(self, other: Self) -> Self {
        Self {
            bits: self.bits & other.bits,
        }
    }

    /// The events in this set but not in `other`.
    #[must_use]
    pub const fn difference(self, other: Self) -> Self {
        Self {
            bits: self.bits & !other.bits,
        }
    }

    /// Whether every event of `other` is in this set.
    #[must_use]
    pub const fn is_superset(self, other: Self) -> bool {
        other.bits & !self.bits == 0
    }

    /// Whether the set has no events.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.bits == 0
    }

    /// How many events the set has.
    #[must_use]
    pub const fn len(self) -> usize {
        self.bits.count_ones() as usize
    }

    /// The events of the set, in [`EventType::index`] order.
    #[must_use]
    pub const fn iter(self) -> EventSetIter {
        EventSetIter { bits: self.bits }
    }

    /// Every event a session identified with `intents` can receive: those whose guild or
    /// direct-message intents it includes, and the always-delivered ones.
    ///
    /// This is the most a session can see, not what it will see: Discord also needs the bot to
    /// have the permissions an event requires (e.g. View Audit Log for
    /// [`EventType::GuildAuditLogEntryCreate`]).
    #[must_use]
    pub const fn delivered_by(intents: Intents) -> Self {
        let mut set = Self::EMPTY;
        let mut i = 0;
        while i < EventType::COUNT {
            let event = EventType::ALL[i];
            if event.is_always_delivered()
                || event.guild_intents().intersects(intents)
                || event.direct_message_intents().intersects(intents)
            {
                set = set.with(event);
            }
            i += 1;
        }
        set
    }

    /// The set of the named events, e.g. from a command-line flag like
    /// `--events MESSAGE_CREATE,GUILD_CREATE` split at the commas.
    ///
    /// Each name is trimmed of surrounding whitespace and empty names are skipped, so
    /// `"MESSAGE_CREATE, GUILD_CREATE,"` split at commas works and an empty flag is the empty
    /// set. Unlike [`EventType::from_name`], which reads the wire and is exact, names are matched
    /// ignoring ASCII case, because a person typed them.
    ///
    /// # Errors
    /// [`UnknownEventName`] with the first (trimmed) name that is not a known event.
    pub fn parse_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, UnknownEventName<'a>> {
        let mut set = Self::EMPTY;
        for name in names {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            let event = from_name_ignoring_case(name).ok_or(UnknownEventName { name })?;
            set.insert(event);
        }
        Ok(set)
    }
}

/// Longer than the longest event name (38 bytes), so every name fits when upper-cased.
const NAME_BUFFER: usize = 48;

fn from_name_ignoring_case(name: &str) -> Option<EventType> {
    let mut upper = [0u8; NAME_BUFFER];
    let upper = upper.get_mut(..name.len())?;
    upper.copy_from_slice(name.as_bytes());
    upper.make_ascii_uppercase();
    EventType::from_name(upper)
}

impl BitOr for EventSet {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        self.union(other)
    }
}

impl BitOr<EventType> for EventSet {
    type Output = Self;

    fn bitor(self, event: EventType) -> Self {
        self.with(event)
    }
}

/// Two events make a set: `EventType::MessageCreate | EventType::GuildCreate`.
impl BitOr for EventType {
    type Output = EventSet;

    fn bitor(self, other: Self) -> EventSet {
        EventSet::EMPTY.with(self).with(other)
    }
}

impl BitOrAssign for EventSet {
    fn bitor_assign(&mut self, other: Self) {
        *self = self.union(other);
    }
}

impl BitOrAssign<EventType> for EventSet {
    fn bitor_assign(&mut self, event: EventType) {
        self.insert(event);
    }
}

impl From<EventType> for EventSet {
    fn from(event: EventType) -> Self {
        Self::EMPTY.with(event)
    }
}

impl FromIterator<EventType> for EventSet {
    fn from_iter<I: IntoIterator<Item = EventType>>(events: I) -> Self {
        let mut set = Self::EMPTY;
        set.extend(events);
        set
    }
}

impl Extend<EventType> for EventSet {
    fn extend<I: IntoIterator<Item = EventType>>(&mut self, events: I) {
        for event in events {
            self.insert(event);
        }
    }
}

impl IntoIterator for EventSet {
    type Item = EventType;
    type IntoIter = EventSetIter;

    fn into_iter(self) -> EventSetIter {
        self.iter()
    }
}

impl fmt::Debug for EventSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Writes the wire names separated by commas, the form [`EventSet::parse_names`] reads back.
impl fmt::Display for EventSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, event) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(event.as_str())?;
        }
        Ok(())
    }
}

/// The events of an [`EventSet`], in [`EventType::index`] order.
#[derive(Clone, Debug)]
pub struct EventSetIter {
    bits: u128,
}

impl Iterator for EventSetIter {
    type Item = EventType;

    fn next(&mut self) -> Option<EventType> {
        if self.bits == 0 {
            return None;
        }
        let index = self.bits.trailing_zeros();
        // Clears the lowest set bit.
        self.bits &= self.bits - 1;
        // Only bits below COUNT are ever set, so the index is always an event.
        EventType::ALL.get(index as usize).copied()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let len = self.bits.count_ones() as usize;
        (len, Some(len))
    }
}

impl ExactSizeIterator for EventSetIter {}

impl FusedIterator for EventSetIter {}

/// A name given to [`EventSet::parse_names`] is not a dispatch event this crate knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownEventName<'a> {
    /// The offending name, trimmed of surrounding whitespace.
    pub name: &'a str,
}

impl fmt::Display for UnknownEventName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown gateway event `{}` (expected a dispatch name like MESSAGE_CREATE)",
            self.name
        )
    }
}

impl core::error::Error for UnknownEventName<'_> {}

/// Deriving intents from the events a client wants, the way the Go library this crate descends
/// from did with `WithGuildEvents` / `WithDirectMessageEvents`: asking for events instead of
/// intents means a bot cannot forget the intent an event needs, nor ask for ones it never uses.
///
/// None of these ever add [`Intents::MESSAGE_CONTENT`]: it gates the text of messages, not any
/// event, so a bot that reads message content must add it itself. Nor do they add
/// [`Intents::GUILD_MEMBERS`] for [`EventType::ThreadMembersUpdate`], which arrives without it for
/// the current user (see [`EventType::guild_intents`]).
impl Intents {
    /// The intents needed to receive `events` in guilds.
    #[must_use]
    pub const fn for_guild_events(events: EventSet) -> Self {
        intents_for(events, true, false)
    }

    /// The intents needed to receive `events` in direct messages. Events that never happen in
    /// direct messages add nothing.
    #[must_use]
    pub const fn for_direct_message_events(events: EventSet) -> Self {
        intents_for(events, false, true)
    }

    /// The intents needed to receive `events` in guilds and in direct messages: the union of
    /// [`Intents::for_guild_events`] and [`Intents::for_direct_message_events`].
    #[must_use]
    pub const fn for_events(events: EventSet) -> Self {
        intents_for(events, true, true)
    }
}

const fn intents_for(events: EventSet, guild: bool, direct: bool) -> Intents {
    let mut intents = Intents::empty();
    // `Iterator::next` is not const; walk the bits the way `EventSetIter` does.
    let mut bits = events.bits;
    while bits != 0 {
        let event = EventType::ALL[bits.trailing_zeros() as usize];
        bits &= bits - 1;
        if guild {
            intents = intents.union(event.guild_intents());
        }
        if direct {
            intents = intents.union(event.direct_message_intents());
        }
    }
    intents
}

#[cfg(test)]
mod tests {
    use core::fmt::{self, Write};

    use super::{EventSet, EventType, Intents, UnknownEventName, NAME_BUFFER};

    /// Formats into a stack buffer, since the crate has no allocator even in tests.
    struct Buf {
        bytes: [u8; 4096],
        len: usize,
    }

    impl Buf {
        fn new() -> Self {
            Self {
                bytes: [0; 4096],
                len: 0,
            }
        }

        fn as_str(&self) -> &str {
            core::str::from_utf8(&self.bytes[..self.len]).unwrap()
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
    fn sets_compose_with_bitor_like_intents() {
        let messages = EventType::MessageCreate | EventType::MessageUpdate;
        assert_eq!(
            messages,
            EventSet::from_slice(&[EventType::MessageCreate, EventType::MessageUpdate])
        );
        let guilds = EventSet::from(EventType::GuildCreate);
        assert_eq!((messages | guilds).len(), 3);
        assert_eq!(messages | EventType::MessageCreate, messages);
        let mut set = EventSet::EMPTY;
        set |= messages;
        set |= EventType::GuildCreate;
        assert_eq!(set, messages | guilds);
    }

    const MESSAGES: EventSet = EventSet::from_slice(&[
        EventType::MessageCreate,
        EventType::MessageUpdate,
        EventType::MessageCreate,
    ]);

    #[test]
    fn sets_are_built_in_const_items() {
        assert_eq!(MESSAGES.len(), 2);
        assert!(MESSAGES.contains(EventType::MessageUpdate));
        assert!(!MESSAGES.contains(EventType::MessageDelete));
        assert_eq!(
            MESSAGES,
            EventSet::EMPTY
                .with(EventType::MessageUpdate)
                .with(EventType::MessageCreate)
        );
    }

    #[test]
    fn the_empty_and_full_sets() {
        assert!(EventSet::EMPTY.is_empty());
        assert_eq!(EventSet::EMPTY.len(), 0);
        assert_eq!(EventSet::default(), EventSet::EMPTY);
        assert_eq!(EventSet::ALL.len(), EventType::COUNT);
        for event in EventType::ALL {
            assert!(EventSet::ALL.contains(event));
            assert!(!EventSet::EMPTY.contains(event));
        }
        assert_eq!(EventSet::from_slice(&EventType::ALL), EventSet::ALL);
    }

    #[test]
    fn insert_and_remove_report_changes() {
        let mut set = EventSet::EMPTY;
        assert!(set.insert(EventType::Ready));
        assert!(!set.insert(EventType::Ready));
        assert_eq!(set, EventType::Ready.into());
        assert!(set.remove(EventType::Ready));
        assert!(!set.remove(EventType::Ready));
        assert!(set.is_empty());
        assert_eq!(MESSAGES.without(EventType::MessageCreate).len(), 1);
    }

    #[test]
    fn set_algebra() {
        let typing = EventSet::from(EventType::TypingStart).with(EventType::MessageCreate);
        assert_eq!(
            MESSAGES.union(typing),
            MESSAGES.with(EventType::TypingStart)
        );
        assert_eq!(
            MESSAGES.intersection(typing),
            EventType::MessageCreate.into()
        );
        assert_eq!(MESSAGES.difference(typing), EventType::MessageUpdate.into());
        assert!(MESSAGES.union(typing).is_superset(MESSAGES));
        assert!(!MESSAGES.is_superset(typing));
        assert!(EventSet::ALL.is_superset(EventSet::EMPTY));
    }

    #[test]
    fn iteration_is_in_index_order() {
        let set = EventSet::from_slice(&[
            EventType::WebhooksUpdate,
            EventType::Ready,
            EventType::GuildCreate,
        ]);
        let mut iter = set.iter();
        assert_eq!(iter.len(), 3);
        assert_eq!(iter.next(), Some(EventType::Ready));
        assert_eq!(iter.next(), Some(EventType::GuildCreate));
        assert_eq!(iter.next(), Some(EventType::WebhooksUpdate));
        assert_eq!(iter.next(), None);
        assert_eq!(iter.next(), None);

        assert!(EventSet::ALL.iter().eq(EventType::ALL));
        let collected: EventSet = EventType::ALL.into_iter().collect();
        assert_eq!(collected, EventSet::ALL);
    }

    #[test]
    fn extend_adds_to_the_set() {
        let mut set = MESSAGES;
        set.extend([EventType::TypingStart, EventType::MessageCreate]);
        assert_eq!(set, MESSAGES.with(EventType::TypingStart));
    }

    #[test]
    fn names_from_a_command_line_flag_parse() {
        let flag = "MESSAGE_CREATE, guild_create ,,Message_Update,";
        assert_eq!(
            EventSet::parse_names(flag.split(',')),
            Ok(MESSAGES.with(EventType::GuildCreate))
        );
        assert_eq!(EventSet::parse_names("".split(',')), Ok(EventSet::EMPTY));
        assert_eq!(
            EventSet::parse_names(["READY", " MESSAGE_CREAT ", "NOPE"]),
            Err(UnknownEventName {
                name: "MESSAGE_CREAT"
            })
        );
        // Longer than any name: rejected, not truncated into a match.
        let long = "MESSAGE_CREATE_MESSAGE_CREATE_MESSAGE_CREATE_MESSAGE_CREATE";
        assert_eq!(
            EventSet::parse_names([long]),
            Err(UnknownEventName { name: long })
        );
        // Non-ASCII input is not an event, and is not upper-cased into one.
        assert!(EventSet::parse_names(["ready\u{e9}"]).is_err());
    }

    #[test]
    fn every_name_fits_the_case_folding_buffer() {
        for event in EventType::ALL {
            assert!(event.as_str().len() <= NAME_BUFFER, "{event}");
        }
    }

    #[test]
    fn the_error_names_the_offending_string() {
        let mut out = Buf::new();
        write!(out, "{}", UnknownEventName { name: "MESAGE" }).unwrap();
        assert!(out.as_str().contains("`MESAGE`"), "{}", out.as_str());
    }

    #[test]
    fn display_is_what_parse_names_reads() {
        let mut out = Buf::new();
        write!(out, "{}", MESSAGES.with(EventType::Ready)).unwrap();
        assert_eq!(out.as_str(), "READY,MESSAGE_CREATE,MESSAGE_UPDATE");

        let mut out = Buf::new();
        write!(out, "{}", EventSet::ALL).unwrap();
        assert_eq!(
            EventSet::parse_names(out.as_str().split(',')),
            Ok(EventSet::ALL)
        );
    }

    #[test]
    fn messages_need_the_guild_and_the_direct_message_intent() {
        let events = EventSet::from(EventType::MessageCreate);
        assert_eq!(
            Intents::for_events(events),
            Intents::GUILD_MESSAGES | Intents::DIRECT_MESSAGES
        );
        assert_eq!(Intents::for_guild_events(events), Intents::GUILD_MESSAGES);
        assert_eq!(
            Intents::for_direct_message_events(events),
            Intents::DIRECT_MESSAGES
        );
    }

    #[test]
    fn guild_only_events_need_no_direct_message_intent() {
        let events = EventSet::from_slice(&[EventType::GuildCreate, EventType::MessageDeleteBulk]);
        assert_eq!(Intents::for_direct_message_events(events), Intents::empty());
        assert_eq!(
            Intents::for_events(events),
            Intents::GUILDS | Intents::GUILD_MESSAGES
        );
    }

    #[test]
    fn always_delivered_events_need_no_intents() {
        let events = EventSet::from_slice(&[EventType::Ready, EventType::InteractionCreate]);
        assert_eq!(Intents::for_events(events), Intents::empty());
        assert_eq!(Intents::for_events(EventSet::EMPTY), Intents::empty());
    }

    #[test]
    fn presences_need_the_privileged_intent() {
        let intents = Intents::for_events(EventType::PresenceUpdate.into());
        assert_eq!(intents, Intents::GUILD_PRESENCES);
        assert_eq!(intents.privileged(), Intents::GUILD_PRESENCES);
    }

    #[test]
    fn all_events_need_every_intent_but_message_content() {
        assert_eq!(
            Intents::for_events(EventSet::ALL),
            Intents::all().difference(Intents::MESSAGE_CONTENT)
        );
    }

    #[test]
    fn no_intents_deliver_the_always_delivered_events() {
        let always = EventSet::delivered_by(Intents::empty());
        assert_eq!(always.len(), 16);
        for event in EventType::ALL {
            assert_eq!(
                always.contains(event),
                event.is_always_delivered(),
                "{event}"
            );
        }
        assert_eq!(EventSet::delivered_by(Intents::all()), EventSet::ALL);
    }

    #[test]
    fn direct_message_intents_deliver_the_shared_events() {
        assert_eq!(
            EventSet::delivered_by(Intents::DIRECT_MESSAGES)
                .difference(EventSet::delivered_by(Intents::empty())),
            EventSet::from_slice(&[
                EventType::ChannelPinsUpdate,
                EventType::MessageCreate,
                EventType::MessageUpdate,
                EventType::MessageDelete,
            ])
        );
    }

    #[test]
    fn the_derived_intents_deliver_the_wanted_events() {
        for event in EventType::ALL {
            let wanted = EventSet::from(event);
            assert!(
                EventSet::delivered_by(Intents::for_events(wanted)).contains(event),
                "{event}"
            );
            assert!(
                EventSet::delivered_by(Intents::for_guild_events(wanted)).contains(event),
                "{event}"
            );
        }
    }

    #[test]
    fn each_intent_is_derived_back_from_the_events_it_delivers() {
        for intent in Intents::all().iter() {
            let derived = Intents::for_events(EventSet::delivered_by(intent));
            // MESSAGE_CONTENT delivers no events of its own, so nothing brings it back.
            assert_eq!(
                derived.contains(intent),
                intent != Intents::MESSAGE_CONTENT,
                "{intent:?}"
            );
        }
    }
}
