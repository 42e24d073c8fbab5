//! Hospitals as separate hosts: each site (a hospital's `cometbft` and
//! `ehr-node`) in a network namespace of its own (`namespace`), the sites
//! joined only through a Toxiproxy proxy per direction of each link
//! (`toxiproxy`), so a test puts latency, bandwidth limits and cuts on the
//! wide-area links while the consortium works.
//!
//! Namespaces need root (`ip netns add` mounts: CAP_SYS_ADMIN and
//! CAP_NET_ADMIN). Where they cannot be made, the sites fall back to
//! loopback, still linked only through the proxies, and say so once: the
//! faults are the same, the isolation is by configuration rather than by the
//! kernel.

mod namespace;
pub mod toxiproxy;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use namespace::Namespace;
use toxiproxy::{Stream, Toxic, Toxiproxy};

use crate::Error;

/// One site: where its processes listen and how they are placed there.
pub struct Site {
    pub name: String,
    /// Where its processes listen (`198.18.N.2`; loopback in the fallback).
    pub address: IpAddr,
    /// Where its processes reach the links to the others (`198.18.N.1`).
    gateway: IpAddr,
    namespace: Option<Namespace>,
}

impl Site {
    /// Makes `cmd` run at this site (inside its namespace, if it has one).
    pub fn enter(&self, cmd: &mut Command) {
        if let Some(ns) = &self.namespace {
            ns.enter(cmd);
        }
    }
}

/// One direction of a link: the proxy `from`'s processes dial to reach `to`.
struct Link {
    from: usize,
    to: usize,
    name: String,
    listen: SocketAddr,
}

/// The sites and the proxies between them.
pub struct Sites {
    pub sites: Vec<Site>,
    /// Whether the sites are network namespaces (false: the loopback fallback).
    pub isolated: bool,
    toxiproxy: Toxiproxy,
    links: Mutex<Vec<Link>>,
    /// Links cut now, by index in `links`.
    cut: Mutex<BTreeSet<(usize, usize)>>,
}

impl std::fmt::Debug for Sites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.sites.iter().map(|s| s.name.as_str()).collect();
        f.debug_struct("Sites")
            .field("sites", &names)
            .field("isolated", &self.isolated)
            .finish()
    }
}

impl Sites {
    /// A site per name, each in a namespace of its own where the machine
    /// allows, and a Toxiproxy (its log in `dir`) for the links.
    pub fn create(dir: &Path, names: &[&str]) -> Result<Sites, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error(format!("{}: {e}", dir.display())))?;
        let toxiproxy = Toxiproxy::start(dir)?;
        let (sites, isolated) = match Namespace::create(names.len()) {
            Ok(namespaces) => (
                names
                    .iter()
                    .zip(namespaces)
                    .map(|(name, ns)| Site {
                        name: name.to_string(),
                        address: IpAddr::V4(ns.address),
                        gateway: IpAddr::V4(ns.gateway),
                        namespace: Some(ns),
                    })
                    .collect(),
                true,
            ),
            Err(e) => {
                eprintln!(
                    "sites: no network namespaces here ({e}); the sites share loopback and reach each other only through Toxiproxy"
                );
                let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
                (
                    names
                        .iter()
                        .map(|name| Site {
                            name: name.to_string(),
                            address: loopback,
                            gateway: loopback,
                            namespace: None,
                        })
                        .collect(),
                    false,
                )
            }
        };
        Ok(Sites {
            sites,
            isolated,
            toxiproxy,
            links: Mutex::new(Vec::new()),
            cut: Mutex::new(BTreeSet::new()),
        })
    }

    pub fn len(&self) -> usize {
        self.sites.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// The address `from`'s processes dial to reach `upstream` at site `to`:
    /// a proxy on `from`'s side of the machine, made on first ask.
    pub fn link(&self, from: usize, to: usize, upstream: SocketAddr) -> Result<SocketAddr, Error> {
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = links.iter().find(|l| l.from == from && l.to == to) {
            return Ok(l.listen);
        }
        let name = format!("{}-to-{}", self.sites[from].name, self.sites[to].name);
        let listen = SocketAddr::new(self.sites[from].gateway, crate::free_port()?);
        self.toxiproxy.create(&name, listen, upstream)?;
        links.push(Link {
            from,
            to,
            name,
            listen,
        });
        Ok(listen)
    }

    /// Cuts every link between a site of `a` and a site of `b`, both ways:
    /// open connections close, new ones are refused.
    pub fn cut_between(&self, a: &[usize], b: &[usize]) -> Result<(), Error> {
        self.set_between(a, b, false)
    }

    /// Cuts `site` off from every other site.
    pub fn isolate(&self, site: usize) -> Result<(), Error> {
        let others: Vec<usize> = (0..self.len()).filter(|&s| s != site).collect();
        self.cut_between(&[site], &others)
    }

    /// Heals every cut link.
    pub fn heal(&self) -> Result<(), Error> {
        let cut: Vec<(usize, usize)> = {
            let cut = self.cut.lock().unwrap_or_else(|e| e.into_inner());
            cut.iter().copied().collect()
        };
        for (from, to) in cut {
            self.set_link(from, to, true)?;
        }
        Ok(())
    }

    /// `one_way` (± `jitter`) on every link, in both directions: a round
    /// trip between two sites then takes twice `one_way`.
    pub fn set_latency(&self, one_way: Duration, jitter: Duration) -> Result<(), Error> {
        self.each_link(|name| {
            for stream in [Stream::Upstream, Stream::Downstream] {
                self.toxiproxy.add_toxic(
                    name,
                    stream,
                    Toxic::Latency {
                        latency: one_way,
                        jitter,
                    },
                )?;
            }
            Ok(())
        })
    }

    /// The latency taken off every link.
    pub fn clear_latency(&self) -> Result<(), Error> {
        let any = Toxic::Latency {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
        };
        self.each_link(|name| {
            for stream in [Stream::Upstream, Stream::Downstream] {
                self.toxiproxy.remove_toxic(name, stream, any)?;
            }
            Ok(())
        })
    }

    /// Toxiproxy's log, for a failure message.
    pub fn log(&self) -> &Path {
        self.toxiproxy.log()
    }

    fn each_link(&self, mut f: impl FnMut(&str) -> Result<(), Error>) -> Result<(), Error> {
        let names: Vec<String> = {
            let links = self.links.lock().unwrap_or_else(|e| e.into_inner());
            links.iter().map(|l| l.name.clone()).collect()
        };
        names.iter().try_for_each(|n| f(n))
    }

    fn set_between(&self, a: &[usize], b: &[usize], enabled: bool) -> Result<(), Error> {
        for &x in a {
            for &y in b {
                self.set_link(x, y, enabled)?;
                self.set_link(y, x, enabled)?;
            }
        }
        Ok(())
    }

    fn set_link(&self, from: usize, to: usize, enabled: bool) -> Result<(), Error> {
        let name = {
            let links = self.links.lock().unwrap_or_else(|e| e.into_inner());
            links
                .iter()
                .find(|l| l.from == from && l.to == to)
                .map(|l| l.name.clone())
        };
        let mut cut = self.cut.lock().unwrap_or_else(|e| e.into_inner());
        if enabled {
            cut.remove(&(from, to));
        } else {
            cut.insert((from, to));
        }
        match name {
            Some(name) => self.toxiproxy.set_enabled(&name, enabled),
            // No link made yet: nothing to cut.
            None => Ok(()),
        }
    }
}
