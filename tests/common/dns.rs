//! A DNS stub on 127.0.0.1 for the federation tests: it answers the records it was given and
//! NXDOMAIN for every other name, at once, so no test ever asks the machine's nameserver and
//! an unknown domain fails fast. Messages are read and written with hickory-proto.

use std::net::SocketAddr;
use std::sync::Arc;

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, SRV};
use hickory_resolver::proto::rr::{Name, RData, Record};

/// A record the stub answers: its owner name (absolute, "_xmpp-server._tcp.b.test.").
#[derive(Clone)]
pub enum Answer {
    Srv {
        name: String,
        priority: u16,
        port: u16,
        target: String,
    },
    A {
        name: String,
        ip: std::net::Ipv4Addr,
    },
}

impl Answer {
    fn name(&self) -> &str {
        match self {
            Answer::Srv { name, .. } | Answer::A { name, .. } => name,
        }
    }

    fn record(&self) -> Record {
        let owner = Name::from_ascii(self.name()).unwrap();
        let data = match self {
            Answer::Srv {
                priority,
                port,
                target,
                ..
            } => RData::SRV(SRV::new(
                *priority,
                0,
                *port,
                Name::from_ascii(target).unwrap(),
            )),
            Answer::A { ip, .. } => RData::A(A(*ip)),
        };
        Record::from_rdata(owner, 60, data)
    }
}

/// Starts the stub; its address, for `s2s.nameservers`. It runs until the test's runtime ends.
pub async fn stub(answers: Vec<Answer>) -> SocketAddr {
    let socket = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut reply = Message::new(
                query.metadata.id,
                MessageType::Response,
                query.metadata.op_code,
            );
            reply.metadata.recursion_desired = query.metadata.recursion_desired;
            reply.metadata.recursion_available = true;
            reply.metadata.authoritative = true;
            let mut found = false;
            for q in &query.queries {
                reply.add_query(q.clone());
                let asked = q.name().to_ascii().to_ascii_lowercase();
                for a in answers
                    .iter()
                    .filter(|a| a.name().eq_ignore_ascii_case(&asked))
                {
                    let r = a.record();
                    if r.record_type() == q.query_type() {
                        reply.add_answer(r);
                    }
                    found = true;
                }
            }
            if !found {
                reply.metadata.response_code = ResponseCode::NXDomain;
            }
            if let Ok(bytes) = reply.to_vec() {
                let _ = socket.send_to(&bytes, from).await;
            }
        }
    });
    addr
}
