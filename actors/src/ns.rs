//! Namespaces used by the actors that xmpp-parsers does not name, or names elsewhere.

pub use xmpp_parsers::ns::{
    DELAY, DISCO_INFO, DISCO_ITEMS, JABBER_CLIENT, PING, REGISTER, VCARD, VERSION,
};

/// XEP-0160 offline message storage, announced in disco#info as `msgoffline`.
pub const MSGOFFLINE: &str = "msgoffline";

/// RFC 6120 stanza error conditions.
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// RFC 3921 §3 legacy session establishment.
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
