//! In-band registration before authentication (XEP-0077 §3.1): the form and the creation of an
//! account on a stream that has not authenticated yet, offered as the
//! `http://jabber.org/features/iq-register` stream feature (XEP-0077 §8).
//!
//! The request is read and refused by `cordial_actors::registration`, the model the other half
//! (password change and cancellation once logged in, XEP-0077 §3.2, §3.3) uses too; this file
//! holds what only a stream before login has: the encryption check and the account's creation.

use cordial_actors::error::RequestError;
use cordial_actors::registration;
use cordial_actors::stanza::{self, DefinedCondition, ErrorType};
use futures::SinkExt;
use minidom::Element;

use super::close::Stop;
use super::stream::{Negotiation, Outcome};
use super::{ns, LinkContext, Xs};

/// In-band registration before authentication (XEP-0077 §3.1), only on an encrypted stream
/// (§10: the password travels in the request).
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
            Some("get") => Some(stanza::iq_result(iq, Some(registration::form(None)))),
            Some("set") => match create_account(ctx, domain, query).await {
                Ok(()) => Some(stanza::iq_result(iq, None)),
                Err(e) => e.reply(iq, &"in-band registration"),
            },
            _ => None,
        }
    };
    if let Some(r) = reply {
        xs.send(&r).await.map_err(|_| Stop::Gone)?;
    }
    Ok(None)
}

/// XEP-0077 §3.1: the account the form asks for, created and on disk before the result;
/// `<conflict/>` if the username is taken.
async fn create_account(
    ctx: &LinkContext,
    domain: &str,
    query: &Element,
) -> Result<(), RequestError> {
    let (bare, password) = registration::new_account(query, domain)?;
    match cordial_actors::accounts::create_account(&ctx.router, &bare, &password).await {
        Ok(true) => {
            log::info!("registered {bare} in band");
            Ok(())
        }
        Ok(false) => Err(registration::username_taken()),
        Err(e) => Err(RequestError::storage(format_args!("registering {bare}"), e)),
    }
}
