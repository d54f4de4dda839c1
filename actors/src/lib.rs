//! cordial's IM and presence semantics as actix actors.
//!
//! No sockets and no bytes live here: a connection's link task (in the `cordial` crate) hands a
//! bound stream to a [`resource::ResourceActor`] through a [`link::LinkHandle`], and everything
//! else is stanzas as [`minidom::Element`]s travelling between actors:
//!
//! - [`router::Router`]: who is where (bare JID -> [`user::UserActor`]), read without a mailbox hop;
//! - [`user::UserActor`]: one per account in use; resources, presence, delivery rules, offline;
//! - [`resource::ResourceActor`]: one per bound resource; stamps `from`, dispatches, writes out;
//! - [`server_iq`]: the server's own IQ handlers (disco, ping, version, vCard, registration).

pub mod accounts;
pub mod blocking;
pub mod config;
pub mod delivery;
pub mod in_order;
pub mod link;
pub mod metrics;
pub mod ns;
pub mod privacy;
pub mod privacy_actor;
pub mod protocol;
pub mod resource;
pub mod roster;
pub mod router;
pub mod server_iq;
pub mod stanza;
pub mod storage_error;
pub mod subscription;
pub mod user;
pub mod xml;

pub use config::ActorsConfig;
pub use router::Router;

/// The router, with account actors spawned on demand as [`user::UserActor`]s: what a server
/// (or a test) starts. `arbiters`: where account actors run (the current arbiter when empty).
pub fn new_router(
    config: ActorsConfig,
    store: cordial_storage::SharedStorage,
    arbiters: Vec<actix::ArbiterHandle>,
) -> std::sync::Arc<Router> {
    Router::new(
        config,
        store,
        arbiters,
        Box::new(user::spawn),
        Box::new(router::NoRemoteDomains),
    )
}
