//! Client listeners: STARTTLS (RFC 6120 §5) and direct TLS (XEP-0368). Each accepted connection
//! becomes a link task on one of the server's arbiters, round robin, so both cores work.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::ArbiterHandle;
use tokio::net::TcpListener;

use crate::link::{self, LinkContext};

pub async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<LinkContext>,
    arbiters: Arc<Vec<ArbiterHandle>>,
    direct_tls: bool,
) {
    let next = AtomicUsize::new(0);
    loop {
        let (tcp, peer): (_, SocketAddr) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off briefly rather than spin.
                log::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        log::debug!(
            "{peer}: connected{}",
            if direct_tls { " (direct TLS)" } else { "" }
        );
        // Re-register the socket with the reactor of the arbiter that will serve it, so each
        // core polls its own connections.
        let Ok(std_tcp) = tcp.into_std() else {
            continue;
        };
        let ctx = ctx.clone();
        let slot = ctx.connections.enter(peer.ip());
        let fut = async move {
            let Ok(tcp) = tokio::net::TcpStream::from_std(std_tcp) else {
                return;
            };
            match slot {
                Some(_slot) => link::serve(tcp, peer, ctx, direct_tls).await,
                None => link::refuse(tcp, &ctx, direct_tls).await,
            }
            log::debug!("{peer}: disconnected");
        };
        let i = next.fetch_add(1, Ordering::Relaxed) % arbiters.len().max(1);
        match arbiters.get(i) {
            Some(a) => {
                a.spawn(fut);
            }
            None => {
                actix_rt::spawn(fut);
            }
        }
    }
}
