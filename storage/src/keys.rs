//! Key encoding for every tree, in one place.
//!
//! A bare JID never contains a NUL byte (RFC 7622 forbids control characters), so
//! `bare || 0x00 || suffix` keys sort all of one account's records together and can be scanned
//! by prefix without ever matching a longer JID that shares a textual prefix.

/// Key of an account record.
pub fn account(bare: &str) -> Vec<u8> {
    bare.as_bytes().to_vec()
}

/// Prefix of all records that belong to one account in a per-account tree.
pub fn account_prefix(bare: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bare.len() + 1);
    k.extend_from_slice(bare.as_bytes());
    k.push(0);
    k
}

/// Key of an offline message: the account prefix and a big-endian sequence number, so
/// iteration order is arrival order.
pub fn offline(bare: &str, seq: u64) -> Vec<u8> {
    let mut k = account_prefix(bare);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Key of a roster entry (live item or tombstone): the account prefix and the contact's JID.
pub fn roster(bare: &str, contact: &str) -> Vec<u8> {
    let mut k = account_prefix(bare);
    k.extend_from_slice(contact.as_bytes());
    k
}

/// Key of an inbox slot: the roster key of the contact, a NUL, and the slot's tag.
pub fn inbox(bare: &str, contact: &str, slot_tag: u8) -> Vec<u8> {
    let mut k = roster(bare, contact);
    k.push(0);
    k.push(slot_tag);
    k
}

/// The contact and slot tag of an inbox key of `bare`.
pub fn inbox_parts<'a>(bare: &str, key: &'a [u8]) -> Option<(&'a [u8], u8)> {
    let rest = key.get(bare.len() + 1..)?;
    let (tag, rest) = rest.split_last()?;
    let (nul, contact) = rest.split_last()?;
    (*nul == 0).then_some((contact, *tag))
}

/// The sequence number of an offline key produced by [`offline`].
pub fn offline_seq(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_keys_sort_by_sequence_and_round_trip() {
        let a = offline("juliet@capulet.lit", 2);
        let b = offline("juliet@capulet.lit", 300);
        assert!(a < b);
        assert_eq!(offline_seq(&b), Some(300));
        assert!(b.starts_with(&account_prefix("juliet@capulet.lit")));
        assert!(!b.starts_with(&account_prefix("juliet@capulet.li")));
    }

    #[test]
    fn inbox_keys_round_trip() {
        let k = inbox("juliet@capulet.lit", "romeo@montague.lit", b'r');
        assert_eq!(
            inbox_parts("juliet@capulet.lit", &k),
            Some((&b"romeo@montague.lit"[..], b'r'))
        );
        assert!(k.starts_with(&account_prefix("juliet@capulet.lit")));
    }
}
