//! `cordial serve` as an operator runs it: SIGHUP reads the configuration again and never stops
//! the server; a configuration that does not load keeps the running one; SIGTERM stops it
//! cleanly.

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
        "data_dir = {data:?}\nlog_level = {log_level:?}\n\n[c2s]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"off\"\n\n[web]\nlisten = \"off\"\n"
    );
    std::fs::write(path, toml).unwrap();
}

/// The server still answers a new stream with its features.
async fn answers_a_stream(port: u16) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the server still accepts");
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
async fn sighup_reloads_the_configuration_and_never_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("cordial.toml");
    let data = dir.path().join("data");
    write_config(&config, &data, "info,sled=off");
    let mut served = Served::start(&config);
    let line = served.wait_for("listening for clients on 127.0.0.1:");
    let port: u16 = line
        .rsplit("127.0.0.1:")
        .next()
        .and_then(|p| p.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a port in {line:?}"));
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
