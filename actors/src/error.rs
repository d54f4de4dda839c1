//! Why the actors refused or failed a client's request: one error type for the layer, mapped to
//! a stanza error (RFC 6120 §8.3) once, in [`RequestError::answer`], and logged once, in
//! [`RequestError::log`].
//!
//! Feature models (roster, privacy, blocking) return it from their parsers; handlers return it
//! or pass it to the account actor's single reply path (`UserActor::refuse`).
//!
//! A store that is refusing writes (a full or failing disk, see `cordial_storage::Store`) is
//! answered `<resource-constraint/>` of type `wait` (§8.3.3.18): the client may try again
//! later, and the server will take it once the store is back. Anything else that fails inside
//! the server (a record that does not decode, an actor gone) is `<internal-server-error/>`
//! (§8.3.3.5), with its details only in the log.

use std::borrow::Cow;

use cordial_storage::StorageError;
use minidom::Element;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType};

/// A refused or failed request. The texts of the client's own mistakes go back to it; faults
/// of the server are logged and answered without detail.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The request breaks the protocol's syntax (§8.3.3.1; modify).
    #[error("bad request: {0}")]
    BadRequest(Cow<'static, str>),
    /// Beyond a limit of the server, or not representable (§8.3.3.12; modify).
    #[error("not acceptable: {0}")]
    NotAcceptable(Cow<'static, str>),
    /// An address in the payload is not a JID (§8.3.3.8; modify).
    #[error("malformed JID: {0}")]
    JidMalformed(Cow<'static, str>),
    /// What the request names does not exist (§8.3.3.7; cancel).
    #[error("not found: {0}")]
    ItemNotFound(Cow<'static, str>),
    /// The request collides with state held elsewhere (§8.3.3.4; cancel).
    #[error("conflict: {0}")]
    Conflict(Cow<'static, str>),
    /// The server does not allow it (§8.3.3.10; cancel).
    #[error("not allowed: {0}")]
    NotAllowed(Cow<'static, str>),
    /// The requester may not do this, though another entity could (§8.3.3.6; auth).
    #[error("forbidden: {0}")]
    Forbidden(Cow<'static, str>),
    /// Only a registered entity may do this (§8.3.3.15; auth).
    #[error("registration required: {0}")]
    RegistrationRequired(Cow<'static, str>),
    /// Understood, but not something this server implements (§8.3.3.3; cancel).
    #[error("feature not implemented")]
    FeatureNotImplemented,
    /// Nothing here offers that (§8.3.3.19; cancel).
    #[error("service unavailable")]
    ServiceUnavailable,
    /// The store failed while doing `what`.
    #[error("{what}: {source}")]
    Storage { what: String, source: StorageError },
    /// Something inside the server failed (an actor stopped before it answered).
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = RequestError> = std::result::Result<T, E>;

impl RequestError {
    pub fn bad_request(text: impl Into<Cow<'static, str>>) -> Self {
        RequestError::BadRequest(text.into())
    }

    pub fn not_acceptable(text: impl Into<Cow<'static, str>>) -> Self {
        RequestError::NotAcceptable(text.into())
    }

    /// The store failed while doing `what` (for the log; the client sees only the condition).
    pub fn storage(what: impl std::fmt::Display, source: StorageError) -> Self {
        RequestError::Storage {
            what: what.to_string(),
            source,
        }
    }

    /// The stanza error it is answered with: type, condition, and the text the client sees.
    pub fn answer(&self) -> (ErrorType, DefinedCondition, Option<&str>) {
        use DefinedCondition as C;
        use RequestError as E;
        match self {
            E::BadRequest(t) => (ErrorType::Modify, C::BadRequest, Some(t)),
            E::NotAcceptable(t) => (ErrorType::Modify, C::NotAcceptable, Some(t)),
            E::JidMalformed(t) => (ErrorType::Modify, C::JidMalformed, Some(t)),
            E::ItemNotFound(t) => (ErrorType::Cancel, C::ItemNotFound, Some(t)),
            E::Conflict(t) => (ErrorType::Cancel, C::Conflict, Some(t)),
            E::NotAllowed(t) => (ErrorType::Cancel, C::NotAllowed, Some(t)),
            E::Forbidden(t) => (ErrorType::Auth, C::Forbidden, Some(t)),
            E::RegistrationRequired(t) => (ErrorType::Auth, C::RegistrationRequired, Some(t)),
            E::FeatureNotImplemented => (ErrorType::Cancel, C::FeatureNotImplemented, None),
            E::ServiceUnavailable => (ErrorType::Cancel, C::ServiceUnavailable, None),
            E::Storage { source, .. } => {
                let (type_, condition) = storage_answer(source);
                (type_, condition, None)
            }
            E::Internal(_) => (ErrorType::Wait, C::InternalServerError, None),
        }
    }

    /// Logs it: a fault of the server as an error (an outage only at debug, see
    /// [`log_storage`]), a client's mistake at debug.
    pub fn log(&self, whose: &dyn std::fmt::Display) {
        match self {
            RequestError::Storage { what, source } => {
                log_storage(format_args!("{whose}: {what}"), source)
            }
            RequestError::Internal(e) => log::error!("{whose}: {e}"),
            other => log::debug!("{whose}: refused: {other}"),
        }
    }
}

impl RequestError {
    /// The error reply to `request`, logged first (see [`Self::log`]): how every refused or
    /// failed request is answered, by an actor or by the server for a session.
    pub fn reply(&self, request: &Element, whose: &dyn std::fmt::Display) -> Option<Element> {
        self.log(whose);
        let (type_, condition, text) = self.answer();
        crate::stanza::error_reply(request, type_, condition, text)
    }
}

impl From<actix::MailboxError> for RequestError {
    fn from(e: actix::MailboxError) -> Self {
        RequestError::Internal(format!("an actor stopped before it answered: {e}"))
    }
}

/// The stanza error for a request that failed on `e`: `<resource-constraint/>` during an
/// outage, else `<internal-server-error/>`.
pub fn storage_answer(e: &StorageError) -> (ErrorType, DefinedCondition) {
    if e.is_outage() {
        (ErrorType::Wait, DefinedCondition::ResourceConstraint)
    } else {
        (ErrorType::Wait, DefinedCondition::InternalServerError)
    }
}

/// Logs a failed storage operation. An outage is logged once by the store when it starts and
/// once when it ends, so each operation it refuses is only a debug line; anything else is an
/// error.
pub fn log_storage(what: std::fmt::Arguments, e: &StorageError) {
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
            RequestError::storage("writing", outage).answer(),
            (ErrorType::Wait, DefinedCondition::ResourceConstraint, None)
        );
        let corrupt = StorageError::Corrupt("roster item: expected value".into());
        assert_eq!(
            RequestError::storage("reading", corrupt).answer(),
            (ErrorType::Wait, DefinedCondition::InternalServerError, None)
        );
    }

    #[test]
    fn a_clients_mistake_is_answered_with_its_text_and_a_fault_without_detail() {
        assert_eq!(
            RequestError::bad_request("an item needs a jid").answer(),
            (
                ErrorType::Modify,
                DefinedCondition::BadRequest,
                Some("an item needs a jid")
            )
        );
        let gone = RequestError::Internal("the list's writer is gone".into());
        assert_eq!(
            gone.answer(),
            (ErrorType::Wait, DefinedCondition::InternalServerError, None)
        );
    }
}
