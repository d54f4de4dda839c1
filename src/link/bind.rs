//! Resource binding (RFC 6120 §7) on an authenticated stream, and the legacy session request
//! of RFC 3921 §3, answered with an empty result (the feature is offered as optional, see
//! draft-cridland-xmpp-session). The result that names the bound JID is sent once the
//! resource's session has started.

use cordial_actors::stanza::{self, DefinedCondition, ErrorType};
use jid::{BareJid, FullJid};
use minidom::Element;

use super::{ns, random_id};

/// Resource binding (RFC 6120 §7) for the account `user` authenticated as: it cannot be asked
/// for before authentication. `Ok(Some(full))` to bind; `Err(reply)` for an iq answered here,
/// with the empty result of a legacy session request or an error.
pub(super) fn bind_request(iq: &Element, user: &BareJid) -> Result<Option<FullJid>, Element> {
    let error = |t, c, text| stanza::error_reply(iq, t, c, text).unwrap_or_else(|| iq.clone());
    if iq.attr("type") == Some("set") {
        if let Some(bind) = iq.get_child("bind", ns::BIND) {
            let requested = bind
                .get_child("resource", ns::BIND)
                .map(|r| r.text())
                .unwrap_or_default();
            let resource = if requested.trim().is_empty() {
                format!("cordial-{}", random_id())
            } else {
                requested
            };
            // RFC 6120 §7.7.2.1: a resourcepart that fails resourceprep -> <bad-request/>.
            return match jid::ResourcePart::new(&resource) {
                Ok(r) => Ok(Some(user.with_resource(&r))),
                Err(_) => Err(error(
                    ErrorType::Modify,
                    DefinedCondition::BadRequest,
                    Some("The resource is not a valid resourcepart"),
                )),
            };
        }
        if iq.get_child("session", ns::SESSION).is_some() {
            return Err(stanza::iq_result(iq, None));
        }
    }
    Err(error(
        ErrorType::Cancel,
        DefinedCondition::NotAllowed,
        Some("Bind a resource first"),
    ))
}
