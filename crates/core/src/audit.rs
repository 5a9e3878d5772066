//! The hash chain of the append-only audit log.
//!
//! Every event stores the hash of its predecessor and its own hash over its contents and that link, so
//! editing, deleting or inserting an event breaks the chain where it happened. The storage layer keeps
//! the newest (seq, hash) pair separately as the log's *head*, which also exposes deleting the newest
//! events. This module is the pure part: computing hashes and checking a chain.
//!
//! # Hash encoding
//!
//! `hash = SHA-256(encoding)`, where the encoding is the concatenation of
//!
//! | part | bytes |
//! | --- | --- |
//! | domain tag | the 23 ASCII bytes `keyward audit event v1` followed by one zero byte |
//! | `prev_hash` | 32 bytes |
//! | `seq` | 8 bytes, big-endian |
//! | `at` | 8 bytes, big-endian seconds since the Unix epoch |
//! | `actor`, `target`, `action` | each: its UTF-8 length as 8 bytes big-endian, then the UTF-8 bytes |
//! | `ip` | `0x00` when absent; `0x01`, then length and bytes as above, when present |
//! | `detail` | length and bytes as above |
//! | `account` | nothing when absent (events written before accounts were recorded hash as they did); `0x01` and the id as 8 bytes big-endian when present |
//!
//! Every variable-length field carries its length, so no bytes can move from one field to the next
//! without changing the hash, and an absent IP differs from an empty one. The first event has
//! `seq = 1` and `prev_hash` all zeros ([`GENESIS_HASH`]).
//!
//! # What [`verify_chain`] reports
//!
//! Events are checked in order of `seq`; the first problem found is returned. For each event `e`,
//! with `p` the event before it (or seq 0 with [`GENESIS_HASH`] before the first):
//!
//! 1. `e.seq == p.seq`: two events carry one number — [`ChainBreak::DuplicateSeq`] (inserted);
//!    `e.seq < p.seq`: [`ChainBreak::OutOfOrder`] (inserted).
//! 2. `e.seq > p.seq + 1`: the numbers in between are missing — [`ChainBreak::Deleted`].
//! 3. `e` links to `p` (`e.prev_hash == p.hash`) but its recomputed hash differs from its stored hash:
//!    [`ChainBreak::Edited`].
//! 4. `e` does not link to `p`:
//!    - it links to an earlier event `q` (among the last [`LOOKBACK`] events): the events after `q` up
//!      to `p` are not part of the chain `e` belongs to — [`ChainBreak::Inserted`] (this is what a forged
//!      event spliced in with renumbering looks like, whether or not later events were re-hashed);
//!    - else, if its contents do not match its hash but would under a later number `e.seq + d`
//!      (`d` ≤ [`LOOKBACK`]): `d` events were deleted and the rest renumbered —
//!      [`ChainBreak::DeletedAndRenumbered`];
//!    - else, if its contents do not match its hash: [`ChainBreak::Edited`] (its link was edited too);
//!    - else (a self-consistent event whose predecessor is unknown): if the NEXT event links to `p`,
//!      skipping `e`, then `e` was inserted — [`ChainBreak::Inserted`]; otherwise the event `e` was
//!      chained to is gone — [`ChainBreak::MissingPredecessor`] (deleted kind; it is also what a
//!      rewritten-and-rehashed `p` looks like, since the original `p` is then missing).
//!
//! After the last event, the head `(head_seq, head_hash)` is compared:
//! the log ends before `head_seq` — [`ChainBreak::Truncated`] (deleted); the event numbered `head_seq`
//! has another hash — [`ChainBreak::HeadMismatch`]; events after `head_seq` —
//! [`ChainBreak::BeyondHead`] (inserted). Without a head, deleting the newest events cannot be seen.
//!
//! A forger who re-hashes and re-links every event after a change leaves a consistent chain: only the
//! head, stored apart from the events, catches that. The head and the events must therefore be read in
//! one snapshot (one transaction), and appending must update both atomically.

use std::collections::VecDeque;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::UnixTime;
use crate::ids::AccountId;

/// The `prev_hash` of the first event.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// How far back [`verify_chain`] looks to explain a broken link as an insertion, and how far forward it
/// tries old numbers to explain one as a deletion with renumbering. Longer runs are still detected,
/// just reported as a missing predecessor or an edit.
pub const LOOKBACK: usize = 1024;

/// The domain tag that starts every encoding, so these hashes cannot be confused with other SHA-256
/// uses.
const DOMAIN: &[u8] = b"keyward audit event v1\0";

/// What a caller records: the event before it is numbered and chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    /// When it happened.
    pub at: UnixTime,
    /// Who did it (a user, an operator, an API client, or the system).
    pub actor: String,
    /// Whom or what it concerns.
    pub target: String,
    /// What happened, e.g. `2fa.activated`.
    pub action: String,
    /// The client's IP address, when the event came from a request.
    pub ip: Option<String>,
    /// Further details for a person reading the log.
    pub detail: String,
    /// The customer account the event belongs to, for the account's own log; `None` for what concerns
    /// no account (an operator added, a key rotated).
    pub account: Option<AccountId>,
}

/// A stored audit event: the recorded fields, its number and its place in the hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Position in the log, from 1 without gaps.
    pub seq: u64,
    /// When it happened.
    pub at: UnixTime,
    /// Who did it.
    pub actor: String,
    /// Whom or what it concerns.
    pub target: String,
    /// What happened.
    pub action: String,
    /// The client's IP address, if any.
    pub ip: Option<String>,
    /// Further details.
    pub detail: String,
    /// The customer account it belongs to.
    pub account: Option<AccountId>,
    /// The hash of the event before (all zeros for the first).
    pub prev_hash: [u8; 32],
    /// SHA-256 over this event's encoding (see the [module documentation](self)).
    pub hash: [u8; 32],
}

impl AuditEvent {
    /// Numbers and chains a new event behind the event with hash `prev_hash` (or [`GENESIS_HASH`] for
    /// `seq` 1).
    pub fn chain(new: NewAuditEvent, seq: u64, prev_hash: [u8; 32]) -> AuditEvent {
        let NewAuditEvent { at, actor, target, action, ip, detail, account } = new;
        let mut event =
            AuditEvent { seq, at, actor, target, action, ip, detail, account, prev_hash, hash: [0; 32] };
        event.hash = event.compute_hash();
        event
    }

    /// The hash this event's contents and link should have.
    pub fn compute_hash(&self) -> [u8; 32] {
        self.hash_as(self.seq)
    }

    /// Whether the stored hash matches the contents: false means the row was edited.
    pub fn is_self_consistent(&self) -> bool {
        self.compute_hash() == self.hash
    }

    /// The hash the event would have if it carried number `seq`, to recognize a renumbered event.
    fn hash_as(&self, seq: u64) -> [u8; 32] {
        let mut sha = Sha256::new();
        sha.update(DOMAIN);
        sha.update(self.prev_hash);
        sha.update(seq.to_be_bytes());
        sha.update(self.at.seconds().to_be_bytes());
        for field in [&self.actor, &self.target, &self.action] {
            update_field(&mut sha, field);
        }
        match &self.ip {
            None => sha.update([0u8]),
            Some(ip) => {
                sha.update([1u8]);
                update_field(&mut sha, ip);
            }
        }
        update_field(&mut sha, &self.detail);
        if let Some(account) = self.account {
            sha.update([1u8]);
            sha.update(account.0.to_be_bytes());
        }
        sha.finalize().into()
    }
}

/// A length-prefixed field: `u64` big-endian byte length, then the bytes.
fn update_field(sha: &mut Sha256, field: &str) {
    sha.update((field.len() as u64).to_be_bytes());
    sha.update(field.as_bytes());
}

/// The four kinds of damage a chain can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakKind {
    /// An event's contents were changed.
    Edited,
    /// Events are missing.
    Deleted,
    /// Events that do not belong were added.
    Inserted,
    /// The separately stored head does not match the log.
    HeadMismatch,
}

/// The first problem [`verify_chain`] found. Event numbers are those in the log as it is now, except
/// for [`ChainBreak::DeletedAndRenumbered`] and [`ChainBreak::Truncated`], which name the missing
/// numbers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// The event's recomputed hash differs from its stored hash.
    #[error("event {seq} was edited: its contents no longer match its hash")]
    Edited {
        /// The edited event.
        seq: u64,
    },
    /// A gap in the numbering.
    #[error("{} deleted: the numbering jumps from {} to {}", span(*first, *last), first - 1, last + 1)]
    Deleted {
        /// The first missing number.
        first: u64,
        /// The last missing number.
        last: u64,
    },
    /// An event that hashes correctly only under a later number: events before it were deleted and
    /// the rest renumbered to close the gap.
    #[error(
        "{} deleted and the later events renumbered to hide it: event {first} hashes correctly only \
         under its old number {}",
        span(*first, *last),
        last + 1
    )]
    DeletedAndRenumbered {
        /// The first missing number (in the original numbering).
        first: u64,
        /// The last missing number (in the original numbering).
        last: u64,
    },
    /// A self-consistent event chained to an event that is no longer in the log.
    #[error(
        "event {seq} links to a predecessor that is no longer in the log: event {} was rewritten, \
         or events before {seq} were deleted and the rest renumbered",
        seq - 1
    )]
    MissingPredecessor {
        /// The event whose predecessor is missing.
        seq: u64,
    },
    /// The head records events after the last one in the log.
    #[error(
        "{} deleted from the end: the log ends at event {last_seq} but its head records event {head_seq}",
        span(last_seq + 1, *head_seq)
    )]
    Truncated {
        /// The last event in the log (0 when it is empty).
        last_seq: u64,
        /// The last event according to the head.
        head_seq: u64,
    },
    /// Events that the chain skips: the event after them links to the event before them.
    #[error("{} inserted: event {} links past {} to {}", span(*first, *last), last + 1, them(*first, *last), event_or_start(first - 1))]
    Inserted {
        /// The first foreign event.
        first: u64,
        /// The last foreign event.
        last: u64,
    },
    /// Two events with the same number.
    #[error("two events carry number {seq}: one of them was inserted")]
    DuplicateSeq {
        /// The number that appears twice.
        seq: u64,
    },
    /// Numbers going backwards (events should arrive ordered by number).
    #[error("event {seq} comes after event {after}: an event was inserted or renumbered")]
    OutOfOrder {
        /// The out-of-place number.
        seq: u64,
        /// The number before it.
        after: u64,
    },
    /// Events after the one the head records.
    #[error(
        "{} inserted after the head: the head says the log ends at event {head_seq}",
        span(head_seq + 1, *last_seq)
    )]
    BeyondHead {
        /// The last event according to the head.
        head_seq: u64,
        /// The last event in the log.
        last_seq: u64,
    },
    /// The event at the head's number has another hash than the head records.
    #[error(
        "event {seq} does not match the separately stored head: the log was rewritten up to it, \
         or the head was altered"
    )]
    HeadMismatch {
        /// The head's event number.
        seq: u64,
    },
}

impl ChainBreak {
    /// Which kind of damage this is.
    pub fn kind(&self) -> BreakKind {
        match self {
            ChainBreak::Edited { .. } => BreakKind::Edited,
            ChainBreak::Deleted { .. }
            | ChainBreak::DeletedAndRenumbered { .. }
            | ChainBreak::MissingPredecessor { .. }
            | ChainBreak::Truncated { .. } => BreakKind::Deleted,
            ChainBreak::Inserted { .. }
            | ChainBreak::DuplicateSeq { .. }
            | ChainBreak::OutOfOrder { .. }
            | ChainBreak::BeyondHead { .. } => BreakKind::Inserted,
            ChainBreak::HeadMismatch { .. } => BreakKind::HeadMismatch,
        }
    }

    /// The first event number concerned.
    pub fn seq(&self) -> u64 {
        match *self {
            ChainBreak::Edited { seq }
            | ChainBreak::MissingPredecessor { seq }
            | ChainBreak::DuplicateSeq { seq }
            | ChainBreak::OutOfOrder { seq, .. }
            | ChainBreak::HeadMismatch { seq } => seq,
            ChainBreak::Deleted { first, .. }
            | ChainBreak::DeletedAndRenumbered { first, .. }
            | ChainBreak::Inserted { first, .. } => first,
            ChainBreak::Truncated { last_seq, .. } => last_seq.saturating_add(1),
            ChainBreak::BeyondHead { head_seq, .. } => head_seq.saturating_add(1),
        }
    }
}

impl fmt::Display for BreakKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BreakKind::Edited => "edited",
            BreakKind::Deleted => "deleted",
            BreakKind::Inserted => "inserted",
            BreakKind::HeadMismatch => "head mismatch",
        })
    }
}

/// "event 3 was" or "events 3 to 5 were".
fn span(first: u64, last: u64) -> String {
    if first >= last { format!("event {first} was") } else { format!("events {first} to {last} were") }
}

fn them(first: u64, last: u64) -> &'static str {
    if first >= last { "it" } else { "them" }
}

fn event_or_start(seq: u64) -> String {
    if seq == 0 { "the start of the log".to_owned() } else { format!("event {seq}") }
}

/// Checks a chain given in order of `seq`, and against the separately stored `head` (last seq, last
/// hash) when there is one. Returns how many events were checked, or the first problem (see the
/// [module documentation](self) for the rules).
pub fn verify_chain(
    events: impl IntoIterator<Item = AuditEvent>,
    head: Option<(u64, [u8; 32])>,
) -> Result<u64, ChainBreak> {
    let mut events = events.into_iter().peekable();
    // The last accepted event, starting from the virtual event 0 before the first.
    let mut prev = (0u64, GENESIS_HASH);
    // Accepted events before `prev`, newest last, to recognize a link that skips events.
    let mut earlier: VecDeque<(u64, [u8; 32])> = VecDeque::new();
    let mut checked = 0u64;
    let mut hash_at_head = None;
    while let Some(event) = events.next() {
        check_event(&event, prev, &earlier, events.peek())?;
        if earlier.len() == LOOKBACK {
            earlier.pop_front();
        }
        earlier.push_back(prev);
        prev = (event.seq, event.hash);
        checked += 1;
        if head.is_some_and(|(head_seq, _)| head_seq == event.seq) {
            hash_at_head = Some(event.hash);
        }
    }
    let Some((head_seq, head_hash)) = head else { return Ok(checked) };
    let last_seq = prev.0;
    if last_seq < head_seq {
        return Err(ChainBreak::Truncated { last_seq, head_seq });
    }
    let found = if head_seq == 0 { Some(GENESIS_HASH) } else { hash_at_head };
    if found != Some(head_hash) {
        return Err(ChainBreak::HeadMismatch { seq: head_seq });
    }
    if last_seq > head_seq {
        return Err(ChainBreak::BeyondHead { head_seq, last_seq });
    }
    Ok(checked)
}

/// Checks one event against the accepted event before it (`prev`), the accepted events before that,
/// and a peek at the next event.
fn check_event(
    event: &AuditEvent,
    prev: (u64, [u8; 32]),
    earlier: &VecDeque<(u64, [u8; 32])>,
    next: Option<&AuditEvent>,
) -> Result<(), ChainBreak> {
    let (prev_seq, prev_hash) = prev;
    if event.seq == prev_seq {
        return Err(ChainBreak::DuplicateSeq { seq: event.seq });
    }
    if event.seq < prev_seq {
        return Err(ChainBreak::OutOfOrder { seq: event.seq, after: prev_seq });
    }
    // Here `event.seq > prev_seq`, so `prev_seq + 1` cannot overflow.
    if event.seq > prev_seq + 1 {
        return Err(ChainBreak::Deleted { first: prev_seq + 1, last: event.seq - 1 });
    }
    let intact = event.is_self_consistent();
    if event.prev_hash == prev_hash {
        return if intact { Ok(()) } else { Err(ChainBreak::Edited { seq: event.seq }) };
    }
    if let Some(&(skipped_to, _)) = earlier.iter().rev().find(|(_, hash)| *hash == event.prev_hash) {
        return Err(ChainBreak::Inserted { first: skipped_to + 1, last: prev_seq });
    }
    if !intact {
        let original = (1..=LOOKBACK as u64)
            .map_while(|d| event.seq.checked_add(d))
            .find(|&seq| event.hash_as(seq) == event.hash);
        return Err(match original {
            Some(original) => ChainBreak::DeletedAndRenumbered { first: event.seq, last: original - 1 },
            None => ChainBreak::Edited { seq: event.seq },
        });
    }
    if next.is_some_and(|next| next.prev_hash == prev_hash) {
        return Err(ChainBreak::Inserted { first: event.seq, last: event.seq });
    }
    Err(ChainBreak::MissingPredecessor { seq: event.seq })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn new_event(n: u64) -> NewAuditEvent {
        NewAuditEvent {
            at: UnixTime(1_750_000_000 + n * 60),
            actor: format!("admin{n}@example.com"),
            target: format!("user:{n}"),
            action: "2fa.activated".into(),
            ip: n.is_multiple_of(2).then(|| format!("192.0.2.{n}")),
            detail: format!("detail {n}"),
            account: n.is_multiple_of(3).then_some(AccountId(n as i64)),
        }
    }

    /// A valid chain of `len` events.
    fn chain(len: u64) -> Vec<AuditEvent> {
        let mut events: Vec<AuditEvent> = Vec::new();
        for n in 1..=len {
            let prev = events.last().map_or(GENESIS_HASH, |e| e.hash);
            events.push(AuditEvent::chain(new_event(n), n, prev));
        }
        events
    }

    fn head_of(events: &[AuditEvent]) -> Option<(u64, [u8; 32])> {
        Some(events.last().map_or((0, GENESIS_HASH), |e| (e.seq, e.hash)))
    }

    /// Renumbers events from `from` (an index) on to follow their position, optionally re-hashing them
    /// (keeping their `prev_hash`) or fully re-linking them, as forgers of increasing care would.
    fn renumber(events: &mut [AuditEvent], from: usize, care: Care) {
        for index in from..events.len() {
            events[index].seq = index as u64 + 1;
            if care == Care::Relink {
                events[index].prev_hash = if index == 0 { GENESIS_HASH } else { events[index - 1].hash };
            }
            if care != Care::None {
                events[index].hash = events[index].compute_hash();
            }
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Care {
        None,
        Rehash,
        Relink,
    }

    #[test]
    fn intact_chain_verifies() {
        let events = chain(6);
        assert_eq!(events[0].seq, 1);
        assert_eq!(events[0].prev_hash, GENESIS_HASH);
        assert!(events.windows(2).all(|w| w[1].prev_hash == w[0].hash));
        assert_eq!(verify_chain(events.clone(), None), Ok(6));
        assert_eq!(verify_chain(events.clone(), head_of(&events)), Ok(6));
    }

    #[test]
    fn empty_chain_with_and_without_head() {
        assert_eq!(verify_chain(Vec::new(), None), Ok(0));
        assert_eq!(verify_chain(Vec::new(), Some((0, GENESIS_HASH))), Ok(0));
        let events = chain(4);
        let broken = verify_chain(Vec::new(), head_of(&events)).unwrap_err();
        assert_eq!(broken, ChainBreak::Truncated { last_seq: 0, head_seq: 4 });
        assert_eq!(broken.kind(), BreakKind::Deleted);
        assert_eq!(
            broken.to_string(),
            "events 1 to 4 were deleted from the end: the log ends at event 0 but its head records event 4"
        );
        assert_eq!(verify_chain(Vec::new(), Some((0, [1; 32]))), Err(ChainBreak::HeadMismatch { seq: 0 }));
    }

    #[test]
    fn each_edited_field_of_event_3_is_found() {
        let edits: [fn(&mut AuditEvent); 10] = [
            |e| e.at = UnixTime(e.at.0 + 1),
            |e| e.actor.push('x'),
            |e| e.target = "user:999".into(),
            |e| e.action = "2fa.deactivated".into(),
            |e| e.ip = Some("198.51.100.1".into()),
            |e| e.ip = Some(String::new()),
            |e| e.detail.clear(),
            |e| e.account = Some(AccountId(7)),
            |e| e.account = None,
            |e| e.hash[0] ^= 1,
        ];
        for (index, edit) in edits.iter().enumerate() {
            let mut events = chain(6);
            edit(&mut events[2]);
            let broken = verify_chain(events.clone(), head_of(&chain(6))).unwrap_err();
            assert_eq!(broken, ChainBreak::Edited { seq: 3 }, "edit {index}");
            assert_eq!(broken.kind(), BreakKind::Edited);
            assert_eq!(broken.to_string(), "event 3 was edited: its contents no longer match its hash");
        }
        // Editing the link itself is an edit too.
        let mut events = chain(6);
        events[2].prev_hash[5] ^= 1;
        assert_eq!(verify_chain(events, None), Err(ChainBreak::Edited { seq: 3 }));
    }

    #[test]
    fn edited_and_rehashed_event_breaks_the_next_link() {
        let mut events = chain(6);
        events[2].detail = "nothing to see".into();
        events[2].hash = events[2].compute_hash();
        assert_eq!(verify_chain(events.clone(), None), Err(ChainBreak::MissingPredecessor { seq: 4 }));
        // Re-linking everything after it leaves only the head to notice.
        renumber(&mut events, 3, Care::Relink);
        assert_eq!(verify_chain(events.clone(), None), Ok(6));
        let broken = verify_chain(events, head_of(&chain(6))).unwrap_err();
        assert_eq!(broken, ChainBreak::HeadMismatch { seq: 6 });
        assert_eq!(broken.kind(), BreakKind::HeadMismatch);
    }

    #[test]
    fn deleted_event_3_is_found_however_it_is_hidden() {
        let head = head_of(&chain(6));
        // Plainly deleted: a gap.
        let mut events = chain(6);
        events.remove(2);
        let broken = verify_chain(events.clone(), head).unwrap_err();
        assert_eq!(broken, ChainBreak::Deleted { first: 3, last: 3 });
        assert_eq!(broken.kind(), BreakKind::Deleted);
        assert_eq!(broken.to_string(), "event 3 was deleted: the numbering jumps from 2 to 4");
        // Later events renumbered: event 4, now numbered 3, hashes only as 4.
        renumber(&mut events, 2, Care::None);
        let broken = verify_chain(events, head).unwrap_err();
        assert_eq!(broken, ChainBreak::DeletedAndRenumbered { first: 3, last: 3 });
        assert_eq!(broken.kind(), BreakKind::Deleted);
        // Renumbered and re-hashed, links kept: the new event 3 links to a missing event.
        let mut events = chain(6);
        events.remove(2);
        renumber(&mut events, 2, Care::Rehash);
        assert_eq!(verify_chain(events, head), Err(ChainBreak::MissingPredecessor { seq: 3 }));
        // Fully re-linked: only the head knows.
        let mut events = chain(6);
        events.remove(2);
        renumber(&mut events, 2, Care::Relink);
        assert_eq!(verify_chain(events.clone(), None), Ok(5));
        assert_eq!(verify_chain(events, head), Err(ChainBreak::Truncated { last_seq: 5, head_seq: 6 }));
        // Several events, and the first ones.
        let mut events = chain(6);
        events.drain(1..4);
        assert_eq!(verify_chain(events, head), Err(ChainBreak::Deleted { first: 2, last: 4 }));
        let mut events = chain(6);
        events.remove(0);
        assert_eq!(verify_chain(events.clone(), head), Err(ChainBreak::Deleted { first: 1, last: 1 }));
        renumber(&mut events, 0, Care::None);
        assert_eq!(verify_chain(events, head), Err(ChainBreak::DeletedAndRenumbered { first: 1, last: 1 }));
    }

    #[test]
    fn deleted_last_event_needs_the_head() {
        let full = chain(6);
        let mut events = full.clone();
        events.pop();
        assert_eq!(verify_chain(events.clone(), None), Ok(5), "without a head a truncation is invisible");
        let broken = verify_chain(events, head_of(&full)).unwrap_err();
        assert_eq!(broken, ChainBreak::Truncated { last_seq: 5, head_seq: 6 });
        assert_eq!(broken.kind(), BreakKind::Deleted);
        assert_eq!(
            broken.to_string(),
            "event 6 was deleted from the end: the log ends at event 5 but its head records event 6"
        );
    }

    /// A forged, self-consistent event spliced in as number 3, linked to event 2.
    fn with_forgery(link: [u8; 32]) -> Vec<AuditEvent> {
        let mut events = chain(6);
        let forged = AuditEvent::chain(
            NewAuditEvent { action: "2fa.deactivated".into(), ..new_event(99) },
            3,
            if link == GENESIS_HASH { events[1].hash } else { link },
        );
        events.insert(2, forged);
        events
    }

    #[test]
    fn inserted_event_is_found_however_it_is_hidden() {
        let head = head_of(&chain(6));
        // Later events renumbered only: event 4 (formerly 3) still links to event 2.
        let mut events = with_forgery(GENESIS_HASH);
        renumber(&mut events, 3, Care::None);
        let broken = verify_chain(events, head).unwrap_err();
        assert_eq!(broken, ChainBreak::Inserted { first: 3, last: 3 });
        assert_eq!(broken.kind(), BreakKind::Inserted);
        assert_eq!(broken.to_string(), "event 3 was inserted: event 4 links past it to event 2");
        // Renumbered and re-hashed, links kept: the same.
        let mut events = with_forgery(GENESIS_HASH);
        renumber(&mut events, 3, Care::Rehash);
        assert_eq!(verify_chain(events, head), Err(ChainBreak::Inserted { first: 3, last: 3 }));
        // A careless forgery that links nowhere: the next event skipping it gives it away.
        let mut events = with_forgery([7; 32]);
        renumber(&mut events, 3, Care::Rehash);
        assert_eq!(verify_chain(events, head), Err(ChainBreak::Inserted { first: 3, last: 3 }));
        // Two forgeries in a row.
        let mut events = with_forgery(GENESIS_HASH);
        let second = AuditEvent::chain(new_event(98), 4, events[2].hash);
        events.insert(3, second);
        renumber(&mut events, 4, Care::None);
        assert_eq!(
            verify_chain(events, head).unwrap_err().to_string(),
            "events 3 to 4 were inserted: event 5 links past them to event 2"
        );
        // Everything re-linked: the event numbered 6 is no longer the one the head names.
        let mut events = with_forgery(GENESIS_HASH);
        renumber(&mut events, 3, Care::Relink);
        assert_eq!(verify_chain(events.clone(), None), Ok(7));
        assert_eq!(verify_chain(events, head), Err(ChainBreak::HeadMismatch { seq: 6 }));
        // A forged first event.
        let mut events = chain(3);
        events.insert(0, AuditEvent::chain(new_event(97), 1, GENESIS_HASH));
        renumber(&mut events, 1, Care::None);
        assert_eq!(
            verify_chain(events, None).unwrap_err().to_string(),
            "event 1 was inserted: event 2 links past it to the start of the log"
        );
    }

    #[test]
    fn duplicate_and_backwards_numbers_are_insertions() {
        let mut events = with_forgery(GENESIS_HASH);
        // The forgery keeps number 3 next to the real event 3.
        let broken = verify_chain(events.clone(), head_of(&chain(6))).unwrap_err();
        assert_eq!(broken, ChainBreak::DuplicateSeq { seq: 3 });
        assert_eq!(broken.kind(), BreakKind::Inserted);
        events.swap(2, 3);
        assert_eq!(verify_chain(events, None), Err(ChainBreak::DuplicateSeq { seq: 3 }));
        let mut events = chain(6);
        events.swap(2, 4);
        assert_eq!(verify_chain(events, None), Err(ChainBreak::Deleted { first: 3, last: 4 }));
        let mut events = chain(6);
        events[3].seq = 2;
        assert_eq!(verify_chain(events, None), Err(ChainBreak::OutOfOrder { seq: 2, after: 3 }));
    }

    #[test]
    fn events_beyond_the_head_are_insertions() {
        let events = chain(6);
        let stale_head = Some((5, events[4].hash));
        let broken = verify_chain(events, stale_head).unwrap_err();
        assert_eq!(broken, ChainBreak::BeyondHead { head_seq: 5, last_seq: 6 });
        assert_eq!(broken.kind(), BreakKind::Inserted);
        assert_eq!(verify_chain(chain(2), Some((0, GENESIS_HASH))).unwrap_err().seq(), 1);
    }

    #[test]
    fn the_encoding_is_unambiguous_and_pinned() {
        let base = AuditEvent::chain(new_event(1), 1, GENESIS_HASH);
        let shifted = AuditEvent::chain(
            NewAuditEvent { actor: "admin1@example.comu".into(), target: "ser:1".into(), ..new_event(1) },
            1,
            GENESIS_HASH,
        );
        assert_ne!(base.hash, shifted.hash);
        let empty_ip =
            AuditEvent::chain(NewAuditEvent { ip: Some(String::new()), ..new_event(1) }, 1, GENESIS_HASH);
        let no_ip = AuditEvent::chain(NewAuditEvent { ip: None, ..new_event(1) }, 1, GENESIS_HASH);
        assert_ne!(empty_ip.hash, no_ip.hash);
        // The documented encoding, computed independently with Python's hashlib.
        let pinned = NewAuditEvent {
            at: UnixTime(1_750_000_000),
            actor: "admin@example.com".into(),
            target: "user:42".into(),
            action: "2fa.activated".into(),
            ip: Some("192.0.2.1".into()),
            detail: "ünïcode".into(),
            account: None,
        };
        let event = AuditEvent::chain(pinned.clone(), 7, [0xAB; 32]);
        assert_eq!(hex::encode(event.hash), PINNED_HASH, "an event without an account hashes as before");
        let with_account =
            AuditEvent::chain(NewAuditEvent { account: Some(AccountId(3)), ..pinned }, 7, [0xAB; 32]);
        assert_eq!(hex::encode(with_account.hash), PINNED_HASH_WITH_ACCOUNT);
    }

    const PINNED_HASH: &str = "90d7cab384c3b3bcae9bfc314b977a17acb3cd03ba5f2c2e12d73d174ce0c520";
    const PINNED_HASH_WITH_ACCOUNT: &str = "bd0f62adf2c091815ebd4fa07a969ef517a6f5efba227ad3a7049c15f3de5904";

    proptest! {
        #[test]
        fn any_single_edit_is_detected(
            index in 0usize..8,
            field in 0usize..7,
            byte in any::<u8>(),
        ) {
            let original = chain(8);
            let mut events = original.clone();
            let event = &mut events[index];
            let text = char::from(byte % 94 + 33).to_string();
            match field {
                0 => event.at = UnixTime(event.at.0 ^ (u64::from(byte) + 1)),
                1 => event.actor.push_str(&text),
                2 => event.target.insert_str(0, &text),
                3 => event.action = text,
                4 => event.ip = if event.ip.is_some() { None } else { Some(text) },
                5 => event.detail.push_str(&text),
                _ => event.prev_hash[usize::from(byte % 32)] ^= 1,
            }
            let broken = verify_chain(events, head_of(&original)).unwrap_err();
            prop_assert_eq!(broken, ChainBreak::Edited { seq: index as u64 + 1 });
        }

        #[test]
        fn any_deletion_is_detected(index in 0usize..8, care in 0u8..3) {
            let original = chain(8);
            let mut events = original.clone();
            events.remove(index);
            let care = [Care::None, Care::Rehash, Care::Relink][usize::from(care)];
            renumber(&mut events, index, care);
            let broken = verify_chain(events, head_of(&original)).unwrap_err();
            prop_assert_eq!(broken.kind(), BreakKind::Deleted, "{}", broken);
        }

        #[test]
        fn any_insertion_is_detected(index in 0usize..=8, care in 0u8..3) {
            let original = chain(8);
            let mut events = original.clone();
            let prev = if index == 0 { GENESIS_HASH } else { events[index - 1].hash };
            events.insert(index, AuditEvent::chain(new_event(99), index as u64 + 1, prev));
            let care = [Care::None, Care::Rehash, Care::Relink][usize::from(care)];
            renumber(&mut events, index + 1, care);
            let broken = verify_chain(events, head_of(&original)).unwrap_err();
            let expected = if care == Care::Relink && index < 8 { BreakKind::HeadMismatch } else { BreakKind::Inserted };
            prop_assert_eq!(broken.kind(), expected, "{}", broken);
        }
    }
}
