//! The namespaces of a client stream's negotiation (RFC 6120 §4–§7, XEP-0077, XEP-0199,
//! XEP-0440), named once for the whole link: those the actors also use come from
//! [`cordial_actors::ns`], the others, which only the link needs, from [`xmpp_parsers::ns`].

pub(super) use cordial_actors::ns::{JABBER_CLIENT, PING, REGISTER, SESSION};
pub(super) use xmpp_parsers::ns::{BIND, REGISTER_FEATURE, SASL, SASL_CB, TLS};
