//! SASL negotiation on the stream (RFC 6120 §6): which mechanisms are offered and when (with
//! SCRAM-*-PLUS and XEP-0440's `<sasl-channel-binding/>` on a connection that has channel
//! binding data), the `<auth/>`, `<challenge/>`, `<response/>`, `<success/>` and `<failure/>`
//! elements (§6.4), and the brute-force throttle around them. The mechanisms themselves are in
//! [`sasl`].

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

/// The stream features of SASL at this point: `<mechanisms/>` (RFC 6120 §6.4.1, left out
/// when none is offered) and, when SCRAM-*-PLUS is among them, XEP-0440's
/// `<sasl-channel-binding/>` naming the binding types this connection has.
pub(super) fn sasl_features(
    ctx: &LinkContext,
    state: &Negotiation,
    bindings: &ChannelBindings,
) -> Vec<Element> {
    features_for(&offered_mechanisms(ctx, state, bindings), bindings)
}

fn features_for(offered: &[&str], bindings: &ChannelBindings) -> Vec<Element> {
    if offered.is_empty() {
        return Vec::new();
    }
    let mechanism = |m: &&str| Element::builder("mechanism", ns::SASL).append(*m).build();
    let mut features = vec![Element::builder("mechanisms", ns::SASL)
        .append_all(offered.iter().map(mechanism))
        .build()];
    if offered.iter().any(|m| m.ends_with("-PLUS")) {
        features.push(sasl_channel_binding(bindings));
    }
    features
}

/// XEP-0440 §2: the channel binding types a client may name after `p=`, so that it need not
/// guess (tls-exporter exists only over TLS 1.3).
fn sasl_channel_binding(bindings: &ChannelBindings) -> Element {
    let types = bindings.types().map(|t| {
        Element::builder("channel-binding", ns::SASL_CB)
            .a("type", t)
            .build()
    });
    Element::builder("sasl-channel-binding", ns::SASL_CB)
        .append_all(types)
        .build()
}

/// SASL (RFC 6120 §6.4), bound to the connection's TLS where the mechanism asks for it. `Ok(Some(Restart))` after success;
/// `Ok(None)` after a failure the client may retry. A failed channel binding is a failed
/// authentication like any other: `<not-authorized/>` (§6.5.10), counted by the throttle.
pub(super) async fn authenticate(
    xs: &mut Xs<'_>,
    state: &mut Negotiation,
    ctx: &LinkContext,
    domain: &str,
    auth: Element,
    peer: SocketAddr,
) -> Result<Option<Outcome>, Stop> {
    let bindings = state.bindings.clone();
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
                let bound = bound_to(&auth)
                    .map(|t| format!(" bound to {t}"))
                    .unwrap_or_default();
                log::info!("{peer}: authenticated as {bare} with {mechanism}{bound}");
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
    if state.failed_auths >= ctx.config().auth.max_attempts {
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
/// The channel binding type the client named in its first SCRAM message (`p=TYPE,…`), for the
/// log.
fn bound_to(auth: &Element) -> Option<String> {
    let first = sasl_data(auth).ok()??;
    let rest = first.strip_prefix(b"p=")?;
    let end = rest.iter().position(|&b| b == b',')?;
    let name = std::str::from_utf8(&rest[..end]).ok()?;
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        .then(|| name.to_string())
}

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

#[cfg(test)]
mod tests {
    use xmpp_parsers::sasl_cb::{SaslChannelBinding, Type};

    use super::*;

    fn bindings(exporter: bool, end_point: bool) -> ChannelBindings {
        ChannelBindings {
            tls_exporter: exporter.then(|| vec![1; 32]),
            tls_server_end_point: end_point.then(|| vec![2; 32]),
            tls_unique: None,
        }
    }

    /// The features as a client reads them: the mechanisms, and the binding types if any.
    fn read(features: &[Element]) -> (Vec<String>, Option<Vec<Type>>) {
        let mechanisms = features
            .iter()
            .filter(|f| f.is("mechanisms", ns::SASL))
            .flat_map(|f| f.children().map(|m| m.text()))
            .collect();
        let types = features
            .iter()
            .find(|f| f.is("sasl-channel-binding", ns::SASL_CB))
            .map(|f| SaslChannelBinding::try_from(f.clone()).unwrap().types);
        (mechanisms, types)
    }

    #[test]
    fn plus_mechanisms_come_first_and_the_binding_types_are_advertised() {
        let both = bindings(true, true);
        let (mechanisms, types) = read(&features_for(&mechanisms(&both), &both));
        assert_eq!(
            mechanisms,
            [
                "SCRAM-SHA-256-PLUS",
                "SCRAM-SHA-1-PLUS",
                "SCRAM-SHA-256",
                "SCRAM-SHA-1",
                "PLAIN"
            ]
        );
        assert_eq!(
            types,
            Some(vec![Type::TlsExporter, Type::TlsServerEndPoint])
        );
    }

    /// Over TLS 1.2 there is no tls-exporter (RFC 9266 §2): only tls-server-end-point is named.
    #[test]
    fn only_the_types_the_connection_has_are_advertised() {
        let end_point = bindings(false, true);
        let (mechanisms, types) = read(&features_for(&mechanisms(&end_point), &end_point));
        assert_eq!(mechanisms[..2], ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"]);
        assert_eq!(types, Some(vec![Type::TlsServerEndPoint]));
    }

    #[test]
    fn without_binding_data_neither_plus_nor_sasl_channel_binding() {
        let none = ChannelBindings::default();
        let (mechanisms, types) = read(&features_for(&mechanisms(&none), &none));
        assert_eq!(mechanisms, ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]);
        assert_eq!(types, None);
    }

    /// RFC 6120 §6.4.1: nothing offered, no `<mechanisms/>`; nor a binding list on its own.
    #[test]
    fn nothing_offered_nothing_advertised() {
        assert!(features_for(&[], &bindings(true, true)).is_empty());
    }
}
