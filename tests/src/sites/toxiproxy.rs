//! Shopify's Toxiproxy (`scripts/setup.sh` installs it into
//! `target/engines/bin`), driven through its HTTP API: a TCP proxy per link,
//! on which latency, bandwidth limits and cuts are put and taken off while
//! the connections through it live.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::processes::Proc;
use crate::Error;

/// The Toxiproxy the kit installs, or what to do to get one.
pub fn binary() -> Result<PathBuf, Error> {
    crate::installed_engine("toxiproxy-server", "Toxiproxy, with go install")
}

/// A running `toxiproxy-server`, its API on 127.0.0.1.
pub struct Toxiproxy {
    /// Behind a lock: the kit's processes are `Send`, not `Sync`.
    proc: std::sync::Mutex<Proc>,
    log: PathBuf,
    api: SocketAddr,
}

/// What a toxic does to the bytes of one direction of a link.
#[derive(Clone, Copy, Debug)]
pub enum Toxic {
    /// Each chunk held `latency` ± `jitter` before it goes on.
    Latency { latency: Duration, jitter: Duration },
    /// At most this many kilobytes a second.
    Bandwidth { kilobytes_per_second: u64 },
}

/// A direction of a proxied connection: from the client that dialed
/// (`Upstream`) or back to it (`Downstream`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Upstream,
    Downstream,
}

impl Toxic {
    fn kind(self) -> &'static str {
        match self {
            Toxic::Latency { .. } => "latency",
            Toxic::Bandwidth { .. } => "bandwidth",
        }
    }
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }
}

impl Toxiproxy {
    /// Starts the server in `dir`, its API on a free port of 127.0.0.1.
    pub fn start(dir: &Path) -> Result<Toxiproxy, Error> {
        let bin = binary()?;
        let port = crate::free_port()?;
        let mut cmd = Command::new(bin);
        cmd.args(["-host", "127.0.0.1", "-port", &port.to_string()]);
        let proc = Proc::spawn_logging("toxiproxy", cmd, dir)?;
        let api = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        let log = proc.log.clone();
        let toxiproxy = Toxiproxy {
            proc: std::sync::Mutex::new(proc),
            log,
            api,
        };
        while toxiproxy.request("GET", "/version", None).is_err() {
            if Instant::now() > deadline {
                return Err(Error(format!(
                    "Toxiproxy did not answer on {api} within 20 s:\n{}",
                    crate::processes::tail(&toxiproxy.log, 10)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(toxiproxy)
    }

    /// A proxy named `name` listening on `listen` (a port chosen up front:
    /// a proxy cut and healed listens on it again) and passing to `upstream`.
    pub fn create(
        &self,
        name: &str,
        listen: SocketAddr,
        upstream: SocketAddr,
    ) -> Result<(), Error> {
        let body = format!(
            r#"{{"name":"{name}","listen":"{listen}","upstream":"{upstream}","enabled":true}}"#
        );
        self.request("POST", "/proxies", Some(&body)).map(drop)
    }

    /// Cut (`false`: its connections closed, new ones refused) or heal.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<(), Error> {
        let body = format!(r#"{{"enabled":{enabled}}}"#);
        self.request("POST", &format!("/proxies/{name}"), Some(&body))
            .map(drop)
    }

    /// Puts `toxic` on one direction of the proxy, replacing a toxic of the
    /// same kind and direction.
    pub fn add_toxic(&self, proxy: &str, stream: Stream, toxic: Toxic) -> Result<(), Error> {
        let kind = toxic.kind();
        let attributes = match toxic {
            Toxic::Latency { latency, jitter } => format!(
                r#"{{"latency":{},"jitter":{}}}"#,
                latency.as_millis(),
                jitter.as_millis()
            ),
            Toxic::Bandwidth {
                kilobytes_per_second,
            } => format!(r#"{{"rate":{kilobytes_per_second}}}"#),
        };
        let toxic_name = format!("{}-{}", toxic.kind(), stream.name());
        // Replaced, not stacked: a toxic of that name goes first.
        let _ = self.request(
            "DELETE",
            &format!("/proxies/{proxy}/toxics/{toxic_name}"),
            None,
        );
        let body = format!(
            r#"{{"name":"{toxic_name}","type":"{kind}","stream":"{}","toxicity":1.0,"attributes":{attributes}}}"#,
            stream.name()
        );
        self.request("POST", &format!("/proxies/{proxy}/toxics"), Some(&body))
            .map(drop)
    }

    /// Takes a toxic of that kind off one direction, if it is on.
    pub fn remove_toxic(&self, proxy: &str, stream: Stream, toxic: Toxic) -> Result<(), Error> {
        let path = format!("/proxies/{proxy}/toxics/{}-{}", toxic.kind(), stream.name());
        match self.request("DELETE", &path, None) {
            Err(e) if e.0.contains("HTTP 404") => Ok(()),
            other => other.map(drop),
        }
    }

    /// Every proxy enabled and every toxic taken off.
    pub fn reset(&self) -> Result<(), Error> {
        self.request("POST", "/reset", None).map(drop)
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    pub fn stop(&self) {
        self.proc
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stop(Duration::from_secs(5));
    }

    /// One HTTP/1.1 exchange with the API; the body of a 2xx answer, else
    /// the status and body as the error.
    fn request(&self, method: &str, path: &str, body: Option<&str>) -> Result<String, Error> {
        let failed = |e: std::io::Error| Error(format!("Toxiproxy {method} {path}: {e}"));
        let mut stream =
            TcpStream::connect_timeout(&self.api, Duration::from_secs(5)).map_err(failed)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(failed)?;
        let body = body.unwrap_or("");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.api,
            body.len()
        );
        stream.write_all(request.as_bytes()).map_err(failed)?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).map_err(failed)?;
        let status: u16 = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let content = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        if (200..300).contains(&status) {
            Ok(content)
        } else {
            Err(Error(format!(
                "Toxiproxy {method} {path}: HTTP {status}: {}",
                content.trim()
            )))
        }
    }
}
