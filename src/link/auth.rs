//! SASL negotiation on the stream (RFC 6120 §6): which mechanisms are offered and when (with
//! SCRAM-*-PLUS on a connection that has channel binding data), the `<auth/>`, `<challenge/>`,
//! `<response/>`, `<success/>` and `<failure/>` elements (§6.4), and the brute-force throttle
//! around them. The mechanisms themselves are in [`sasl`].

use std::net::SocketAddr;

use base64::Engine as _;
use cordial_actors::link::StreamCondition;
use cordial_actors::xml::BuildAttr;
use futures::SinkExt;
use jid::BareJid;
use minidom::Element;

use super::channel_binding::ChannelBindings;
use super::close::{close, Stop};
use super::stream::{read, Negotiation, Outcome};
use super::{ns, sasl, throttle, LinkContext, Xs};

/// The SASL mechanisms offered at this point (RFC 6120 §6.3.3), most preferred first; none
/// while authentication must wait for TLS.
pub(super) fn offered_mechanisms(
    ctx: &LinkContext,
    state: &Negotiation,
    bindings: &ChannelBindings,
) -> Vec<&'static str> {
    match state.auth_allowed(ctx) {
        true => mechanisms(bindings),
        false => Vec::new(),
    }
}

/// The mechanisms once authentication is allowed: the -PLUS ones first when the connection
/// has binding data (RFC 5802 §6: a server that can bind offers both names), then SCRAM, then
/// PLAIN. PLAIN sends the password itself, so it comes last; authentication being allowed
/// means TLS is up, unless the operator switched the requirement off.
fn mechanisms(bindings: &ChannelBindings) -> Vec<&'static str> {
    let mut m = Vec::new();
    if bindings.any() {
        m.extend_from_slice(sasl::SCRAM_PLUS_MECHANISMS);
    }
    m.extend_from_slice(sasl::SCRAM_MECHANISMS);
    m.push(sasl::PLAIN);
    m
}

/// SASL (RFC 6120 §6.4) on a connection with `bindings`. `Ok(Some(Restart))` after success;
/// `Ok(None)` after a failure the client may retry. A failed channel binding is a failed
/// authentication like any other: `<not-authorized/>` (§6.5.10), counted by the throttle.
pub(super) async fn authenticate(
    xs: &mut Xs<'_>,
    state: &mut Negotiation,
    ctx: &LinkContext,
    domain: &str,
    auth: Element,
    peer: SocketAddr,
    bindings: ChannelBindings,
) -> Result<Option<Outcome>, Stop> {
    let fail = |state: &mut Negotiation, condition: &'static str, text: Option<&'static str>| {
        state.failed_auths += 1;
        sasl_failure(condition, text)
    };
    let mechanism = auth.attr("mechanism").unwrap_or_default().to_string();
    let reply = if !state.auth_allowed(ctx) {
        Some(fail(
            state,
            "encryption-required",
            Some("Use STARTTLS before authenticating"),
        ))
    } else if !offered_mechanisms(ctx, state, &bindings).contains(&mechanism.as_str()) {
        Some(fail(state, "invalid-mechanism", None))
    } else if let Some(left) = ctx.throttle.ip_blocked(peer.ip()) {
        log::debug!("{peer}: authentication refused, address backing off for {left:?}");
        Some(fail(
            state,
            "temporary-auth-failure",
            Some("Too many failed logins; try again later"),
        ))
    } else {
        None
    };
    let failure = match reply {
        Some(f) => f,
        None => match sasl_exchange(xs, ctx, &mechanism, &auth, domain, peer, &bindings).await? {
            Ok(localpart) => {
                ctx.throttle
                    .succeeded(&format!("{localpart}@{domain}"), peer.ip());
                let bare =
                    BareJid::new(&format!("{localpart}@{domain}")).map_err(|_| Stop::Gone)?;
                log::info!("{peer}: authenticated as {bare} with {mechanism}");
                state.user = Some(bare);
                return Ok(Some(Outcome::Restart));
            }
            Err(condition) => {
                log::info!("{peer}: authentication with {mechanism} failed ({condition})");
                fail(state, condition, None)
            }
        },
    };
    xs.send(&failure).await.map_err(|_| Stop::Gone)?;
    if state.failed_auths >= ctx.config.auth.max_attempts {
        // Repeated attacks are logged by the throttle when its backoff grows.
        log::info!(
            "{peer}: {} failed authentication attempts; closing",
            state.failed_auths
        );
        return Err(close(
            StreamCondition::PolicyViolation,
            "Too many failed authentication attempts",
        ));
    }
    Ok(None)
}

/// Runs one SASL exchange. The inner `Err` is the SASL failure condition to report. A failed
/// exchange counts against the peer's address and the account it named ([`throttle`]); an
/// account that is backing off is refused before its password is checked.
async fn sasl_exchange(
    xs: &mut Xs<'_>,
    ctx: &LinkContext,
    mechanism: &str,
    auth: &Element,
    domain: &str,
    peer: SocketAddr,
    bindings: &ChannelBindings,
) -> Result<Result<String, &'static str>, Stop> {
    let Some(mut exchange) = ctx.sasl.start(mechanism, domain, bindings) else {
        return Ok(Err("invalid-mechanism"));
    };
    let Ok(mut input) = sasl_data(auth) else {
        return Ok(Err("incorrect-encoding"));
    };
    let mut account: Option<String> = None;
    loop {
        if account.is_none() {
            // The account is the claimed localpart on this stream's domain: failures against
            // one domain's account do not throttle another's.
            account = input
                .as_deref()
                .and_then(|first| throttle::claimed_user(mechanism, first))
                .map(|user| format!("{user}@{domain}"));
            if let Some(left) = account
                .as_deref()
                .and_then(|a| ctx.throttle.account_blocked(a, peer.ip()))
            {
                log::debug!("{peer}: authentication refused, account backing off for {left:?}");
                return Ok(Err("temporary-auth-failure"));
            }
        }
        match exchange.step(input.as_deref()) {
            sasl::Step::Success {
                additional,
                localpart,
            } => {
                let success = sasl_el("success", Some(&additional));
                xs.send(&success).await.map_err(|_| Stop::Gone)?;
                return Ok(Ok(localpart));
            }
            sasl::Step::Failure => {
                let (ip, acct) = ctx.throttle.failed(peer.ip(), account.as_deref());
                if let Some(b) = ip {
                    log::warn!("{peer}: repeated failed logins; this address backs off for {b:?}");
                }
                if let (Some(b), Some(a)) = (acct, &account) {
                    log::warn!(
                        "{peer}: repeated failed logins for account {a}; it backs off for {b:?}"
                    );
                }
                return Ok(Err("not-authorized"));
            }
            sasl::Step::Challenge(data) => {
                let challenge = match data.is_empty() {
                    true => Element::bare("challenge", ns::SASL),
                    false => sasl_el("challenge", Some(&data)),
                };
                xs.send(&challenge).await.map_err(|_| Stop::Gone)?;
                let next = read(xs, None).await?;
                match (next.ns().as_str(), next.name()) {
                    (ns::SASL, "response") => match sasl_data(&next) {
                        Ok(d) => input = Some(d.unwrap_or_default()),
                        Err(()) => return Ok(Err("incorrect-encoding")),
                    },
                    (ns::SASL, "abort") => return Ok(Err("aborted")),
                    _ => {
                        return Err(close(
                            StreamCondition::NotAuthorized,
                            "SASL exchange interrupted",
                        ))
                    }
                }
            }
        }
    }
}

fn sasl_el(name: &str, data: Option<&[u8]>) -> Element {
    let mut b = Element::builder(name, ns::SASL);
    if let Some(d) = data.filter(|d| !d.is_empty()) {
        b = b.append(base64::engine::general_purpose::STANDARD.encode(d));
    }
    b.build()
}

fn sasl_failure(condition: &str, text: Option<&str>) -> Element {
    let mut b = Element::builder("failure", ns::SASL).append(Element::bare(condition, ns::SASL));
    if let Some(t) = text {
        b = b.append(
            Element::builder("text", ns::SASL)
                .a("xml:lang", "en")
                .append(t),
        );
    }
    b.build()
}

/// Decodes SASL data (RFC 6120 §6.4.2): no text means no data, `=` means empty data.
fn sasl_data(el: &Element) -> Result<Option<Vec<u8>>, ()> {
    let text: String = el
        .text()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    match text.as_str() {
        "" => Ok(None),
        "=" => Ok(Some(Vec::new())),
        t => base64::engine::general_purpose::STANDARD
            .decode(t)
            .map(Some)
            .map_err(|_| ()),
    }
}
