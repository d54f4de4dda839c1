//! Account commands ([`request`]): through the local admin socket of a running server, because
//! sled allows one process per database, or on the database when no server runs.
//!
//! The socket (bound when the server is built with
//! [`Server::admin_socket`](crate::Server::admin_socket), as `cordial serve` does) is
//! `DATA_DIR/admin.sock`, mode 0600: only the server's user can talk to it. One JSON request
//! line, one JSON response line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cordial_actors::Router;
use cordial_storage::{StorageError, Store};
use jid::BareJid;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::config::Config;

const SOCKET_NAME: &str = "admin.sock";

fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// An account command.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    Adduser { jid: String, password: String },
    Deluser { jid: String },
    Passwd { jid: String, password: String },
    Users,
}

/// The answer to a [`Request`]: whether it was carried out, what happened, and the accounts
/// for [`Request::Users`].
#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    pub message: String,
    #[serde(default)]
    pub users: Vec<String>,
}

impl Response {
    fn ok(message: impl Into<String>) -> Self {
        Response {
            ok: true,
            message: message.into(),
            users: Vec::new(),
        }
    }
    fn err(message: impl Into<String>) -> Self {
        Response {
            ok: false,
            message: message.into(),
            users: Vec::new(),
        }
    }
}

/// Why an account command could not be carried out at all.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Talking to the running server's admin socket failed.
    #[error(transparent)]
    Socket(#[from] std::io::Error),
    /// No server runs, and the database cannot be opened.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Carries out an account command for the server whose data is in `config.data_dir`: over its
/// admin socket while it runs, or, when no server answers there, on the database itself
/// (through the same account operations and actors, started in the current actix System).
pub async fn request(config: &Config, req: Request) -> Result<Response, AdminError> {
    if let Some(resp) = call(&config.data_dir, &req).await? {
        return Ok(resp);
    }
    let store = Store::open(&config.data_dir.join("db"))?;
    let router = cordial_actors::new_router(config.actors_config(), Arc::new(store), Vec::new());
    Ok(execute(&router, req).await)
}

/// Parses a JID given on the command line: a bare JID on a domain this server hosts.
pub(crate) fn account_jid(router: &Router, jid: &str) -> Result<BareJid, String> {
    let bare = BareJid::new(jid).map_err(|e| format!("{jid:?} is not a valid JID: {e}"))?;
    if bare.node().is_none() {
        return Err(format!(
            "{jid:?} has no localpart; accounts look like user@{}",
            router.config().domains[0]
        ));
    }
    if !router.config().hosts(bare.domain().as_str()) {
        return Err(format!(
            "{} is not a domain this server hosts (domains: {})",
            bare.domain(),
            router.config().domains.join(", ")
        ));
    }
    Ok(bare)
}

/// Carries out one request against the store, through the actors' account operations.
async fn execute(router: &Arc<Router>, req: Request) -> Response {
    use cordial_actors::accounts;
    let (jid, password) = match &req {
        Request::Adduser { jid, password } | Request::Passwd { jid, password } => {
            (jid, Some(password))
        }
        Request::Deluser { jid } => (jid, None),
        Request::Users => return users(router),
    };
    let bare = match account_jid(router, jid) {
        Err(e) => return Response::err(e),
        Ok(_) if password.is_some_and(|p| p.is_empty()) => {
            return Response::err("the password must not be empty")
        }
        Ok(bare) => bare,
    };
    // Each operation answers whether the account was in the state it needs; the message when
    // it was (before the JID) and when it was not (after it).
    let (result, done, refused) = match &req {
        Request::Adduser { password, .. } => (
            accounts::create_account(router, &bare, password).await,
            "created",
            "already exists",
        ),
        Request::Deluser { .. } => (
            accounts::delete_account(router, &bare).await,
            "deleted",
            "does not exist",
        ),
        Request::Passwd { password, .. } => (
            accounts::change_password(router, &bare, password).await,
            "changed the password of",
            "does not exist",
        ),
        Request::Users => unreachable!("answered above"),
    };
    match result {
        Ok(true) => Response::ok(format!("{done} {bare}")),
        Ok(false) => Response::err(format!("{bare} {refused}")),
        Err(e) => Response::err(e.to_string()),
    }
}

fn users(router: &Router) -> Response {
    match router.store.accounts() {
        Ok(users) => Response {
            ok: true,
            message: format!("{} accounts", users.len()),
            users,
        },
        Err(e) => Response::err(e.to_string()),
    }
}

/// Binds the admin socket (replacing a stale one) with mode 0600.
pub(crate) fn bind(data_dir: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let path = socket_path(data_dir);
    if path.exists() {
        std::fs::remove_file(&path)?;
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

pub(crate) async fn serve(listener: UnixListener, router: Arc<Router>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let router = router.clone();
        actix_rt::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(r).read_line(&mut line).await.is_err() {
                return;
            }
            let resp = match serde_json::from_str::<Request>(&line) {
                Ok(req) => {
                    log::info!("admin socket: {}", describe(&req));
                    execute(&router, req).await
                }
                Err(e) => Response::err(format!("bad request: {e}")),
            };
            let mut out = serde_json::to_vec(&resp).expect("responses serialise");
            out.push(b'\n');
            let _ = w.write_all(&out).await;
        });
    }
}

/// A log line for a request that never contains the password.
fn describe(req: &Request) -> String {
    match req {
        Request::Adduser { jid, .. } => format!("adduser {jid}"),
        Request::Deluser { jid } => format!("deluser {jid}"),
        Request::Passwd { jid, .. } => format!("passwd {jid}"),
        Request::Users => "users".into(),
    }
}

/// Client side: `Ok(None)` when no server answers on the socket.
async fn call(data_dir: &Path, req: &Request) -> std::io::Result<Option<Response>> {
    let mut stream = match UnixStream::connect(socket_path(data_dir)).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let mut line = serde_json::to_vec(req).expect("requests serialise");
    line.push(b'\n');
    stream.write_all(&line).await?;
    let mut resp = String::new();
    BufReader::new(stream).read_line(&mut resp).await?;
    serde_json::from_str(&resp)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
