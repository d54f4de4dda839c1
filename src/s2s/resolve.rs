//! Finding a domain's server (RFC 6120 §3.2, XEP-0368): its static route in `s2s.routes`,
//! else DNS SRV records `_xmpps-server._tcp` (direct TLS) and `_xmpp-server._tcp`
//! (STARTTLS), merged by priority (direct TLS first at equal priority), else the domain itself
//! on port 5269. Through hickory-resolver, on the system's nameservers or those of
//! `s2s.nameservers` (a stub on loopback, for tests and private deployments).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

/// A host and port to try, and whether it speaks TLS from the first byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub direct_tls: bool,
}

/// The DNS side, built once per server.
pub struct Resolver(Result<TokioResolver, String>);

impl Resolver {
    /// On `nameservers` ("ip:port") when given, else the system's configuration.
    pub fn new(nameservers: &[SocketAddr]) -> Resolver {
        let provider = TokioRuntimeProvider::default();
        let builder = if nameservers.is_empty() {
            TokioResolver::builder(provider).map_err(|e| e.to_string())
        } else {
            let mut config = ResolverConfig::default();
            for ns in nameservers {
                let mut server = NameServerConfig::udp_and_tcp(ns.ip());
                for c in &mut server.connections {
                    c.port = ns.port();
                }
                config.add_name_server(server);
            }
            Ok(TokioResolver::builder_with_config(config, provider))
        };
        let built = builder.and_then(|mut b| {
            let o = b.options_mut();
            o.timeout = Duration::from_secs(5);
            o.attempts = 2;
            b.build().map_err(|e| e.to_string())
        });
        Resolver(built)
    }

    fn dns(&self) -> Result<&TokioResolver, String> {
        self.0.as_ref().map_err(|e| format!("no DNS resolver: {e}"))
    }

    /// Where `domain`'s server may be, in the order to try.
    pub async fn targets(&self, domain: &str) -> Result<Vec<Target>, String> {
        let dns = self.dns()?;
        let mut records = Vec::new();
        for (service, direct_tls) in [("_xmpps-server._tcp", true), ("_xmpp-server._tcp", false)] {
            let name = format!("{service}.{domain}.");
            match dns.srv_lookup(name.as_str()).await {
                Ok(lookup) => {
                    for r in lookup.answers() {
                        if let RData::SRV(srv) = &r.data {
                            records.push((
                                srv.priority,
                                u16::MAX - srv.weight,
                                !direct_tls,
                                srv.target.to_utf8(),
                                srv.port,
                            ));
                        }
                    }
                }
                Err(e) if e.is_no_records_found() => {}
                Err(e) => return Err(format!("SRV lookup of {name}: {e}")),
            }
        }
        if records.is_empty() {
            return Ok(vec![Target {
                host: domain.to_string(),
                port: 5269,
                direct_tls: false,
            }]);
        }
        // RFC 2782: a single record with target "." says the service is not offered.
        if records.iter().all(|r| r.3 == ".") {
            return Err(format!(
                "{domain} says it offers no XMPP server-to-server service"
            ));
        }
        records.sort();
        Ok(records
            .into_iter()
            .filter(|r| r.3 != ".")
            .map(|(_, _, starttls, host, port)| Target {
                host: host.trim_end_matches('.').to_string(),
                port,
                direct_tls: !starttls,
            })
            .collect())
    }

    /// The addresses of `host` (A and AAAA), or the address itself.
    pub async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let name = format!("{}.", host.trim_end_matches('.'));
        let found = self
            .dns()?
            .lookup_ip(name.as_str())
            .await
            .map_err(|e| format!("address lookup of {host}: {e}"))?;
        Ok(found.iter().collect())
    }
}
