//! cordial's IM and presence semantics as actix actors.
//!
//! No sockets and no bytes live here: a connection's link task (in the `cordial` crate) hands a
//! bound stream to a [`session::ResourceActor`] through a [`link::LinkHandle`], and everything
//! else is stanzas as [`minidom::Element`]s travelling between actors. The messages they
//! exchange are all in [`protocol`].
//!
//! Layers, each importing only those below it:
//!
//! - session: [`session::ResourceActor`], one per bound resource; stamps `from`, classifies
//!   `to` once, hands stanzas on in order ([`in_order`]);
//! - account: [`account::UserActor`], one per account in use, the single writer of its state;
//!   the features it applies each have a module holding the pure model and the actor-side
//!   handler: [`roster`] (RFC 6121 §2), [`subscription`] (§3), [`presence`] (§4),
//!   [`delivery`] (§8.5, with the privacy rules first), [`privacy`] (XEP-0016), [`blocking`]
//!   (XEP-0191), offline storage (XEP-0160, [`offline`]);
//! - the server's own services: [`server_iq`] routes an IQ to the server (or on an account's
//!   behalf) by namespace to [`disco`] (XEP-0030), [`vcard`] (XEP-0054) and [`registration`]
//!   (XEP-0077, whose model the link's registration before login shares), and answers ping and
//!   version itself; [`accounts`] creates, rekeys and deletes
//!   accounts;
//! - routing: [`router::Router`], who is where (bare JID -> account actor, read without a
//!   mailbox hop; other domains through its [`router::RemoteRoute`]);
//! - storage: the `cordial-storage` crate, reached through [`cordial_storage::Storage`].

// Below the actors: shared vocabulary.
pub mod config;
pub mod error;
pub mod in_order;
pub mod link;
pub mod metrics;
pub mod ns;
pub mod protocol;
pub mod stanza;

pub mod xml;

// Routing.
pub mod router;

// Features: each its model and its handler.
pub mod blocking;
pub mod delivery;
pub mod disco;
pub mod offline;
pub mod presence;
pub mod privacy;
pub mod registration;
pub mod roster;
pub mod subscription;
pub mod vcard;

// The account, its session, and the server's own services.
pub mod account;
pub mod accounts;
pub mod server_iq;
pub mod session;

pub use config::ActorsConfig;
pub use router::Router;

/// The router, with account actors spawned on demand as [`account::UserActor`]s: what a server
/// (or a test) starts. `arbiters`: where account actors run (the current arbiter when empty).
pub fn new_router(
    config: ActorsConfig,
    store: cordial_storage::SharedStorage,
    arbiters: Vec<actix::ArbiterHandle>,
) -> std::sync::Arc<Router> {
    new_router_with(config, store, arbiters, Box::new(router::NoRemoteDomains))
}

/// [`new_router`] with stanzas for other domains going to `remote` (federation).
pub fn new_router_with(
    config: ActorsConfig,
    store: cordial_storage::SharedStorage,
    arbiters: Vec<actix::ArbiterHandle>,
    remote: Box<dyn router::RemoteRoute>,
) -> std::sync::Arc<Router> {
    Router::new(config, store, arbiters, Box::new(account::spawn), remote)
}
