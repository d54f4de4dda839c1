//! Logs in to an XMPP server with tokio-xmpp (rustls, ring) over STARTTLS or direct TLS, sends
//! its own available presence and waits for it to come back, sends a chat message to its own
//! bare JID and waits for it, then reports how it authenticated: the TLS version and cipher
//! suite rustls negotiated, the channel binding tokio-xmpp computed (tls-exporter, RFC 9266,
//! only over TLS 1.3), the SASL mechanisms the server offered and the one tokio-xmpp chose,
//! with the GS2 header of its first SCRAM message and whether its `c=` carries the exported
//! binding data. Exits 0 when all of it worked (and, with --expect-mechanism, when that
//! mechanism was the one used), non-zero with the reason on any failure or on timeout.
//!
//! tokio-xmpp does not say which mechanism it used, so this reads it from tokio-xmpp's own
//! trace log of the XML it sends and receives (log target `tokio_xmpp`, "SEND ..." and
//! "RECV (ok) ..."), and the TLS cipher suite from rustls's debug log ("Using ciphersuite").
//!
//! Usage: tokio-xmpp-plus --server 127.0.0.1:PORT --mode starttls|direct-tls --jid JID
//!        --ca CERT.pem [--password PW | env XMPP_PASSWORD] [--expect-mechanism NAME]
//!        [--timeout SECS] [--trace] [--tamper-binding]
//!
//! The server address must be a loopback IP address: nothing is looked up in DNS. The TLS
//! server name is the JID's domain; the certificate must chain to --ca (only that file is
//! trusted: SSL_CERT_FILE is set to it for rustls-native-certs, SSL_CERT_DIR is removed).
//!
//! With --tamper-binding, one bit of the channel binding data is flipped before tokio-xmpp
//! uses it: the server must then refuse the login (not-authorized), which shows that it
//! checks `c=` against its own tls-exporter value. Exits 0 only when it was refused so.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use base64::{engine::general_purpose::STANDARD as BASE64, Engine};
use futures::StreamExt;
use sasl::common::ChannelBinding;
use tokio::sync::mpsc;
use tokio_xmpp::connect::{
    DirectTlsServerConnector, DnsConfig, ServerConnector, StartTlsServerConnector,
};
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::parsers::message::{Lang, Message, MessageType};
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::xmlstream::{PendingFeaturesRecv, Timeouts};
use tokio_xmpp::{Client, Event, Stanza};

const USAGE: &str = "usage: tokio-xmpp-plus --server 127.0.0.1:PORT --mode starttls|direct-tls \
--jid JID --ca CERT.pem [--password PW | env XMPP_PASSWORD] [--expect-mechanism NAME] \
[--timeout SECS] [--trace] [--tamper-binding]";

struct Args {
    server: SocketAddr,
    direct_tls: bool,
    jid: BareJid,
    password: String,
    ca: String,
    expect_mechanism: Option<String>,
    timeout: Duration,
    trace: bool,
    tamper_binding: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut server = None;
    let mut mode = None;
    let mut jid = None;
    let mut password = std::env::var("XMPP_PASSWORD").ok();
    let mut ca = None;
    let mut expect_mechanism = None;
    let mut timeout = 20u64;
    let mut trace = false;
    let mut tamper_binding = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--server" => server = Some(value()?),
            "--mode" => mode = Some(value()?),
            "--jid" => jid = Some(value()?),
            "--password" => password = Some(value()?),
            "--ca" => ca = Some(value()?),
            "--expect-mechanism" => expect_mechanism = Some(value()?),
            "--timeout" => timeout = value()?.parse().map_err(|e| format!("--timeout: {e}"))?,
            "--trace" => trace = true,
            "--tamper-binding" => tamper_binding = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let server = server.ok_or(format!("--server is required\n{USAGE}"))?;
    let server: SocketAddr = server
        .parse()
        .map_err(|e| format!("--server {server}: {e} (an IP address and port)"))?;
    if !server.ip().is_loopback() {
        return Err(format!("--server {server} is not a loopback address"));
    }
    let direct_tls = match mode.as_deref() {
        Some("starttls") => false,
        Some("direct-tls") => true,
        _ => return Err(format!("--mode must be starttls or direct-tls\n{USAGE}")),
    };
    let jid = jid.ok_or(format!("--jid is required\n{USAGE}"))?;
    let jid = BareJid::from_str(&jid).map_err(|e| format!("--jid {jid}: {e}"))?;
    if jid.node().is_none() {
        return Err(format!("--jid {jid} has no localpart"));
    }
    Ok(Args {
        server,
        direct_tls,
        jid,
        password: password.ok_or("--password or XMPP_PASSWORD is required")?,
        ca: ca.ok_or(format!("--ca is required\n{USAGE}"))?,
        expect_mechanism,
        timeout: Duration::from_secs(timeout),
        trace,
        tamper_binding,
    })
}

/// What the logger and the connector saw.
#[derive(Default)]
struct Observed {
    /// Every chunk tokio-xmpp logged as sent, in order.
    sent: String,
    /// Every chunk tokio-xmpp logged as received (parsed without error), in order.
    received: String,
    /// The cipher suite rustls logged.
    cipher_suite: Option<String>,
    /// The channel binding tokio-xmpp's TLS layer returned, per connection.
    bindings: Vec<ChannelBinding>,
}

static OBSERVED: LazyLock<Mutex<Observed>> = LazyLock::new(Default::default);

fn observed() -> std::sync::MutexGuard<'static, Observed> {
    OBSERVED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Collects tokio-xmpp's XML trace and rustls's cipher suite; forwards tokio-xmpp's failed
/// connection attempts (which it only logs, retrying forever) to the main task.
struct Logger {
    failures: mpsc::UnboundedSender<String>,
    trace: bool,
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.target().starts_with("tokio_xmpp")
            || metadata.target().starts_with("rustls")
            || metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        let target = record.target();
        if target.starts_with("tokio_xmpp") {
            if let Some(xml) = text.strip_prefix("SEND ") {
                observed().sent.push_str(xml);
                if self.trace {
                    eprintln!("SEND {}", elide_sasl_payloads(xml));
                }
                return;
            }
            if let Some(xml) = text.strip_prefix("RECV (ok) ") {
                observed().received.push_str(xml);
                if self.trace {
                    eprintln!("RECV {xml}");
                }
                return;
            }
            // tokio-xmpp retries failed logins for ever; the first failure ends this run.
            if text.starts_with("Failed to connect") {
                let reason = text.split(". Retrying in").next().unwrap_or(&text);
                let _ = self.failures.send(reason.to_string());
                return;
            }
        }
        if target.starts_with("rustls") {
            if let Some(suite) = text.strip_prefix("Using ciphersuite ") {
                observed().cipher_suite = Some(suite.to_string());
            }
        }
        if record.level() <= log::Level::Warn || self.trace {
            eprintln!("{} {target}: {text}", record.level());
        }
    }

    fn flush(&self) {}
}

/// The XML with the content of `<auth>` and `<response>` removed (PLAIN would show the
/// password).
fn elide_sasl_payloads(xml: &str) -> String {
    let mut out = String::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<auth").or_else(|| rest.find("<response")) {
        let Some(gt) = rest[start..].find('>') else {
            break;
        };
        let open_end = start + gt + 1;
        out.push_str(&rest[..open_end]);
        rest = &rest[open_end..];
        match rest.find("</") {
            Some(close) if close > 0 => {
                out.push_str("[...]");
                rest = &rest[close..];
            }
            _ => {}
        }
    }
    out.push_str(rest);
    out
}

/// A connector that records the channel binding tokio-xmpp's TLS layer computed and passes
/// everything through unchanged, but with `tamper` one bit of the binding data flipped.
#[derive(Clone, Debug)]
struct Recording<C> {
    inner: C,
    tamper: bool,
}

impl<C: ServerConnector + Sync> ServerConnector for Recording<C> {
    type Stream = C::Stream;

    async fn connect(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(PendingFeaturesRecv<Self::Stream>, ChannelBinding), tokio_xmpp::Error> {
        let (stream, binding) = self.inner.connect(jid, ns, timeouts).await?;
        observed().bindings.push(binding.clone());
        let binding = match binding {
            ChannelBinding::TlsExporter(mut data) if self.tamper && !data.is_empty() => {
                data[0] ^= 1;
                ChannelBinding::TlsExporter(data)
            }
            other => other,
        };
        Ok((stream, binding))
    }
}

/// The text of every `<NAME ...>TEXT</NAME>` element in `xml` (no attributes parsed, no
/// nesting: enough for the SASL elements, whose content is base64 or a mechanism name).
fn element_texts<'x>(xml: &'x str, name: &str) -> Vec<(&'x str, &'x str)> {
    let mut found = Vec::new();
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        // `<mechanisms` must not match `<mechanism`: the name ends at a space, '>' or '/'.
        if !after.starts_with([' ', '>', '/']) {
            rest = after;
            continue;
        }
        let Some(gt) = after.find('>') else { break };
        let tag = &after[..gt];
        if tag.ends_with('/') {
            found.push((tag, ""));
            rest = &after[gt + 1..];
            continue;
        }
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        found.push((tag, &body[..end]));
        rest = &body[end + close.len()..];
    }
    found
}

/// The value of attribute `name` in an opening tag's text.
fn attribute<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
    let at = tag.find(&format!(" {name}="))? + name.len() + 2;
    let quote = tag[at..].chars().next()?;
    let value = &tag[at + 1..];
    Some(&value[..value.find(quote)?])
}

/// How the login went, read from the XML trace and the connector's record.
struct Report {
    tls: String,
    binding: String,
    offered: Vec<String>,
    binding_types: Vec<String>,
    mechanism: String,
    gs2_header: String,
    cbind_check: String,
}

fn report() -> Result<Report, String> {
    let o = observed();
    let tls = match &o.cipher_suite {
        Some(s) if s.starts_with("TLS13_") => format!("TLS 1.3 ({s})"),
        Some(s) => format!("TLS 1.2 or older ({s})"),
        None => "unknown (rustls logged no cipher suite)".into(),
    };
    let exported = match o.bindings.last() {
        Some(ChannelBinding::TlsExporter(data)) => Some(data.clone()),
        _ => None,
    };
    let binding = match o.bindings.last() {
        Some(ChannelBinding::TlsExporter(d)) => format!("tls-exporter ({} bytes)", d.len()),
        Some(ChannelBinding::TlsUnique(d)) => format!("tls-unique ({} bytes)", d.len()),
        Some(ChannelBinding::None) => "none (not TLS 1.3)".into(),
        Some(ChannelBinding::Unsupported) => "unsupported".into(),
        None => return Err("the connector never connected".into()),
    };
    // The SASL exchange is the part of the trace from the last <auth> on; the mechanisms
    // offered are those of the last <mechanisms> received before it.
    let Some(auth_at) = o.sent.rfind("<auth") else {
        return Err("tokio-xmpp sent no <auth/>".into());
    };
    let auths = element_texts(&o.sent[auth_at..], "auth");
    let Some((auth_tag, auth_data)) = auths.first() else {
        return Err("tokio-xmpp's <auth/> could not be read from its trace".into());
    };
    let mechanism = attribute(auth_tag, "mechanism")
        .ok_or("<auth/> without a mechanism")?
        .to_string();
    let offered = element_texts(&o.received, "mechanisms")
        .last()
        .map(|(_, inner)| {
            element_texts(inner, "mechanism")
                .into_iter()
                .map(|(_, m)| m.trim().to_string())
                .collect()
        })
        .unwrap_or_default();
    let binding_types = element_texts(&o.received, "sasl-channel-binding")
        .last()
        .map(|(_, inner)| {
            element_texts(inner, "channel-binding")
                .into_iter()
                .filter_map(|(tag, _)| attribute(tag, "type").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut gs2_header = String::new();
    let mut cbind_check = String::new();
    if mechanism.starts_with("SCRAM-") {
        let first = BASE64
            .decode(auth_data.trim())
            .map_err(|e| format!("the SCRAM client-first message is not base64: {e}"))?;
        let first = String::from_utf8_lossy(&first).to_string();
        // gs2-header = flag "," [authzid] ","
        let mut parts = first.splitn(3, ',');
        gs2_header = format!(
            "{},{},",
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default()
        );
        let responses = element_texts(&o.sent[auth_at..], "response");
        let final_message = responses
            .first()
            .and_then(|(_, data)| BASE64.decode(data.trim()).ok())
            .map(|m| String::from_utf8_lossy(&m).to_string())
            .ok_or("no SCRAM client-final message in the trace")?;
        let c = final_message
            .split(',')
            .find_map(|a| a.strip_prefix("c="))
            .ok_or("the SCRAM client-final message has no c=")?;
        let c = BASE64
            .decode(c)
            .map_err(|e| format!("c= is not base64: {e}"))?;
        let mut expected = gs2_header.as_bytes().to_vec();
        expected.extend(exported.as_deref().unwrap_or_default());
        let mut tampered = expected.clone();
        if let Some(b) = tampered.get_mut(gs2_header.len()) {
            *b ^= 1;
        }
        cbind_check = match &exported {
            Some(data) if c == expected => format!(
                "c= is the GS2 header and the {} bytes rustls exported",
                data.len()
            ),
            Some(data) if c == tampered => format!(
                "c= is the GS2 header and the {} bytes rustls exported, one bit flipped",
                data.len()
            ),
            None if c == expected => "c= is the GS2 header alone (no binding)".into(),
            _ => "c= is NOT the GS2 header followed by the binding data".into(),
        };
    }
    Ok(Report {
        tls,
        binding,
        offered,
        binding_types,
        mechanism,
        gs2_header,
        cbind_check,
    })
}

/// With --tamper-binding: whether the login failed as it must, the server refusing a -PLUS
/// exchange whose binding data is not its own.
fn refused(args: &Args, failure: &str) -> Result<(), String> {
    if !failure.contains("NotAuthorized") {
        return Err(format!("expected not-authorized, got: {failure}"));
    }
    let r = report()?;
    println!("connected to {} with tampered binding data", args.server);
    println!("tls: {}", r.tls);
    println!("channel binding computed by tokio-xmpp: {}", r.binding);
    println!(
        "sasl: {}; GS2 header '{}'; {}",
        r.mechanism, r.gs2_header, r.cbind_check
    );
    println!("tokio-xmpp: {failure}");
    if !r.mechanism.ends_with("-PLUS") {
        return Err(format!(
            "{} is not a channel-binding mechanism",
            r.mechanism
        ));
    }
    println!(
        "REFUSED mechanism={} binding={}",
        r.mechanism,
        r.binding.split(' ').next().unwrap_or_default()
    );
    Ok(())
}

async fn run(args: &Args, failures: &mut mpsc::UnboundedReceiver<String>) -> Result<(), String> {
    let dns = DnsConfig::addr(&args.server.to_string());
    let timeouts = Timeouts::tight();
    let mut client = if args.direct_tls {
        Client::new_with_connector(
            args.jid.clone(),
            args.password.clone(),
            Recording {
                inner: DirectTlsServerConnector::from(dns),
                tamper: args.tamper_binding,
            },
            timeouts,
        )
    } else {
        Client::new_with_connector(
            args.jid.clone(),
            args.password.clone(),
            Recording {
                inner: StartTlsServerConnector::from(dns),
                tamper: args.tamper_binding,
            },
            timeouts,
        )
    };
    let mode = if args.direct_tls {
        "direct TLS"
    } else {
        "STARTTLS"
    };

    let body = format!("tokio-xmpp over {mode}, {}", std::process::id());
    let mut bound = None;
    let mut presence_back = false;
    loop {
        let event = tokio::select! {
            failure = failures.recv() => {
                let failure = failure.unwrap_or_else(|| "the logger is gone".into());
                if args.tamper_binding {
                    return refused(args, &failure);
                }
                return Err(failure);
            }
            event = client.next() => event.ok_or("the client stream ended")?,
        };
        match event {
            Event::Online {
                bound_jid, resumed, ..
            } => {
                if args.tamper_binding {
                    return Err("logged in with tampered channel binding data".into());
                }
                if bound.is_some() {
                    return Err(format!("online a second time (resumed: {resumed})"));
                }
                let r = report()?;
                println!("connected to {} over {mode}", args.server);
                println!("tls: {}", r.tls);
                println!("channel binding computed by tokio-xmpp: {}", r.binding);
                println!(
                    "server offered: {}; channel-binding types (XEP-0440): {}",
                    r.offered.join(" "),
                    if r.binding_types.is_empty() {
                        "none advertised".into()
                    } else {
                        r.binding_types.join(" ")
                    }
                );
                println!(
                    "sasl: {}{}{}",
                    r.mechanism,
                    if r.gs2_header.is_empty() {
                        String::new()
                    } else {
                        format!("; GS2 header '{}'", r.gs2_header)
                    },
                    if r.cbind_check.is_empty() {
                        String::new()
                    } else {
                        format!("; {}", r.cbind_check)
                    }
                );
                println!("online as {bound_jid}");
                if r.cbind_check.contains("NOT") {
                    return Err(r.cbind_check);
                }
                if let Some(expected) = &args.expect_mechanism {
                    if &r.mechanism != expected {
                        return Err(format!(
                            "tokio-xmpp authenticated with {}, not {expected}",
                            r.mechanism
                        ));
                    }
                }
                bound = Some(bound_jid);
                client
                    .send_stanza(Presence::available().into())
                    .await
                    .map_err(|e| format!("sending presence: {e}"))?;
            }
            Event::Disconnected(e) => return Err(format!("disconnected: {e}")),
            Event::Stanza(Stanza::Presence(p)) => {
                let own = bound.as_ref().is_some_and(|b| p.from.as_ref() == Some(b));
                if own && p.type_ == PresenceType::None && !presence_back {
                    presence_back = true;
                    println!("presence: own available presence came back");
                    let to = Jid::from(args.jid.clone());
                    let message = Message::new_with_type(MessageType::Chat, Some(to))
                        .with_body(Lang(String::new()), body.clone());
                    client
                        .send_stanza(message.into())
                        .await
                        .map_err(|e| format!("sending the message: {e}"))?;
                }
            }
            Event::Stanza(Stanza::Message(m)) => {
                if m.type_ == MessageType::Error {
                    return Err(format!("message error: {m:?}"));
                }
                if m.bodies.values().any(|b| b == &body) {
                    println!("message: received the chat message sent to {}", args.jid);
                    break;
                }
            }
            Event::Stanza(_) => {}
        }
    }
    client
        .send_end()
        .await
        .map_err(|e| format!("closing the stream: {e}"))?;
    let r = report()?;
    println!(
        "OK mechanism={} binding={} tls={}",
        r.mechanism,
        r.binding.split(' ').next().unwrap_or_default(),
        if r.tls.starts_with("TLS 1.3") {
            "1.3"
        } else {
            "other"
        }
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // tokio-xmpp's rustls setup reads its roots with rustls-native-certs, which reads only
    // SSL_CERT_FILE when it is set (and SSL_CERT_DIR is not). It skips what it cannot read,
    // so check the file here.
    match std::fs::read_to_string(&args.ca) {
        Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => {}
        Ok(_) => {
            eprintln!("FAIL: --ca {} holds no PEM certificate", args.ca);
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("FAIL: --ca {}: {e}", args.ca);
            return ExitCode::FAILURE;
        }
    }
    // SAFETY: no other thread exists yet.
    unsafe {
        std::env::set_var("SSL_CERT_FILE", &args.ca);
        std::env::remove_var("SSL_CERT_DIR");
    }
    let (tx, mut failures) = mpsc::unbounded_channel();
    let logger = Logger {
        failures: tx,
        trace: args.trace,
    };
    if log::set_boxed_logger(Box::new(logger)).is_err() {
        eprintln!("FAIL: no logger");
        return ExitCode::FAILURE;
    }
    // Trace: tokio-xmpp logs the XML only when trace is enabled.
    log::set_max_level(log::LevelFilter::Trace);

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("FAIL: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        match tokio::time::timeout(args.timeout, run(&args, &mut failures)).await {
            Ok(r) => r,
            Err(_) => Err(format!("timed out after {:?}", args.timeout)),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("FAIL ({}): {e}", args.jid);
            ExitCode::FAILURE
        }
    }
}
