//! `cordial serve` as an operator runs it: SIGHUP reads the configuration again and never stops
//! the server; a configuration that does not load keeps the running one; a renewed certificate
//! is in force after SIGHUP while connections stay up; SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(20);

/// A `cordial serve` child whose log lines arrive on a channel.
struct Served {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Served {
    fn start(config: &std::path::Path) -> Served {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cordial"))
            .args(["serve", "--config"])
            .arg(config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cordial serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Served { child, lines }
    }

    /// The first log line from now on that contains `what`.
    fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(what) => return line,
                Ok(_) => {}
                Err(e) => panic!("no log line with {what:?} within {WAIT:?}: {e}"),
            }
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -{name}");
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().expect("child status").is_none()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write_config(path: &std::path::Path, data: &std::path::Path, log_level: &str) {
    let toml = format!(
        "data_dir = {data:?}\nlog_level = {log_level:?}\n\n[c2s]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"off\"\n\n[web]\nlisten = \"off\"\n\n[s2s]\nlisten = \"off\"\n"
    );
    std::fs::write(path, toml).unwrap();
}

/// The server still answers a new stream with its features.
async fn answers_a_stream(port: u16) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the server still accepts");
    features_on(&mut s).await;
}

#[tokio::test]
async fn sighup_reloads_the_configuration_and_never_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cordial.toml");
    let data = dir.path().join("data");
    write_config(&config, &data, "info,sled=off");
    let mut served = Served::start(&config);
    let port = port_in(&served.wait_for("listening for clients on 127.0.0.1:"));
    served.wait_for("serving localhost");

    // A new log filter takes effect on SIGHUP.
    write_config(&config, &data, "debug,sled=off");
    served.signal("HUP");
    served.wait_for("log filter \"debug,sled=off\"");
    served.wait_for("configuration reloaded");
    assert!(served.running(), "SIGHUP stopped the server");
    answers_a_stream(port).await;

    // A configuration that does not load is reported, and the running one stays.
    std::fs::write(&config, "domains = 3\n").unwrap();
    served.signal("HUP");
    served.wait_for("configuration not reloaded, the running one stays");
    assert!(served.running(), "a bad reload stopped the server");
    answers_a_stream(port).await;

    served.signal("TERM");
    served.wait_for("stopped");
    let status = served.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

/// A port from a "listening for clients on 127.0.0.1:PORT ..." line.
fn port_in(line: &str) -> u16 {
    line.rsplit("127.0.0.1:")
        .next()
        .and_then(|p| p.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a port in {line:?}"))
}

/// A new self-signed certificate for localhost, written over `cert` and `key`.
fn renew(cert: &std::path::Path, key: &std::path::Path) -> Vec<u8> {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(cert, c.cert.pem()).unwrap();
    std::fs::write(key, c.key_pair.serialize_pem()).unwrap();
    c.cert.der().to_vec()
}

/// A direct TLS connection to `port`, and the certificate the server showed (DER).
async fn tls_connect(port: u16) -> (tokio_openssl::SslStream<tokio::net::TcpStream>, Vec<u8>) {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    b.set_verify(SslVerifyMode::NONE);
    let ssl = b
        .build()
        .configure()
        .unwrap()
        .into_ssl("localhost")
        .unwrap();
    let mut s = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
    std::pin::Pin::new(&mut s).connect().await.unwrap();
    let der = s.ssl().peer_certificate().unwrap().to_der().unwrap();
    (s, der)
}

/// Sends a stream header on `s` and reads up to the end of the features.
async fn features_on<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(s: &mut S) {
    s.write_all(
        b"<?xml version='1.0'?><stream:stream to='localhost' version='1.0' \
          xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        while !String::from_utf8_lossy(&got).contains("</stream:features>") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "the stream ended before its features");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("features within the wait");
}

#[tokio::test]
async fn sighup_puts_a_renewed_certificate_in_force_with_connections_up() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cordial.toml");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let first = renew(&cert, &key);
    let toml = format!(
        "data_dir = {:?}\n\n[c2s]\nlisten = \"off\"\ntls_listen = \"127.0.0.1:0\"\n\n[web]\nlisten = \"off\"\n\n[s2s]\nlisten = \"off\"\n\n[tls]\ncert = {cert:?}\nkey = {key:?}\n",
        dir.path().join("data")
    );
    std::fs::write(&config, toml).unwrap();
    let mut served = Served::start(&config);
    let port = port_in(&served.wait_for("listening for clients on 127.0.0.1:"));
    served.wait_for("serving localhost");

    let (mut before, shown) = tls_connect(port).await;
    assert_eq!(shown, first);

    let second = renew(&cert, &key);
    served.signal("HUP");
    served.wait_for("configuration reloaded");
    let (mut after, shown) = tls_connect(port).await;
    assert_eq!(shown, second, "the renewed certificate after SIGHUP");
    // The connection made before the reload is still served, on its old certificate.
    features_on(&mut before).await;
    features_on(&mut after).await;
    assert!(served.running());
}
