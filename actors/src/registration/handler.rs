//! XEP-0077 for a bound session, answered by the server for the account: the registration form
//! (§3.1), cancellation (§3.2) and password change (§3.3). Only reached when registration is
//! enabled; the request is read and checked by the model ([`crate::registration`]), the one
//! the link's registration before login uses too.

use std::sync::Arc;

use jid::{BareJid, FullJid};
use minidom::Element;

use crate::accounts;
use crate::error::{RequestError, Result};
use crate::registration::{self, Fields, Request};
use crate::router::Router;

/// An iq get or set with a `jabber:iq:register` payload from a session of the account: the
/// payload of the result, or why it is refused. The caller answers a refusal without the
/// request ([`registration::without_query`]).
pub(crate) async fn after_login(
    router: &Arc<Router>,
    full: &FullJid,
    get: bool,
    payload: &Element,
) -> Result<Option<Element>> {
    let bare = full.to_bare();
    if get {
        registration::check_query(payload)?;
        let username = bare.node().map(|n| n.as_str());
        return Ok(Some(registration::form(username)));
    }
    match registration::parse_set(payload)? {
        Request::Cancel => cancel(router, &bare).await,
        Request::Fields(fields) => change_password(router, &bare, fields).await,
    }
    .map(|()| None)
}

/// XEP-0077 §3.2: the account is deleted with everything stored for it, and its sessions are
/// closed with a `<not-authorized/>` stream error (as §3.2 asks of a home server).
async fn cancel(router: &Arc<Router>, bare: &BareJid) -> Result<()> {
    accounts::delete_account(router, bare)
        .await
        .map(|_| ())
        .map_err(|e| RequestError::storage(format_args!("cancelling registration of {bare}"), e))
}

/// XEP-0077 §3.3: the account's new password, answered once it is on disk.
async fn change_password(router: &Arc<Router>, bare: &BareJid, fields: Fields) -> Result<()> {
    let password = fields.new_password(bare)?;
    match accounts::change_password(router, bare, &password).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(RequestError::ItemNotFound("No such account".into())),
        Err(e) => Err(RequestError::storage(
            format_args!("changing the password of {bare}"),
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ns;
    use crate::server_iq::handle_for_session;

    /// A router (registration on) over a fresh store holding one account, `node@localhost`
    /// with the password `old`, and a session of it.
    async fn router_with(node: &str) -> (tempfile::TempDir, Arc<Router>, FullJid) {
        let dir = tempfile::tempdir().unwrap();
        let store = cordial_storage::Store::open(dir.path()).unwrap();
        let config = crate::ActorsConfig {
            registration: true,
            ..Default::default()
        };
        let router = crate::new_router(config, Arc::new(store), vec![]);
        let full: FullJid = format!("{node}@localhost/r").parse().unwrap();
        let created = accounts::create_account(&router, &full.to_bare(), "old").await;
        assert!(created.unwrap());
        (dir, router, full)
    }

    /// The server's answer to a `jabber:iq:register` iq from the session, as the client gets it.
    async fn ask(router: &Arc<Router>, full: &FullJid, type_: &str, query: &str) -> Element {
        let iq: Element = format!(
            "<iq xmlns='jabber:client' type='{type_}' id='r1'><query xmlns='{}'>{query}</query></iq>",
            ns::REGISTER
        )
        .parse()
        .unwrap();
        handle_for_session(router, full, &iq).await.unwrap()
    }

    fn password_is(router: &Arc<Router>, bare: &str, password: &str) -> bool {
        let creds = router.store.credentials(bare).unwrap().unwrap();
        accounts::verify_password(&creds, password)
    }

    /// §3.3: a refused password change leaves the password as it was, and the error does not
    /// carry the password sent back.
    #[actix_rt::test]
    async fn a_refused_password_change_keeps_the_password_and_does_not_echo_it() {
        let (_dir, router, full) = router_with("juliet").await;
        let query = "<username>romeo</username><password>s3cret</password>";
        let reply = ask(&router, &full, "set", query).await;
        assert_eq!(reply.attr("type"), Some("error"));
        assert_eq!(reply.attr("id"), Some("r1"));
        assert!(!String::from(&reply).contains("s3cret"));
        assert!(password_is(&router, "juliet@localhost", "old"));
    }

    /// §3.1: a logged-in account asking for the form is told it is registered, and as whom.
    #[actix_rt::test]
    async fn the_form_after_login_says_registered_and_the_username() {
        let (_dir, router, full) = router_with("juliet").await;
        let reply = ask(&router, &full, "get", "").await;
        let query = reply.get_child("query", ns::REGISTER).unwrap();
        assert!(query.has_child("registered", ns::REGISTER));
        let username = query.get_child("username", ns::REGISTER).unwrap();
        assert_eq!(username.text(), "juliet");
    }
}
