//! What the load generator and the crash driver share: a minimal XMPP client that speaks to any
//! server over TCP or WebSocket, independent of cordial's crates.

pub mod client;
pub mod raw;
pub mod ws;
