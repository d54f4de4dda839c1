//! Stanza helpers: kinds, classification of the target (once, as Prosody does), and error and
//! result replies in protocol terms (RFC 6120 §8.3).

use jid::{BareJid, FullJid, Jid};
use minidom::Element;

use crate::xml::BuildAttr;
use xmpp_parsers::stanza_error::StanzaError;
pub use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType};

use crate::ns;

/// The three stanza kinds of RFC 6120 §8.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Kind {
    Message,
    Presence,
    Iq,
}

impl Kind {
    /// The stanza's element name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Message => "message",
            Kind::Presence => "presence",
            Kind::Iq => "iq",
        }
    }

    /// The kind whose element is called `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        match name {
            "message" => Some(Kind::Message),
            "presence" => Some(Kind::Presence),
            "iq" => Some(Kind::Iq),
            _ => None,
        }
    }
}

/// The kind of a top-level element in the `jabber:client` namespace, if it is a stanza.
pub fn kind(el: &Element) -> Option<Kind> {
    if el.ns() != ns::JABBER_CLIENT {
        return None;
    }
    Kind::from_name(el.name())
}

/// The bare JID of a stanza's `from`, for stanzas that did not come through a session's
/// classification (read back from the store, or from another server).
pub fn sender_bare(el: &Element) -> Option<BareJid> {
    bare_of(el.attr("from"))
}

/// The bare JID of a stanza's `to` (see [`sender_bare`]).
pub fn receiver_bare(el: &Element) -> Option<BareJid> {
    bare_of(el.attr("to"))
}

fn bare_of(addr: Option<&str>) -> Option<BareJid> {
    addr.and_then(|a| Jid::new(a).ok()).map(|j| j.to_bare())
}

/// The `type` attribute, with the RFC default for each kind when absent
/// (`normal` for messages, `available` — no type — for presence).
pub fn stanza_type(el: &Element) -> &str {
    match el.attr("type") {
        Some(t) => t,
        None if el.name() == "message" => "normal",
        None if el.name() == "presence" => "available",
        None => "",
    }
}

/// Where a stanza is addressed, classified once (RFC 6120 §10, Prosody's full/bare/host).
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// No `to`: the sender's own account (§10.3).
    None,
    /// A domain this server hosts, with or without a resource (the whole address).
    Host(Jid),
    /// A local account's bare JID.
    Bare(BareJid),
    /// A local account's full JID.
    Full(FullJid),
    /// A domain this server does not host.
    Remote(Jid),
}

/// A `to` that is not a JID (RFC 6120 §8.3.3.8 `<jid-malformed/>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedJid;

/// Classifies `to` against the hosted domains.
pub fn classify(to: Option<&str>, hosts: impl Fn(&str) -> bool) -> Result<Target, MalformedJid> {
    let Some(to) = to else {
        return Ok(Target::None);
    };
    let jid = Jid::new(to).map_err(|_| MalformedJid)?;
    if !hosts(jid.domain().as_str()) {
        return Ok(Target::Remote(jid));
    }
    if jid.node().is_none() {
        return Ok(Target::Host(jid));
    }
    Ok(match jid.try_into_full() {
        Ok(full) => Target::Full(full),
        Err(bare) => Target::Bare(bare),
    })
}

/// The error reply to a stanza (RFC 6120 §8.3.1): addresses swapped, `type='error'`, the original
/// payload kept, and an `<error/>` child with the condition. `None` for a stanza of type error,
/// which must never be answered with an error (§8.3.1).
pub fn error_reply(
    stanza: &Element,
    type_: ErrorType,
    condition: DefinedCondition,
    text: Option<&str>,
) -> Option<Element> {
    if stanza.attr("type") == Some("error") {
        return None;
    }
    let reply = reply_builder(stanza, stanza.name(), "error");
    let mut reply = reply.build();
    for child in stanza.children() {
        reply.append_child(child.clone());
    }
    let err = StanzaError::new(type_, condition, "en", text.unwrap_or_default());
    let mut err_el: Element = err.into();
    if text.is_none() {
        // An empty <text/> says nothing; leave it out.
        let cleaned = Element::builder("error", err_el.ns())
            .a("type", err_el.attr("type").unwrap_or("cancel"))
            .append_all(
                err_el
                    .children()
                    .filter(|c| c.name() != "text")
                    .cloned()
                    .collect::<Vec<_>>(),
            )
            .build();
        err_el = cleaned;
    }
    reply.append_child(err_el);
    Some(reply)
}

/// The start of a reply to `stanza`: same `id`, `to` and `from` swapped (RFC 6120 §8.2.3,
/// §8.3.1).
fn reply_builder(stanza: &Element, name: &str, type_: &str) -> minidom::ElementBuilder {
    let mut b = Element::builder(name, ns::JABBER_CLIENT).a("type", type_);
    if let Some(id) = stanza.attr("id") {
        b = b.a("id", id);
    }
    if let Some(from) = stanza.attr("from") {
        b = b.a("to", from);
    }
    if let Some(to) = stanza.attr("to") {
        b = b.a("from", to);
    }
    b
}

/// A `type='result'` reply to an iq, with an optional payload.
pub fn iq_result(iq: &Element, payload: Option<Element>) -> Element {
    let mut b = reply_builder(iq, "iq", "result");
    if let Some(p) = payload {
        b = b.append(p);
    }
    b.build()
}

/// The single payload element of an iq get/set (RFC 6120 §8.2.3 requires exactly one).
pub fn iq_payload(iq: &Element) -> Option<&Element> {
    let mut children = iq.children().filter(|c| c.name() != "error");
    let first = children.next()?;
    children.next().is_none().then_some(first)
}

/// `<presence type='unavailable'/>` from a full JID.
pub fn unavailable_from(full: &FullJid) -> Element {
    Element::builder("presence", ns::JABBER_CLIENT)
        .a("type", "unavailable")
        .a("from", full.to_string())
        .build()
}

/// The `<priority/>` of a presence (RFC 6121 §4.7.2.3), clamped to -128..=127, default 0.
pub fn priority(presence: &Element) -> i8 {
    presence
        .get_child("priority", ns::JABBER_CLIENT)
        .and_then(|p| p.text().trim().parse::<i64>().ok())
        .map(|p| p.clamp(-128, 127) as i8)
        .unwrap_or(0)
}

/// The current time as an XEP-0082 timestamp in UTC.
pub fn now_stamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn classify_targets() {
        let hosts = |d: &str| d == "capulet.lit";
        assert_eq!(classify(None, hosts), Ok(Target::None));
        assert!(matches!(
            classify(Some("capulet.lit"), hosts),
            Ok(Target::Host(_))
        ));
        assert!(
            matches!(classify(Some("Juliet@capulet.lit"), hosts), Ok(Target::Bare(b)) if b.as_str() == "juliet@capulet.lit")
        );
        assert!(matches!(
            classify(Some("juliet@capulet.lit/balcony"), hosts),
            Ok(Target::Full(_))
        ));
        assert!(matches!(
            classify(Some("romeo@montague.lit"), hosts),
            Ok(Target::Remote(_))
        ));
        assert_eq!(classify(Some("@@bad"), hosts), Err(MalformedJid));
    }

    #[test]
    fn error_reply_swaps_addresses_and_never_answers_errors() {
        let m = el(
            "<message xmlns='jabber:client' from='a@x/r' to='b@x' id='1'><body>hi</body></message>",
        );
        let r = error_reply(
            &m,
            ErrorType::Cancel,
            DefinedCondition::ServiceUnavailable,
            None,
        )
        .unwrap();
        assert_eq!(r.attr("to"), Some("a@x/r"));
        assert_eq!(r.attr("from"), Some("b@x"));
        assert_eq!(r.attr("type"), Some("error"));
        let e = r.get_child("error", ns::JABBER_CLIENT).unwrap();
        assert!(e.has_child("service-unavailable", ns::STANZAS));
        assert!(!e.has_child("text", ns::STANZAS));
        assert!(error_reply(
            &r,
            ErrorType::Cancel,
            DefinedCondition::ServiceUnavailable,
            None
        )
        .is_none());
    }

    #[test]
    fn priority_defaults_and_clamps() {
        assert_eq!(priority(&el("<presence xmlns='jabber:client'/>")), 0);
        assert_eq!(
            priority(&el(
                "<presence xmlns='jabber:client'><priority>-5</priority></presence>"
            )),
            -5
        );
        assert_eq!(
            priority(&el(
                "<presence xmlns='jabber:client'><priority>900</priority></presence>"
            )),
            127
        );
    }
}
