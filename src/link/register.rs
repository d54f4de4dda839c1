//! In-band registration before authentication (XEP-0077 §3.1): the form and the creation of an
//! account on a stream that has not authenticated yet, offered as the
//! `http://jabber.org/features/iq-register` stream feature (XEP-0077 §8).
//!
//! Once authenticated, the same namespace changes a password or cancels a registration
//! (XEP-0077 §3.2, §3.3); that half is served by the actors (`cordial_actors::server_iq`).

use cordial_actors::stanza::{self, DefinedCondition, ErrorType};
use futures::SinkExt;
use jid::BareJid;
use minidom::Element;

use super::close::Stop;
use super::stream::{Negotiation, Outcome};
use super::{ns, LinkContext, Xs};

/// In-band registration before authentication (XEP-0077 §3.1).
pub(super) async fn register(
    xs: &mut Xs<'_>,
    state: &Negotiation,
    ctx: &LinkContext,
    domain: &str,
    iq: &Element,
) -> Result<Option<Outcome>, Stop> {
    let reply = if !state.auth_allowed(ctx) {
        stanza::error_reply(
            iq,
            ErrorType::Cancel,
            DefinedCondition::NotAuthorized,
            Some("Use STARTTLS before registering"),
        )
    } else {
        let query = iq
            .get_child("query", ns::REGISTER)
            .expect("checked by the caller");
        match iq.attr("type") {
            Some("get") => Some(stanza::iq_result(
                iq,
                Some(
                    Element::builder("query", ns::REGISTER)
                        .append(
                            Element::builder("instructions", ns::REGISTER)
                                .append("Choose a username and password."),
                        )
                        .append(Element::bare("username", ns::REGISTER))
                        .append(Element::bare("password", ns::REGISTER))
                        .build(),
                ),
            )),
            Some("set") => {
                let username = query
                    .get_child("username", ns::REGISTER)
                    .map(|e| e.text())
                    .unwrap_or_default();
                let password = query
                    .get_child("password", ns::REGISTER)
                    .map(|e| e.text())
                    .unwrap_or_default();
                let bare = jid::NodePart::new(&username)
                    .ok()
                    .and_then(|n| BareJid::new(&format!("{n}@{domain}")).ok());
                match bare {
                    _ if query.has_child("remove", ns::REGISTER) => stanza::error_reply(
                        iq,
                        ErrorType::Auth,
                        DefinedCondition::NotAuthorized,
                        Some("Log in to cancel a registration"),
                    ),
                    None => stanza::error_reply(
                        iq,
                        ErrorType::Modify,
                        DefinedCondition::JidMalformed,
                        Some("The username is not a valid JID localpart"),
                    ),
                    Some(_) if password.is_empty() => stanza::error_reply(
                        iq,
                        ErrorType::Modify,
                        DefinedCondition::NotAcceptable,
                        Some("A password is required"),
                    ),
                    Some(bare) => match cordial_actors::accounts::create_account(
                        &ctx.router,
                        &bare,
                        &password,
                    )
                    .await
                    {
                        Ok(true) => {
                            log::info!("registered {bare} in band");
                            Some(stanza::iq_result(iq, None))
                        }
                        Ok(false) => stanza::error_reply(
                            iq,
                            ErrorType::Cancel,
                            DefinedCondition::Conflict,
                            Some("That username is taken"),
                        ),
                        Err(e) => {
                            let what = format_args!("in-band registration of {bare}");
                            cordial_actors::error::log_storage(what, &e);
                            let (type_, condition) = cordial_actors::error::storage_answer(&e);
                            stanza::error_reply(iq, type_, condition, None)
                        }
                    },
                }
            }
            _ => None,
        }
    };
    if let Some(r) = reply {
        xs.send(&r).await.map_err(|_| Stop::Gone)?;
    }
    Ok(None)
}
