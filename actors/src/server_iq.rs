//! IQs the server answers itself (RFC 6120 §10.3.3, RFC 6121 §8.5.2.1.3), routed by payload
//! namespace to the feature that answers it: [`disco`](crate::disco) (XEP-0030),
//! [`vcard`](crate::vcard) (XEP-0054), [`registration`](crate::registration) (XEP-0077); ping
//! (XEP-0199), software version (XEP-0092) and the legacy session are answered here.
//!
//! What a session may ask is the table [`disco::SESSION_FEATURES`]: a namespace whose switch is
//! off is answered as one the server does not offer. Each feature returns the payload of its
//! result or a [`RequestError`], answered here in one place.

use std::sync::Arc;

use jid::{BareJid, FullJid};
use minidom::Element;

use crate::disco;
use crate::error::{RequestError, Result};
use crate::ns;
use crate::registration;
use crate::router::Router;
use crate::stanza;
use crate::vcard::vcard;

/// An iq get/set from a session to the server, or to no one (RFC 6120 §10.3.3).
pub async fn handle_for_session(
    router: &Arc<Router>,
    full: &FullJid,
    iq: &Element,
) -> Option<Element> {
    let answered = for_session(router, full, iq).await;
    if stanza::iq_payload(iq).is_some_and(|p| p.ns() == ns::REGISTER) {
        // XEP-0077 §3.3: a refused password change does not carry the password back.
        return reply(&registration::without_query(iq), answered, full);
    }
    reply(iq, answered, full)
}

async fn for_session(
    router: &Arc<Router>,
    full: &FullJid,
    iq: &Element,
) -> Result<Option<Element>> {
    let payload = single_payload(iq)?;
    let get = iq.attr("type") == Some("get");
    let config = &router.config();
    match payload.ns().as_str() {
        // RFC 3921 §3: the legacy session iq, advertised as optional; a no-op now.
        ns::SESSION if payload.name() == "session" && !get => Ok(None),
        n if !disco::session_feature_enabled(config, n) => Err(RequestError::ServiceUnavailable),
        ns::DISCO_INFO | ns::DISCO_ITEMS if get && payload.attr("node").is_some() => {
            Err(disco::unknown_node())
        }
        ns::DISCO_INFO if get => Ok(Some(disco::server_info(config))),
        ns::DISCO_ITEMS if get => Ok(Some(disco::server_items())),
        // XEP-0199 §4.2: a ping to the server is answered with an empty result.
        ns::PING if get => Ok(None),
        ns::VERSION if get => Ok(Some(software_version())),
        ns::VCARD => vcard(router, &full.to_bare(), &full.to_bare(), get, payload).await,
        ns::REGISTER => registration::after_login(router, full, get, payload).await,
        _ => Err(RequestError::FeatureNotImplemented),
    }
}

/// An iq get/set to an account's bare JID, answered by the server on the account's behalf
/// (RFC 6121 §8.5.2.1.3): `<service-unavailable/>` for anything it does not handle.
pub async fn on_behalf_of_account(
    router: &Arc<Router>,
    account: &BareJid,
    iq: &Element,
) -> Option<Element> {
    if !matches!(iq.attr("type"), Some("get") | Some("set")) {
        return None;
    }
    let answered = for_account(router, account, iq).await;
    reply(iq, answered, account)
}

async fn for_account(
    router: &Arc<Router>,
    account: &BareJid,
    iq: &Element,
) -> Result<Option<Element>> {
    let payload = single_payload(iq)?;
    let get = iq.attr("type") == Some("get");
    match payload.ns().as_str() {
        ns::DISCO_INFO if get && payload.attr("node").is_some() => Err(disco::unknown_node()),
        ns::DISCO_INFO if get => Ok(Some(disco::account_info())),
        // RFC 6121 §2.1.5 / §2.3.3: nobody may read or change another account's roster.
        crate::roster::NS_ROSTER => Err(RequestError::Forbidden(
            "A roster belongs to its own account only".into(),
        )),
        ns::VCARD => match stanza::sender_bare(iq) {
            Some(r) => vcard(router, &r, account, get, payload).await,
            None => Err(RequestError::ServiceUnavailable),
        },
        _ => Err(RequestError::ServiceUnavailable),
    }
}

/// The answer to `iq`: a result carrying the payload, if any, or the error it was refused with.
fn reply(
    iq: &Element,
    answered: Result<Option<Element>>,
    whose: &dyn std::fmt::Display,
) -> Option<Element> {
    match answered {
        Ok(payload) => Some(stanza::iq_result(iq, payload)),
        Err(e) => e.reply(iq, whose),
    }
}

/// RFC 6120 §8.2.3: an iq get or set carries exactly one payload; otherwise `<bad-request/>`.
fn single_payload(iq: &Element) -> Result<&Element> {
    stanza::iq_payload(iq)
        .ok_or_else(|| RequestError::bad_request("An iq get or set carries exactly one payload"))
}

/// XEP-0092 §2: the server's software name and version.
fn software_version() -> Element {
    Element::builder("query", ns::VERSION)
        .append(Element::builder("name", ns::VERSION).append("cordial"))
        .append(Element::builder("version", ns::VERSION).append(env!("CARGO_PKG_VERSION")))
        .build()
}
