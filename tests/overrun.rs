//! A client far over a limit still reads why its stream ends (RFC 6120 §4.4): the server
//! must not reset the connection under the stream error it has just sent.

mod common;

use std::net::SocketAddr;

use base64::Engine as _;
use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the issue describes: a 2 MiB message, far over the 256 KiB default stanza limit.
const OVERRUN: usize = 2 << 20;

/// Reads until `needle` has come (the bytes read so far are returned), within [`WAIT`].
async fn read_until(io: &mut (impl AsyncRead + Unpin), needle: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let until = async {
        while !String::from_utf8_lossy(&got).contains(needle) {
            let n = io.read(&mut buf).await.expect("read during negotiation");
            assert!(n > 0, "connection closed before {needle}");
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(WAIT, until)
        .await
        .unwrap_or_else(|_| panic!("no {needle} in time"));
    String::from_utf8_lossy(&got).into_owned()
}

async fn open(io: &mut (impl AsyncRead + AsyncWrite + Unpin)) {
    io.write_all(
        format!(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{DOMAIN}' version='1.0'>"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    read_until(io, "</stream:features>").await;
}

/// A client as a real one connects: STARTTLS, SASL PLAIN, resource binding; each step written
/// and read on the raw socket, so that the overrun can be written and read at the same time.
async fn bound_over_tls(addr: SocketAddr) -> tokio_native_tls::TlsStream<TcpStream> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    open(&mut tcp).await;
    tcp.write_all(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .await
        .unwrap();
    read_until(&mut tcp, "<proceed").await;
    let connector: tokio_native_tls::TlsConnector = native_tls::TlsConnector::builder()
        .danger_accept_invalid_certs(true)
        .danger_accept_invalid_hostnames(true)
        .build()
        .unwrap()
        .into();
    let mut tls = connector.connect(DOMAIN, tcp).await.unwrap();
    open(&mut tls).await;
    let plain = base64::engine::general_purpose::STANDARD.encode("\0alice\0pw");
    tls.write_all(
        format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{plain}</auth>")
            .as_bytes(),
    )
    .await
    .unwrap();
    read_until(&mut tls, "<success").await;
    open(&mut tls).await;
    tls.write_all(
        b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>",
    )
    .await
    .unwrap();
    read_until(&mut tls, "</iq>").await;
    tls
}

/// Writes `stanza` in one go from its own task while this one reads, as a client reads its
/// stream while it sends: everything through TLS until the server's close_notify, then the TCP
/// connection to its end. `Ok` with what was read if the connection ended in order (FIN), `Err`
/// with the reason and what had been read if it was reset or broke.
async fn overrun(
    tls: tokio_native_tls::TlsStream<TcpStream>,
    stanza: std::sync::Arc<Vec<u8>>,
) -> Result<String, String> {
    let (mut r, mut w) = tokio::io::split(tls);
    let writer = tokio::spawn(async move {
        // The server closes part way through, and the client's TLS refuses to write after the
        // server's close_notify: a write error is not the test's concern, what was read is.
        let _ = w.write_all(&stanza).await;
        let _ = w.flush().await;
        // The write half goes back, so that the connection stays open until the reader is done.
        w
    });
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let read = tokio::time::timeout(WAIT, async {
        loop {
            match r.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return Err(e),
            }
        }
    })
    .await
    .expect("the server ends the stream in time");
    let text = String::from_utf8_lossy(&got).into_owned();
    if let Err(e) = read {
        return Err(format!("TLS read failed ({e}) after {text:?}"));
    }
    let w = tokio::time::timeout(WAIT, writer)
        .await
        .expect("the writer stops in time")
        .unwrap();
    // Under the close_notify, the TCP connection must end in order too: a reset here is what
    // loses a client the data it has not read yet (its stack drops it, or the client stops at
    // the write that failed).
    let mut tls = r.unsplit(w);
    let tcp = tls.get_mut().get_mut().get_mut();
    let end = tokio::time::timeout(WAIT, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(_) => continue,
                Err(e) => return Err(e),
            }
        }
    })
    .await
    .expect("the server closes the connection in time");
    match end {
        Ok(()) => Ok(text),
        Err(e) => Err(format!("TCP connection reset ({e}) after {text:?}")),
    }
}

/// RFC 6120 §4.4 (with §4.9.3.17): a bound client over TLS writes a 2 MiB message (the limit
/// is 256 KiB) in one go, reading all the while. The server answers `<policy-violation/>`
/// and closes the stream, and the connection ends in order once the client has read both:
/// the server must not close its socket with the rest of the message unread, which makes the
/// kernel reset the connection under what the client has not read yet. 20 tries in a row.
#[actix_rt::test]
async fn rfc6120_4_4_a_client_over_the_stanza_limit_reads_its_policy_violation() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let body = "x".repeat(OVERRUN);
    let stanza = std::sync::Arc::new(
        format!("<message to='alice@localhost'><body>{body}</body></message>").into_bytes(),
    );
    let mut failed = Vec::new();
    for attempt in 1..=20 {
        let tls = bound_over_tls(s.addr()).await;
        match overrun(tls, stanza.clone()).await {
            Ok(got) if got.contains("<policy-violation") && got.ends_with("</stream:stream>") => {}
            Ok(got) => failed.push(format!("try {attempt}: no stream error in {got:?}")),
            Err(why) => failed.push(format!("try {attempt}: {why}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of 20 tries did not read their stream error on an orderly close:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
