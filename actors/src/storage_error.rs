//! How a failed storage operation is answered and logged: once, here, at the edge.
//!
//! A store that is refusing writes (a full or failing disk, see `cordial_storage::Store`) is
//! answered `<resource-constraint/>` of type `wait` (RFC 6120 §8.3.3.18): the client may try
//! again later, and the server will take it once the store is back. Anything else (a record
//! that does not decode) is `<internal-server-error/>` (§8.3.3.5).

use cordial_storage::StorageError;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType};

/// The stanza error for a request that failed on `e`.
pub fn answer(e: &StorageError) -> (ErrorType, DefinedCondition) {
    if e.is_outage() {
        (ErrorType::Wait, DefinedCondition::ResourceConstraint)
    } else {
        (ErrorType::Wait, DefinedCondition::InternalServerError)
    }
}

/// Logs a failed storage operation. An outage is logged once by the store when it starts and
/// once when it ends, so each operation it refuses is only a debug line; anything else is an
/// error.
pub fn log(what: std::fmt::Arguments, e: &StorageError) {
    if e.is_outage() {
        log::debug!("{what}: {e}");
    } else {
        log::error!("{what}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_a_resource_constraint_and_a_bad_record_an_internal_error() {
        let outage = StorageError::Unavailable("No space left on device".into());
        assert_eq!(
            answer(&outage),
            (ErrorType::Wait, DefinedCondition::ResourceConstraint)
        );
        let corrupt = StorageError::Corrupt("roster item: expected value".into());
        assert_eq!(
            answer(&corrupt),
            (ErrorType::Wait, DefinedCondition::InternalServerError)
        );
    }
}
