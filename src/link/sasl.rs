//! SASL (RFC 6120 §6) with rsasl: SCRAM-SHA-256 and SCRAM-SHA-1 from the stored keys, and PLAIN
//! checked against them. The simple user name is the JID's localpart (RFC 6120 §6.3.8).

use std::io::Cursor;
use std::sync::Arc;

use cordial_actors::accounts::verify_password;
use cordial_storage::{Credentials, SharedStorage};
use rsasl::callback::{Context, Request, SessionCallback, SessionData};
use rsasl::mechanisms::scram::properties::ScramStoredPassword;
use rsasl::prelude::{Mechname, SASLConfig, SASLServer, Session, SessionError, State};
use rsasl::property::{AuthId, AuthzId, Password};
use rsasl::validate::{Validate, Validation, ValidationError};

/// Mechanisms in order of preference.
pub const SCRAM_MECHANISMS: &[&str] = &["SCRAM-SHA-256", "SCRAM-SHA-1"];
pub const PLAIN: &str = "PLAIN";

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
            let keys = if session.mechanism().mechanism.as_str() == "SCRAM-SHA-1" {
                &c.sha1
            } else {
                &c.sha256
            };
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
                // SCRAM validates only after the client proof has been checked against the
                // StoredKey.
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

/// A server's SASL setup, shared by all its links: one configuration per hosted domain, so
/// that a client authenticating on a stream to a domain is checked against that domain's
/// account and no other (RFC 6120 §6.3.8: the identity is `localpart@domain` of the stream).
pub struct Sasl {
    domains: std::collections::HashMap<String, Arc<SASLConfig>>,
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
    session: Session<Authenticated>,
    /// To start the exchange again (see [`Exchange::step`]).
    server: Arc<SASLConfig>,
    mechanism: &'static Mechname,
    scram: bool,
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

impl Sasl {
    /// The setup for `domains`, the domains this server hosts, checking the accounts in `store`.
    pub fn new(store: SharedStorage, domains: &[String]) -> Sasl {
        let domains = domains
            .iter()
            .map(|domain| {
                let callback = Callback {
                    store: store.clone(),
                    domain: domain.clone(),
                };
                let config = SASLConfig::builder()
                    .with_defaults()
                    .with_callback(callback)
                    .expect("rsasl accepts its default mechanisms");
                (domain.clone(), config)
            })
            .collect();
        Sasl { domains }
    }

    /// Starts an exchange for a mechanism the caller offered, on a stream to `domain` (one the
    /// server hosts; `None` for any other).
    pub fn start(&self, mechanism: &str, domain: &str) -> Option<Exchange> {
        let server = self.domains.get(domain)?;
        let mech = OFFERED
            .iter()
            .find(|m| **m == mechanism)
            .and_then(|m| Mechname::parse(m.as_bytes()).ok())?;
        let session = SASLServer::<Authenticated>::new(server.clone())
            .start_suggested(mech)
            .ok()?;
        Some(Exchange {
            session,
            server: server.clone(),
            mechanism: mech,
            scram: mechanism.starts_with("SCRAM-"),
            started: false,
        })
    }
}

/// The mechanisms an exchange can start with (names with the lifetime rsasl wants).
const OFFERED: &[&str] = &["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"];

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
        if let Some(msg) = input {
            if self.scram && !scram_shape_ok(msg, first) {
                log::debug!("malformed SCRAM message refused");
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
            let Ok(session) = SASLServer::<Authenticated>::new(self.server.clone())
                .start_suggested(self.mechanism)
            else {
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
