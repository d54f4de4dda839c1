//! What the load generator and the crash and fault drivers share: a minimal XMPP client that
//! speaks to any server over TCP or WebSocket, independent of cordial's crates, and the server
//! under test as a child process.

pub mod client;
pub mod process;
pub mod raw;
pub mod ws;

/// Any failure of the client or its transport, with its message.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
