//! Where a backend lives: fixed `http://host:port` endpoints, or a
//! `dns://name:port` resolved again and again (a Kubernetes headless Service
//! lists one address per ready pod).

use std::{future::Future, io, net::SocketAddr, pin::Pin, sync::Arc};

use anyhow::Context as _;
use http::Uri;

/// One backend's endpoints as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Fixed endpoints.
    Static(Vec<Uri>),
    /// A name whose addresses are looked up periodically.
    Dns {
        /// Host name.
        host: String,
        /// Port every address is served on.
        port: u16,
    },
}

impl Target {
    /// Parses a list as given on the command line: one `dns://name:port`, or
    /// one or more `http://host:port`.
    pub fn parse(urls: &[String]) -> anyhow::Result<Self> {
        let urls: Vec<&str> = urls.iter().map(|u| u.trim()).filter(|u| !u.is_empty()).collect();
        anyhow::ensure!(!urls.is_empty(), "no endpoint given");
        if let Some(rest) = urls.iter().find_map(|u| u.strip_prefix("dns://")) {
            anyhow::ensure!(urls.len() == 1, "a dns:// target stands alone, not in a list");
            let (host, port) = rest
                .rsplit_once(':')
                .with_context(|| format!("dns://{rest}: a port is required (dns://name:port)"))?;
            anyhow::ensure!(!host.is_empty(), "dns://{rest}: the host name is empty");
            let port = port
                .parse()
                .with_context(|| format!("dns://{rest}: bad port {port:?}"))?;
            return Ok(Self::Dns {
                host: host.to_owned(),
                port,
            });
        }
        let uris = urls
            .iter()
            .map(|url| {
                let uri: Uri = url.parse().with_context(|| format!("bad endpoint {url:?}"))?;
                anyhow::ensure!(
                    uri.scheme_str() == Some("http") && uri.authority().is_some_and(|a| a.port().is_some()),
                    "endpoint {url:?} must be http://host:port or dns://name:port"
                );
                Ok(uri)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self::Static(uris))
    }
}

/// Future of a name lookup.
pub type Lookup<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send + 'a>>;

/// Looks names up; the system resolver in production, a scripted one in tests.
pub trait Resolve: Send + Sync + std::fmt::Debug {
    /// The addresses `host` has now, each with `port`.
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> Lookup<'a>;
}

/// The operating system's resolver (`getaddrinfo` on a blocking thread).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str, port: u16) -> Lookup<'a> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// A shared resolver.
pub type SharedResolver = Arc<dyn Resolve>;

/// The endpoint URI for an address.
pub fn uri_of(addr: SocketAddr) -> Uri {
    // An IP and a port always make a valid authority.
    format!("http://{addr}").parse().expect("http://ip:port is a valid URI")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> anyhow::Result<Target> {
        Target::parse(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_static_lists_and_dns_names() {
        let Ok(Target::Static(uris)) = parse(&["http://10.0.0.1:50061", " http://leads-0:50061 "]) else {
            panic!("static list");
        };
        assert_eq!(uris.len(), 2);
        assert_eq!(
            parse(&["dns://leads.tiejun.svc.cluster.local:50061"]).expect("dns"),
            Target::Dns {
                host: "leads.tiejun.svc.cluster.local".into(),
                port: 50061
            }
        );
    }

    #[test]
    fn refuses_what_cannot_be_dialled() {
        let bad: [&[&str]; 8] = [
            &[],
            &["leads:50061"],
            &["http://leads"],
            &["https://leads:443"],
            &["dns://leads"],
            &["dns://:50061"],
            &["dns://leads:x"],
            &["dns://a:1", "http://b:2"],
        ];
        for list in bad {
            assert!(parse(list).is_err(), "{list:?} accepted");
        }
    }

    #[tokio::test]
    async fn the_system_resolver_finds_localhost() {
        let addrs = SystemResolver.resolve("localhost", 7).await.expect("resolves");
        assert!(addrs.iter().any(|a| a.ip().is_loopback() && a.port() == 7), "{addrs:?}");
    }
}
