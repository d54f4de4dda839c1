//! Service discovery (XEP-0030) for the server and for the accounts it hosts.
//!
//! [`SESSION_FEATURES`] is the one table of what a session can ask the server: the server's
//! IQ dispatcher ([`crate::server_iq`]) answers a namespace only when its switch is on, and
//! disco#info advertises exactly the features of that table that are on, so the list can never
//! claim more than is implemented. Pure: the answers are built from the configuration alone.

use minidom::Element;

use crate::config::ActorsConfig;
use crate::error::RequestError;
use crate::ns;
use crate::xml::BuildAttr;

/// A switch deciding from the configuration whether a feature is on.
pub type Enabled = fn(&ActorsConfig) -> bool;

/// Payload namespaces the server answers for a session, each with the switch that enables it.
/// disco#info's feature list is generated from this table.
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

/// Whether the server answers `namespace` for a session under this configuration.
pub fn session_feature_enabled(config: &ActorsConfig, namespace: &str) -> bool {
    SESSION_FEATURES
        .iter()
        .any(|(n, on)| *n == namespace && on(config))
}

/// The features disco#info advertises for the server.
pub fn server_features(config: &ActorsConfig) -> Vec<&'static str> {
    SESSION_FEATURES
        .iter()
        .filter(|(_, on)| on(config))
        .map(|(f, _)| *f)
        .chain(USER_FEATURES.iter().copied())
        .collect()
}

/// XEP-0030 §3.1: the server's disco#info: an IM server (category `server`, type `im`) with
/// the features that are on.
pub fn server_info(config: &ActorsConfig) -> Element {
    info(("server", "im"), &server_features(config))
}

/// XEP-0030 §3.1: an account's disco#info, answered by the server on its behalf (category
/// `account`, type `registered`).
pub fn account_info() -> Element {
    info(("account", "registered"), ACCOUNT_FEATURES)
}

/// XEP-0030 §4.1: the server's disco#items: it offers no items.
pub fn server_items() -> Element {
    Element::bare("query", ns::DISCO_ITEMS)
}

/// XEP-0030 §3.2 and §7: a disco#info or disco#items query on a node the entity does not have
/// (the server and accounts have none) is `<item-not-found/>`.
pub fn unknown_node() -> RequestError {
    RequestError::ItemNotFound("No such node".into())
}

/// A disco#info result: one identity, then one `<feature/>` per feature.
fn info(identity: (&str, &str), features: &[&str]) -> Element {
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
