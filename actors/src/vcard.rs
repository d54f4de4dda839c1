//! vCard-temp (XEP-0054), answered by the server for its accounts: anyone may get an account's
//! vCard, only the account may set its own, and a stored vCard is size-limited
//! (`vcard_max_bytes`). Storage is `VcardStore`; the vCard is kept as the XML the user sent.

use std::sync::Arc;

use jid::BareJid;
use minidom::Element;

use crate::error::{RequestError, Result};
use crate::ns;
use crate::router::Router;

/// An iq get or set with a `vcard-temp` payload, from `requester`, about `account`'s vCard:
/// the payload of the result, or why it is refused.
pub async fn vcard(
    router: &Arc<Router>,
    requester: &BareJid,
    account: &BareJid,
    get: bool,
    payload: &Element,
) -> Result<Option<Element>> {
    if payload.name() != "vCard" {
        return Err(RequestError::bad_request(
            "The payload of vcard-temp is <vCard/>",
        ));
    }
    if get {
        self::get(router, requester, account).map(Some)
    } else {
        set(router, requester, account, payload)
            .await
            .map(|()| None)
    }
}

/// XEP-0054 §3.1, §3.3: the account's vCard, to itself or anyone else. An account that has
/// none gets an empty `<vCard/>` (one of the two answers §3.1 allows); anyone else asking for
/// a vCard that does not exist gets `<item-not-found/>`, as §3.3 requires (and Prosody
/// answers).
fn get(router: &Arc<Router>, requester: &BareJid, account: &BareJid) -> Result<Element> {
    let stored = router
        .store
        .vcard(account.as_str())
        .map_err(|e| RequestError::storage(format_args!("reading vCard of {account}"), e))?;
    match stored {
        Some(xml) => xml.parse::<Element>().map_err(|e| {
            RequestError::Internal(format!("stored vCard of {account} is unreadable: {e}"))
        }),
        None if requester == account => Ok(Element::bare("vCard", ns::VCARD)),
        None => Err(RequestError::ItemNotFound("No vCard is stored".into())),
    }
}

/// XEP-0054 §3.2: the account sets its own vCard (nobody else may: `<forbidden/>`); one over
/// the limit is `<not-acceptable/>`. Answered once the vCard is on disk.
async fn set(
    router: &Arc<Router>,
    requester: &BareJid,
    account: &BareJid,
    payload: &Element,
) -> Result<()> {
    if requester != account {
        return Err(RequestError::Forbidden(
            "Only the account itself may set its vCard".into(),
        ));
    }
    let xml = String::from(payload);
    let limit = router.config().vcard_max_bytes;
    if xml.len() > limit {
        return Err(RequestError::not_acceptable(format!(
            "The vCard is {} bytes; the limit is {limit}",
            xml.len()
        )));
    }
    let store = &router.store;
    let stored = store.set_vcard(account.as_str(), &xml);
    stored
        .and(store.flush().await)
        .map_err(|e| RequestError::storage(format_args!("storing vCard of {account}"), e))
}
