//! XEP-0077 for a bound session, answered by the server for the account: the registration form
//! (§3.1), cancellation (§3.2) and password change (§3.3). Only reached when registration is
//! enabled.

use std::sync::Arc;

use jid::FullJid;
use minidom::Element;

use crate::accounts;
use crate::error::{RequestError, Result};
use crate::ns;
use crate::router::Router;

/// An iq get or set with a `jabber:iq:register` payload from a session of the account: the
/// payload of the result, or why it is refused.
pub(crate) async fn after_login(
    router: &Arc<Router>,
    full: &FullJid,
    get: bool,
    payload: &Element,
) -> Result<Option<Element>> {
    let bare = full.to_bare();
    let local = bare.node().map(|n| n.to_string()).unwrap_or_default();
    if payload.name() != "query" {
        return Err(RequestError::bad_request(
            "The payload of jabber:iq:register is <query/>",
        ));
    }
    if get {
        let form = Element::builder("query", ns::REGISTER)
            .append(Element::bare("registered", ns::REGISTER))
            .append(Element::builder("username", ns::REGISTER).append(local))
            .append(Element::bare("password", ns::REGISTER))
            .build();
        return Ok(Some(form));
    }
    if payload.has_child("remove", ns::REGISTER) {
        accounts::delete_account(router, &bare).await.map_err(|e| {
            RequestError::storage(format_args!("cancelling registration of {bare}"), e)
        })?;
        return Ok(None);
    }
    let username = payload
        .get_child("username", ns::REGISTER)
        .map(|u| u.text());
    let password = payload
        .get_child("password", ns::REGISTER)
        .map(|p| p.text());
    let (Some(username), Some(password)) = (username, password) else {
        return Err(RequestError::bad_request(
            "username and password are required",
        ));
    };
    if !username.eq_ignore_ascii_case(&local) {
        return Err(RequestError::NotAllowed(
            "A password can only be changed for one's own account".into(),
        ));
    }
    if password.is_empty() {
        return Err(RequestError::not_acceptable(
            "The password must not be empty",
        ));
    }
    match accounts::change_password(router, &bare, &password).await {
        Ok(true) => Ok(None),
        Ok(false) => Err(RequestError::ItemNotFound("No such account".into())),
        Err(e) => Err(RequestError::storage(
            format_args!("changing the password of {bare}"),
            e,
        )),
    }
}
