//! The hash chain: each entry's hash covers the hash before it and the
//! entry's own fields, so changing, removing or reordering a stored entry
//! breaks every link after it.

use sha2::{Digest as _, Sha256};

use super::model::AuditEvent;

/// The hash a project's first entry links to.
pub fn genesis(project: &str) -> Vec<u8> {
    Sha256::new()
        .chain_update(b"patchbay audit v1 genesis\0")
        .chain_update(project.as_bytes())
        .finalize()
        .to_vec()
}

/// SHA-256 over the previous hash and the entry's fields as canonical JSON
/// (serde's field order, which `AuditEvent` fixes).
pub fn entry_hash(prev_hash: &[u8], event: &AuditEvent) -> Vec<u8> {
    let fields = serde_json::to_vec(event)
        .unwrap_or_else(|_| unreachable!("an audit entry serializes: strings, numbers, a time"));
    Sha256::new()
        .chain_update(b"patchbay audit v1\0")
        .chain_update(prev_hash)
        .chain_update(&fields)
        .finalize()
        .to_vec()
}

/// How verification ended: the first entry that breaks the chain, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact { checked: u64 },
    Broken { seq: i64, problem: Break },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Break {
    /// No entry with this seq: deleted.
    Missing,
    /// The entry's fields no longer give its hash: changed.
    Altered,
    /// The entry links to a different hash than its predecessor's: an entry
    /// before it was replaced, or the entries were reordered.
    Unlinked,
}

/// Walks entries in seq order from an anchor, one page at a time.
pub struct Walk {
    next_seq: i64,
    prev_hash: Vec<u8>,
    checked: u64,
}

impl Walk {
    pub fn from_anchor(anchor_seq: i64, anchor_hash: Vec<u8>) -> Self {
        Self {
            next_seq: anchor_seq + 1,
            prev_hash: anchor_hash,
            checked: 0,
        }
    }

    /// The seq the next entry must have.
    pub fn next_seq(&self) -> i64 {
        self.next_seq
    }

    /// How many entries checked out so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// Checks the next entry; the first break ends the walk.
    pub fn step(&mut self, event: &AuditEvent) -> Result<(), (i64, Break)> {
        if event.seq != self.next_seq {
            return Err((self.next_seq, Break::Missing));
        }
        if event.prev_hash != self.prev_hash {
            return Err((event.seq, Break::Unlinked));
        }
        if entry_hash(&event.prev_hash, event) != event.hash {
            return Err((event.seq, Break::Altered));
        }
        self.prev_hash.clone_from(&event.hash);
        self.next_seq += 1;
        self.checked += 1;
        Ok(())
    }

    /// After the last entry of a range that ends before the head: every
    /// entry up to `last_seq` must have been walked.
    pub fn finish_at(self, last_seq: i64) -> Verdict {
        if self.next_seq <= last_seq {
            Verdict::Broken {
                seq: self.next_seq,
                problem: Break::Missing,
            }
        } else {
            Verdict::Intact {
                checked: self.checked,
            }
        }
    }

    /// After the last entry: it must be the one the chain's head names, or
    /// entries were cut off the end.
    pub fn finish(self, last_seq: i64, last_hash: &[u8]) -> Verdict {
        let walked_to = self.next_seq - 1;
        let broken = |seq, problem| Verdict::Broken { seq, problem };
        match walked_to.cmp(&last_seq) {
            std::cmp::Ordering::Less => broken(self.next_seq, Break::Missing),
            std::cmp::Ordering::Greater => broken(last_seq + 1, Break::Unlinked),
            std::cmp::Ordering::Equal if self.prev_hash != last_hash => {
                broken(last_seq, Break::Unlinked)
            }
            std::cmp::Ordering::Equal => Verdict::Intact {
                checked: self.checked,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::model::FieldChange;

    fn chain(n: i64) -> Vec<AuditEvent> {
        let mut prev = genesis("acme");
        (1..=n)
            .map(|seq| {
                let mut event = AuditEvent {
                    project: "acme".into(),
                    seq,
                    id: uuid::Uuid::now_v7(),
                    time: chrono::Utc::now(),
                    actor: "alice".into(),
                    method: "IntegrationRegistry.UpdateConnection".into(),
                    resource: "projects/acme/connections/web".into(),
                    request_id: None,
                    peer: "127.0.0.1:1".into(),
                    user_agent: "test".into(),
                    outcome: "OK".into(),
                    changes: vec![FieldChange::set("display_name", format!("v{seq}"))],
                    prev_hash: prev.clone(),
                    hash: Vec::new(),
                };
                event.hash = entry_hash(&prev, &event);
                prev.clone_from(&event.hash);
                event
            })
            .collect()
    }

    fn verdict(events: &[AuditEvent], last: &AuditEvent) -> Verdict {
        let mut walk = Walk::from_anchor(0, genesis("acme"));
        for event in events {
            if let Err((seq, problem)) = walk.step(event) {
                return Verdict::Broken { seq, problem };
            }
        }
        walk.finish(last.seq, &last.hash)
    }

    #[test]
    fn an_intact_chain_verifies_and_each_kind_of_tampering_is_named() {
        let events = chain(5);
        let last = events[4].clone();
        assert_eq!(verdict(&events, &last), Verdict::Intact { checked: 5 });

        let mut altered = events.clone();
        altered[2].changes[0].after = Some("forged".into());
        let broken = |seq, problem| Verdict::Broken { seq, problem };
        assert_eq!(verdict(&altered, &last), broken(3, Break::Altered));

        let mut deleted = events.clone();
        deleted.remove(1);
        assert_eq!(verdict(&deleted, &last), broken(2, Break::Missing));

        // A forged entry whose own hash is right still fails its successor's link.
        let mut rehashed = events.clone();
        rehashed[1].actor = "mallory".into();
        rehashed[1].hash = entry_hash(&rehashed[1].prev_hash, &rehashed[1]);
        assert_eq!(verdict(&rehashed, &last), broken(3, Break::Unlinked));

        assert_eq!(verdict(&events[..4], &last), broken(5, Break::Missing));

        let mut relinked_tail = events.clone();
        relinked_tail[4].hash = vec![0; 32];
        assert_eq!(verdict(&relinked_tail, &last), broken(5, Break::Altered));

        // The last entry forged whole, its own hash recomputed: only the
        // chain's head still knows the real one.
        let mut forged_tail = events.clone();
        forged_tail[4].actor = "mallory".into();
        forged_tail[4].hash = entry_hash(&forged_tail[4].prev_hash, &forged_tail[4]);
        assert_eq!(verdict(&forged_tail, &last), broken(5, Break::Unlinked));

        // An entry appended past the head, around the chain's lock.
        assert_eq!(verdict(&events, &events[3]), broken(5, Break::Unlinked));
    }

    #[test]
    fn anchors_let_a_purged_chain_verify_from_its_first_kept_entry() {
        let events = chain(6);
        let mut walk = Walk::from_anchor(3, events[2].hash.clone());
        for event in &events[3..] {
            walk.step(event).expect("linked");
        }
        assert_eq!(
            walk.finish(6, &events[5].hash),
            Verdict::Intact { checked: 3 }
        );
        assert_ne!(genesis("acme"), genesis("other"));
    }

    #[test]
    fn a_range_that_ends_before_the_head_must_reach_its_end() {
        let events = chain(5);
        let mut walk = Walk::from_anchor(1, events[0].hash.clone());
        walk.step(&events[1]).expect("linked");
        walk.step(&events[2]).expect("linked");
        assert_eq!(
            Walk::from_anchor(1, events[0].hash.clone()).finish_at(1),
            Verdict::Intact { checked: 0 }
        );
        let short = |walk: Walk, last| walk.finish_at(last);
        let mut again = Walk::from_anchor(1, events[0].hash.clone());
        again.step(&events[1]).expect("linked");
        again.step(&events[2]).expect("linked");
        assert_eq!(short(walk, 3), Verdict::Intact { checked: 2 });
        assert_eq!(
            short(again, 4),
            Verdict::Broken {
                seq: 4,
                problem: Break::Missing
            }
        );
    }
}
