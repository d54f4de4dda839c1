//! The server under test (cordial or Prosody) as a child process on a loopback port, its data
//! directory on a tmpfs of its own that this program mounts, grows and unmounts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cordial_bench::process;
use tokio::process::{Child, Command};

/// Prosody's configuration as scripts/bench/compare.sh runs it, with mod_offline (no quota of
/// its own).
const PROSODY_CONFIG: &str = include_str!("../../../scripts/bench/prosody.cfg.lua.in");

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Cordial,
    Prosody,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Cordial => "cordial",
            Kind::Prosody => "prosody",
        }
    }
}

/// Runs a command to completion; its stderr is the error.
fn run(cmd: &mut std::process::Command) -> Result<String, String> {
    let what = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A tmpfs mounted at `path`; unmounted when dropped (lazily if something still holds it).
pub struct Tmpfs {
    path: PathBuf,
    mounted: bool,
}

impl Tmpfs {
    pub fn mount(path: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(path).map_err(|e| format!("{}: {e}", path.display()))?;
        run(std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0755"))
            .arg("tmpfs")
            .arg(path))
        .map_err(|e| format!("mounting a tmpfs (needs root): {e}"))?;
        Ok(Tmpfs {
            path: path.to_path_buf(),
            mounted: true,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Resizes the mounted filesystem in place; files and open handles stay.
    pub fn resize(&self, size: &str) -> Result<(), String> {
        run(std::process::Command::new("mount")
            .arg("-o")
            .arg(format!("remount,size={size}"))
            .arg(&self.path))
        .map(|_| ())
    }

    /// Bytes in use on the filesystem (statvfs: (blocks - free blocks) × block size).
    pub fn used(&self) -> Result<u64, String> {
        let out = run(std::process::Command::new("stat")
            .args(["-f", "-c", "%b %f %S"])
            .arg(&self.path))?;
        let v: Vec<u64> = out
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        match v[..] {
            [blocks, free, size] => Ok((blocks - free) * size),
            _ => Err(format!("unexpected statfs output {out:?}")),
        }
    }

    pub fn unmount(&mut self) -> Result<(), String> {
        if !self.mounted {
            return Ok(());
        }
        let r = run(std::process::Command::new("umount").arg(&self.path)).map(|_| ());
        if r.is_ok() {
            self.mounted = false;
        }
        r
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if self.unmount().is_err() {
            let _ = run(std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.path));
        }
    }
}

pub struct Server {
    pub kind: Kind,
    bin: PathBuf,
    /// Config, logs and pid file (not on the tmpfs).
    dir: PathBuf,
    /// The data directory: the tmpfs.
    data: PathBuf,
    pub addr: SocketAddr,
    child: Option<Child>,
    starts: usize,
}

impl Server {
    /// Writes the server's config in `dir` with its data in `data`, on a free loopback port.
    pub fn new(kind: Kind, bin: &Path, dir: &Path, data: &Path) -> Result<Server, String> {
        let port = process::free_port();
        let config = match kind {
            // No stanza rate limit (as the other servers are run) and an offline quota above
            // what the run sends, so that only the disk refuses messages.
            Kind::Cordial => process::cordial_config(data, port),
            Kind::Prosody => PROSODY_CONFIG
                .replace("@DIR@", &dir.display().to_string())
                .replace("@DATA@", &data.display().to_string())
                .replace("@PORT@", &port.to_string())
                .replace("@LOG_LEVEL@", "warn"),
        };
        let file = match kind {
            Kind::Cordial => "cordial.toml",
            Kind::Prosody => "prosody.cfg.lua",
        };
        std::fs::write(dir.join(file), config).map_err(|e| format!("writing {file}: {e}"))?;
        Ok(Server {
            kind,
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            data: data.to_path_buf(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child: None,
            starts: 0,
        })
    }

    pub async fn start(&mut self) -> Result<(), String> {
        self.starts += 1;
        let log = self.dir.join(format!("server-{}.log", self.starts));
        let mut cmd = match self.kind {
            Kind::Cordial => process::cordial_serve(&self.bin, &self.dir.join("cordial.toml")),
            Kind::Prosody => {
                // As its own user, as in production (as root, its mod_posix shuts it down).
                run(std::process::Command::new("chown")
                    .args(["-R", "prosody:prosody"])
                    .arg(&self.dir)
                    .arg(&self.data))?;
                let mut c = Command::new("setpriv");
                c.args(["--reuid", "prosody", "--regid", "prosody", "--init-groups"])
                    .arg(&self.bin)
                    .arg("-F")
                    .arg("--config")
                    .arg(self.dir.join("prosody.cfg.lua"));
                c
            }
        };
        process::start(&mut cmd, &self.bin, &log, self.addr, &mut self.child).await
    }

    /// Whether the process has exited by itself, and how.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(status))) => Some(status.to_string()),
            _ => None,
        }
    }

    /// SIGTERM to the server's PID and a wait for it to exit (30 s, then SIGKILL). Ok(true) if
    /// it exited by itself with success.
    pub async fn stop(&mut self) -> Result<bool, String> {
        let Some(mut child) = self.child.take() else {
            return Ok(false);
        };
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("the server had exited by itself: {status}"));
        }
        let pid = child.id().ok_or("the server has no PID")?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
            Ok(Ok(status)) => Ok(status.success()),
            Ok(Err(e)) => Err(format!("waiting for the server: {e}")),
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                Err("the server did not exit within 30 s of SIGTERM; killed".into())
            }
        }
    }

    /// The last lines of each of this run's server logs, for reports.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = Vec::new();
        let mut files: Vec<String> = (1..=self.starts)
            .map(|i| format!("server-{i}.log"))
            .collect();
        if self.kind == Kind::Prosody {
            files.push("prosody.log".into());
        }
        for f in files {
            let text = std::fs::read_to_string(self.dir.join(&f)).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            out.push(format!("{f}: {}", tail.join(" | ")));
        }
        out.join("\n")
    }
}
