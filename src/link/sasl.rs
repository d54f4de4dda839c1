//! SASL (RFC 6120 §6) with rsasl: SCRAM-SHA-256 and SCRAM-SHA-1 from the stored keys, their
//! channel-binding variants SCRAM-SHA-256-PLUS and SCRAM-SHA-1-PLUS (RFC 5802 §6) on a
//! connection that has binding data ([`ChannelBindings`]), and PLAIN checked against the keys.
//! The simple user name is the JID's localpart (RFC 6120 §6.3.8).
//!
//! Channel binding is rsasl's: its SCRAM server asks the connection's [`ChannelBindings`]
//! (rsasl's `ChannelBindingCallback`) for the data of the type a client names with `p=`, fails
//! the exchange when there is none, and fails it when the client's `c=` is not the GS2 header
//! followed by that data (RFC 5802 §6: "the server MUST always validate the client's c=").
//! What is ours: which mechanisms a connection can start ([`Sasl::start`]: the -PLUS ones only
//! with binding data, which also arms rsasl's downgrade check of `y`), and the GS2 flag each
//! mechanism accepts ([`gs2_flag_fits_mechanism`]). SCRAM-SHA-512 and its -PLUS, which rsasl
//! also implements, are not offered: no SHA-512 keys are stored.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use cordial_actors::accounts::verify_password;
use cordial_storage::{Credentials, ScramKeys, SharedStorage};
use rsasl::callback::{Context, Request, SessionCallback, SessionData};
use rsasl::mechanisms::plain::PLAIN as RSASL_PLAIN;
use rsasl::mechanisms::scram::properties::ScramStoredPassword;
use rsasl::mechanisms::scram::{SCRAM_SHA1, SCRAM_SHA1_PLUS, SCRAM_SHA256, SCRAM_SHA256_PLUS};
use rsasl::prelude::{
    ChannelBindingCallback, Mechanism, Mechname, Registry, SASLConfig, SASLServer, Session,
    SessionError, State,
};
use rsasl::property::{AuthId, AuthzId, Password};
use rsasl::validate::{Validate, Validation, ValidationError};

use super::channel_binding::ChannelBindings;

/// The SCRAM mechanisms, most preferred first (RFC 7677: SHA-256 before SHA-1).
pub const SCRAM_MECHANISMS: &[&str] = &["SCRAM-SHA-256", "SCRAM-SHA-1"];
/// Their channel-binding variants (RFC 5802 §6), offered before them on a connection with
/// binding data.
pub const SCRAM_PLUS_MECHANISMS: &[&str] = &["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"];
pub const PLAIN: &str = "PLAIN";

/// rsasl's mechanisms for a connection without channel binding data. No -PLUS among them, so
/// rsasl's SCRAM servers accept a client's `y` ("I could bind, but you offered no -PLUS").
static WITHOUT_BINDING: &[Mechanism] = &[SCRAM_SHA256, SCRAM_SHA1, RSASL_PLAIN];
/// With binding data: the -PLUS mechanisms as well. rsasl's plain SCRAM servers see the -PLUS
/// names in their configuration and then refuse `y`, the downgrade rule of RFC 5802 §6: the
/// client believed no -PLUS was offered, so someone removed it from the features.
static WITH_BINDING: &[Mechanism] = &[
    SCRAM_SHA256_PLUS,
    SCRAM_SHA1_PLUS,
    SCRAM_SHA256,
    SCRAM_SHA1,
    RSASL_PLAIN,
];

/// rsasl reads the connection's binding data through this: `p=tls-exporter` asks for
/// `tls_exporter` (RFC 9266), `p=tls-server-end-point` for `tls_server_end_point` (RFC 5929);
/// any other name, or a type the connection lacks, fails the exchange.
impl ChannelBindingCallback for ChannelBindings {
    fn get_cb_data(&self, cbname: &str) -> Option<&[u8]> {
        self.get(cbname)
    }
}

/// What a finished exchange yields: the authenticated localpart.
pub struct Authenticated;
impl Validation for Authenticated {
    type Value = Option<String>;
}

struct Callback {
    store: SharedStorage,
    domain: String,
}

impl Callback {
    fn credentials(&self, authid: &str) -> Option<Credentials> {
        let node = jid::NodePart::new(authid).ok()?;
        let bare = format!("{}@{}", node, self.domain);
        match self.store.credentials(&bare) {
            Ok(c) => c,
            Err(e) => {
                let what = format_args!("reading the credentials of {bare}");
                cordial_actors::error::log_storage(what, &e);
                None
            }
        }
    }
}

/// The stored keys a SCRAM mechanism checks: SHA-1's for SCRAM-SHA-1 and SCRAM-SHA-1-PLUS,
/// SHA-256's for the others. Binding changes the messages, not the keys (RFC 5802 §6).
fn stored_keys<'c>(mechanism: &str, credentials: &'c Credentials) -> &'c ScramKeys {
    match mechanism.strip_suffix("-PLUS").unwrap_or(mechanism) {
        "SCRAM-SHA-1" => &credentials.sha1,
        _ => &credentials.sha256,
    }
}

impl SessionCallback for Callback {
    fn callback(
        &self,
        session: &SessionData,
        context: &Context,
        request: &mut Request,
    ) -> Result<(), SessionError> {
        if !request.is::<ScramStoredPassword>() {
            return Ok(());
        }
        let Some(authid) = context.get_ref::<AuthId>() else {
            return Ok(());
        };
        // Unknown users are left unsatisfied: rsasl then answers with a made-up salt, so the
        // exchange does not tell whether an account exists.
        if let Some(c) = self.credentials(authid) {
            let keys = stored_keys(session.mechanism().mechanism.as_str(), &c);
            request.satisfy::<ScramStoredPassword>(&ScramStoredPassword::new(
                keys.iterations,
                &keys.salt,
                &keys.stored_key,
                &keys.server_key,
            ))?;
        }
        Ok(())
    }

    fn validate(
        &self,
        session: &SessionData,
        context: &Context,
        validate: &mut Validate<'_>,
    ) -> Result<(), ValidationError> {
        let authid = context.get_ref::<AuthId>().map(str::to_string);
        // PLAIN sends an empty authzid when there is none.
        let authzid = context.get_ref::<AuthzId>().filter(|z| !z.is_empty());
        let mut result = None;
        if let Some(authid) = authid {
            let node = jid::NodePart::new(&authid).ok().map(|n| n.to_string());
            // An authzid is allowed only when it names the same account (RFC 6120 §6.3.8).
            let authz_ok = match (authzid, &node) {
                (None, _) => true,
                (Some(z), Some(n)) => z == format!("{n}@{}", self.domain) || z == *n,
                _ => false,
            };
            let proven = match session.mechanism().mechanism.as_str() {
                // SCRAM validates only after the client proof (and the channel binding) has
                // been checked.
                m if m.starts_with("SCRAM-") => true,
                _ => match (context.get_ref::<Password>(), self.credentials(&authid)) {
                    (Some(pw), Some(c)) => {
                        std::str::from_utf8(pw).is_ok_and(|pw| verify_password(&c, pw))
                    }
                    _ => false,
                },
            };
            if authz_ok && proven {
                result = node;
            }
        }
        validate.with::<Authenticated, _>(|| Ok(result))?;
        Ok(())
    }
}

/// A server's SASL setup, shared by all its links: configurations per hosted domain, so that a
/// client authenticating on a stream to a domain is checked against that domain's account and
/// no other (RFC 6120 §6.3.8: the identity is `localpart@domain` of the stream).
pub struct Sasl {
    domains: HashMap<String, Configs>,
}

/// One domain's rsasl configurations, for connections without and with channel binding data.
struct Configs {
    without_binding: Arc<SASLConfig>,
    with_binding: Arc<SASLConfig>,
}

/// The outcome of one step of an exchange.
pub enum Step {
    Challenge(Vec<u8>),
    Success {
        additional: Vec<u8>,
        localpart: String,
    },
    Failure,
}

pub struct Exchange {
    session: Session<Authenticated, ChannelBindings>,
    /// To start the exchange again (see [`Exchange::step`]).
    server: Arc<SASLConfig>,
    bindings: ChannelBindings,
    mechanism: &'static Mechname,
    scram: bool,
    /// A -PLUS mechanism: the client binds to the connection.
    plus: bool,
    /// Whether the client's first message has been fed.
    started: bool,
}

/// Whether a SCRAM client message has the shape rsasl's parser assumes: every attribute at
/// least `x=`, except the GS2 flag and an empty authzid of the first message. rsasl 2.3 slices
/// attributes without checking their length and panics on, say, `n,,x` or a final `c`; such a
/// message is a malformed request (RFC 5802 §7) and fails the exchange here instead.
fn scram_shape_ok(msg: &[u8], first: bool) -> bool {
    msg.split(|b| *b == b',').enumerate().all(|(i, part)| {
        (first && i == 0) || (first && i == 1 && part.is_empty()) || part.len() >= 2
    })
}

/// Whether the GS2 channel-binding flag that opens a SCRAM client-first message fits the
/// mechanism (RFC 5802 §6, §7 `gs2-cbind-flag`). A -PLUS mechanism is the one that binds: it
/// takes only `p=<type>`. A plain one takes `n` ("I do not bind") or `y` ("I would, but you
/// offered no -PLUS"; refused by rsasl when we did, see [`WITH_BINDING`]), never `p`, which
/// would bind under a name that says it does not. rsasl itself accepts both mismatches.
fn gs2_flag_fits_mechanism(plus: bool, client_first: &[u8]) -> bool {
    let flag = client_first
        .split(|b| *b == b',')
        .next()
        .unwrap_or_default();
    match flag {
        b"n" | b"y" => !plus,
        other => plus && other.starts_with(b"p="),
    }
}

impl Sasl {
    /// The setup for `domains`, the domains this server hosts, checking the accounts in `store`.
    pub fn new(store: SharedStorage, domains: &[String]) -> Sasl {
        let config = |domain: &String, mechanisms: &'static [Mechanism]| {
            let callback = Callback {
                store: store.clone(),
                domain: domain.clone(),
            };
            SASLConfig::builder()
                .with_registry(Registry::with_mechanisms(mechanisms))
                .with_callback(callback)
                .expect("rsasl accepts its own mechanisms")
        };
        let domains = domains
            .iter()
            .map(|domain| {
                let configs = Configs {
                    without_binding: config(domain, WITHOUT_BINDING),
                    with_binding: config(domain, WITH_BINDING),
                };
                (domain.clone(), configs)
            })
            .collect();
        Sasl { domains }
    }

    /// Starts an exchange for a mechanism the caller offered, on a stream to `domain` (one the
    /// server hosts; `None` for any other) over a connection with `bindings`. A -PLUS mechanism
    /// starts only when the connection has binding data.
    pub fn start(
        &self,
        mechanism: &str,
        domain: &str,
        bindings: &ChannelBindings,
    ) -> Option<Exchange> {
        let configs = self.domains.get(domain)?;
        let (server, mechanisms) = match bindings.any() {
            true => (&configs.with_binding, WITH_BINDING),
            false => (&configs.without_binding, WITHOUT_BINDING),
        };
        let mech = mechanisms
            .iter()
            .map(|m| m.mechanism)
            .find(|m| m.as_str() == mechanism)?;
        Some(Exchange {
            session: new_session(server, bindings, mech)?,
            server: server.clone(),
            bindings: bindings.clone(),
            mechanism: mech,
            scram: mechanism.starts_with("SCRAM-"),
            plus: mechanism.ends_with("-PLUS"),
            started: false,
        })
    }
}

fn new_session(
    server: &Arc<SASLConfig>,
    bindings: &ChannelBindings,
    mechanism: &Mechname,
) -> Option<Session<Authenticated, ChannelBindings>> {
    SASLServer::<Authenticated, _>::with_cb(server.clone(), bindings.clone())
        .start_suggested(mechanism)
        .ok()
}

/// Whether a SCRAM server-first message's nonce holds a character some clients misparse.
fn server_nonce_is_awkward(server_first: &[u8]) -> bool {
    server_first
        .split(|b| *b == b',')
        .find(|attr| attr.starts_with(b"r="))
        .is_some_and(|nonce| nonce.iter().any(|b| matches!(b, b'"' | b'\\')))
}

impl Exchange {
    /// One rsasl step; `None` if rsasl panicked (a panic must cost this exchange, not the
    /// connection's task).
    fn guarded_step(
        &mut self,
        input: Option<&[u8]>,
        out: &mut Cursor<Vec<u8>>,
    ) -> Option<Result<State, rsasl::prelude::SessionError>> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.session.step(input, out)
        }))
        .ok()
    }

    /// Feeds the client's data (`None` when an `<auth/>` carried no initial response).
    pub fn step(&mut self, input: Option<&[u8]>) -> Step {
        let first = input.is_some() && !std::mem::replace(&mut self.started, true);
        if let Some(msg) = input.filter(|_| self.scram) {
            if !scram_shape_ok(msg, first) {
                log::debug!("malformed SCRAM message refused");
                return Step::Failure;
            }
            if first && !gs2_flag_fits_mechanism(self.plus, msg) {
                log::debug!("SCRAM channel-binding flag does not fit {}", self.mechanism);
                return Step::Failure;
            }
        }
        let first = first && self.scram;
        let mut out = Cursor::new(Vec::new());
        let mut stepped = self.guarded_step(input, &mut out);
        // rsasl draws the server nonce from every printable character, '"' and '\' included.
        // RFC 5802 allows them, but common clients (sasl-scram-sha-1, used by @xmpp/client)
        // parse the challenge like DIGEST-MD5's quoted strings and fail on a '"'. Starting the
        // exchange again draws a new nonce; no state has been kept between the two.
        let mut tries = 0;
        while first
            && tries < 64
            && matches!(stepped, Some(Ok(State::Running)))
            && server_nonce_is_awkward(out.get_ref())
        {
            tries += 1;
            let Some(session) = new_session(&self.server, &self.bindings, self.mechanism) else {
                break;
            };
            self.session = session;
            out = Cursor::new(Vec::new());
            stepped = self.guarded_step(input, &mut out);
        }
        let Some(stepped) = stepped else {
            log::warn!("the SASL library panicked on a client message; exchange failed");
            return Step::Failure;
        };
        match stepped {
            Ok(State::Running) => Step::Challenge(out.into_inner()),
            Ok(State::Finished(_)) => match self.session.validation() {
                Some(Some(localpart)) => Step::Success {
                    additional: out.into_inner(),
                    localpart,
                },
                other => {
                    log::debug!("SASL exchange finished without an authenticated user: {other:?}");
                    Step::Failure
                }
            },
            Err(e) => {
                log::debug!("SASL step failed: {e}");
                Step::Failure
            }
        }
    }
}

#[cfg(test)]
mod tests;
