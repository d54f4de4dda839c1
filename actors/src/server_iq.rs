//! The server's own IQ handlers (RFC 6120 §8.2.3, §10.3.3; RFC 6121 §8.5.2.1.3).
//!
//! [`SESSION_FEATURES`] is the one table of what a session can ask the server; disco#info
//! advertises exactly the features of that table that are enabled, so the list can never claim
//! more than is implemented.

use std::sync::Arc;

use jid::{BareJid, FullJid};
use minidom::Element;

use crate::xml::BuildAttr;

use crate::config::ActorsConfig;
use crate::ns;
use crate::router::Router;
use crate::stanza::{self, DefinedCondition, ErrorType};

/// Payload namespaces the server answers for a session, each with the switch that enables it.
/// disco#info's feature list is generated from this table.
/// A switch deciding from the configuration whether a feature is on.
pub type Enabled = fn(&ActorsConfig) -> bool;

pub const SESSION_FEATURES: &[(&str, Enabled)] = &[
    (ns::DISCO_INFO, |_| true),
    (ns::DISCO_ITEMS, |_| true),
    (ns::PING, |_| true),
    (ns::VERSION, |_| true),
    (ns::VCARD, |_| true),
    (ns::MSGOFFLINE, |_| true),
    (ns::REGISTER, |c| c.registration),
];

/// Features the account's UserActor answers for its sessions (RFC 3921 §10 privacy lists),
/// advertised with the server's.
pub const USER_FEATURES: &[&str] = &[crate::privacy::NS_PRIVACY, crate::blocking::NS_BLOCKING];

/// Features the server answers on behalf of an account's bare JID.
pub const ACCOUNT_FEATURES: &[&str] = &[ns::DISCO_INFO, ns::VCARD];

/// The features disco#info advertises for the server.
pub fn server_features(config: &ActorsConfig) -> Vec<&'static str> {
    SESSION_FEATURES
        .iter()
        .filter(|(_, on)| on(config))
        .map(|(f, _)| *f)
        .chain(USER_FEATURES.iter().copied())
        .collect()
}

fn error(
    iq: &Element,
    type_: ErrorType,
    c: DefinedCondition,
    text: Option<&str>,
) -> Option<Element> {
    stanza::error_reply(iq, type_, c, text)
}

/// RFC 6120 §8.2.3: an iq get or set carries exactly one payload; otherwise `<bad-request/>`.
fn single_payload(iq: &Element) -> Result<&Element, Option<Element>> {
    stanza::iq_payload(iq).ok_or_else(|| {
        error(
            iq,
            ErrorType::Modify,
            DefinedCondition::BadRequest,
            Some("An iq get or set carries exactly one payload"),
        )
    })
}

/// XEP-0030 §3.2 and §7: a disco#info or disco#items query on a node the entity does not have
/// (the server and accounts have none) is `<item-not-found/>`.
fn unknown_node(iq: &Element) -> Option<Element> {
    error(
        iq,
        ErrorType::Cancel,
        DefinedCondition::ItemNotFound,
        Some("No such node"),
    )
}

fn service_unavailable(iq: &Element) -> Option<Element> {
    error(
        iq,
        ErrorType::Cancel,
        DefinedCondition::ServiceUnavailable,
        None,
    )
}

fn disco_info(identity: (&str, &str), features: &[&str]) -> Element {
    Element::builder("query", ns::DISCO_INFO)
        .append(
            Element::builder("identity", ns::DISCO_INFO)
                .a("category", identity.0)
                .a("type", identity.1)
                .a("name", "cordial"),
        )
        .append_all(
            features
                .iter()
                .map(|f| Element::builder("feature", ns::DISCO_INFO).a("var", *f)),
        )
        .build()
}

/// An iq get/set from a session to the server, or to no one (RFC 6120 §10.3.3).
pub async fn handle_for_session(
    router: &Arc<Router>,
    full: &FullJid,
    iq: &Element,
) -> Option<Element> {
    let payload = match single_payload(iq) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let get = iq.attr("type") == Some("get");
    let config = &router.config;
    let enabled = |f: &str| SESSION_FEATURES.iter().any(|(n, on)| *n == f && on(config));
    match payload.ns().as_str() {
        n if !enabled(n) => {
            if n == ns::SESSION && payload.name() == "session" && !get {
                // RFC 3921 §3: the legacy session iq, advertised as optional; a no-op now.
                return Some(stanza::iq_result(iq, None));
            }
            service_unavailable(iq)
        }
        ns::DISCO_INFO | ns::DISCO_ITEMS if get && payload.attr("node").is_some() => {
            unknown_node(iq)
        }
        ns::DISCO_INFO if get => Some(stanza::iq_result(
            iq,
            Some(disco_info(("server", "im"), &server_features(config))),
        )),
        ns::DISCO_ITEMS if get => Some(stanza::iq_result(
            iq,
            Some(Element::bare("query", ns::DISCO_ITEMS)),
        )),
        ns::PING if get => Some(stanza::iq_result(iq, None)),
        ns::VERSION if get => Some(stanza::iq_result(
            iq,
            Some(
                Element::builder("query", ns::VERSION)
                    .append(Element::builder("name", ns::VERSION).append("cordial"))
                    .append(
                        Element::builder("version", ns::VERSION).append(env!("CARGO_PKG_VERSION")),
                    )
                    .build(),
            ),
        )),
        ns::VCARD => vcard(router, &full.to_bare(), &full.to_bare(), iq, payload).await,
        ns::REGISTER => register(router, full, iq, payload).await,
        _ => error(
            iq,
            ErrorType::Cancel,
            DefinedCondition::FeatureNotImplemented,
            None,
        ),
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
    let payload = match single_payload(iq) {
        Ok(p) => p,
        Err(reply) => return reply,
    };
    let requester = iq
        .attr("from")
        .and_then(|f| jid::Jid::new(f).ok())
        .map(|j| j.to_bare());
    let get = iq.attr("type") == Some("get");
    match payload.ns().as_str() {
        ns::DISCO_INFO if get && payload.attr("node").is_some() => unknown_node(iq),
        ns::DISCO_INFO if get => Some(stanza::iq_result(
            iq,
            Some(disco_info(("account", "registered"), ACCOUNT_FEATURES)),
        )),
        // RFC 6121 §2.1.5 / §2.3.3: nobody may read or change another account's roster.
        crate::roster::NS_ROSTER => error(
            iq,
            ErrorType::Auth,
            DefinedCondition::Forbidden,
            Some("A roster belongs to its own account only"),
        ),
        ns::VCARD => match requester {
            Some(r) => vcard(router, &r, account, iq, payload).await,
            None => service_unavailable(iq),
        },
        _ => service_unavailable(iq),
    }
}

/// vCard-temp (XEP-0054): anyone may get an account's vCard; only the account may set its own.
async fn vcard(
    router: &Arc<Router>,
    requester: &BareJid,
    account: &BareJid,
    iq: &Element,
    payload: &Element,
) -> Option<Element> {
    if payload.name() != "vCard" {
        return error(iq, ErrorType::Modify, DefinedCondition::BadRequest, None);
    }
    let store = &router.store;
    if iq.attr("type") == Some("get") {
        return match store.vcard(account.as_str()) {
            Ok(Some(xml)) => match xml.parse::<Element>() {
                Ok(v) => Some(stanza::iq_result(iq, Some(v))),
                Err(e) => {
                    log::error!("stored vCard of {account} is unreadable: {e}");
                    error(
                        iq,
                        ErrorType::Wait,
                        DefinedCondition::InternalServerError,
                        None,
                    )
                }
            },
            Ok(None) => Some(stanza::iq_result(
                iq,
                Some(Element::bare("vCard", ns::VCARD)),
            )),
            Err(e) => storage_failed(iq, format_args!("reading vCard of {account}"), &e),
        };
    }
    if requester != account {
        return error(
            iq,
            ErrorType::Auth,
            DefinedCondition::Forbidden,
            Some("Only the account itself may set its vCard"),
        );
    }
    let xml = String::from(payload);
    let limit = router.config.vcard_max_bytes;
    if xml.len() > limit {
        let text = format!("The vCard is {} bytes; the limit is {limit}", xml.len());
        return error(
            iq,
            ErrorType::Modify,
            DefinedCondition::NotAcceptable,
            Some(&text),
        );
    }
    let stored = store.set_vcard(account.as_str(), &xml);
    match (stored, store.flush().await) {
        (Ok(()), Ok(())) => Some(stanza::iq_result(iq, None)),
        (Err(e), _) | (_, Err(e)) => {
            storage_failed(iq, format_args!("storing vCard of {account}"), &e)
        }
    }
}

/// XEP-0077 after authentication: the registration form, password change (§3.3) and
/// cancellation (§3.2). Only reached when registration is enabled.
async fn register(
    router: &Arc<Router>,
    full: &FullJid,
    iq: &Element,
    payload: &Element,
) -> Option<Element> {
    let bare = full.to_bare();
    let local = bare.node().map(|n| n.to_string()).unwrap_or_default();
    if payload.name() != "query" {
        return error(iq, ErrorType::Modify, DefinedCondition::BadRequest, None);
    }
    if iq.attr("type") == Some("get") {
        let form = Element::builder("query", ns::REGISTER)
            .append(Element::bare("registered", ns::REGISTER))
            .append(Element::builder("username", ns::REGISTER).append(local))
            .append(Element::bare("password", ns::REGISTER))
            .build();
        return Some(stanza::iq_result(iq, Some(form)));
    }
    if payload.has_child("remove", ns::REGISTER) {
        return match crate::accounts::delete_account(router, &bare).await {
            Ok(_) => Some(stanza::iq_result(iq, None)),
            Err(e) => storage_failed(iq, format_args!("cancelling registration of {bare}"), &e),
        };
    }
    let username = payload
        .get_child("username", ns::REGISTER)
        .map(|u| u.text());
    let password = payload
        .get_child("password", ns::REGISTER)
        .map(|p| p.text());
    let (Some(username), Some(password)) = (username, password) else {
        return error(
            iq,
            ErrorType::Modify,
            DefinedCondition::BadRequest,
            Some("username and password are required"),
        );
    };
    if !username.eq_ignore_ascii_case(&local) {
        return error(
            iq,
            ErrorType::Modify,
            DefinedCondition::NotAllowed,
            Some("A password can only be changed for one's own account"),
        );
    }
    if password.is_empty() {
        return error(
            iq,
            ErrorType::Modify,
            DefinedCondition::NotAcceptable,
            Some("The password must not be empty"),
        );
    }
    match crate::accounts::change_password(router, &bare, &password).await {
        Ok(true) => Some(stanza::iq_result(iq, None)),
        Ok(false) => error(iq, ErrorType::Cancel, DefinedCondition::ItemNotFound, None),
        Err(e) => storage_failed(iq, format_args!("changing the password of {bare}"), &e),
    }
}

/// A request that failed in the store: logged once per outage (see [`storage_error`]) and
/// answered `<resource-constraint/>` while the store refuses writes.
fn storage_failed(
    iq: &Element,
    what: std::fmt::Arguments,
    e: &cordial_storage::StorageError,
) -> Option<Element> {
    crate::error::log_storage(what, e);
    let (type_, condition) = crate::error::storage_answer(e);
    error(iq, type_, condition, None)
}
