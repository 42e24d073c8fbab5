//! A Linux network namespace per site, joined to the machine by one veth
//! pair on a /24 of its own from 198.18.0.0/15 (RFC 2544's range for network
//! benchmarks): the site's end is `198.18.N.2`, the machine's `198.18.N.1`.
//! There is no bridge and no route between sites, so one site reaches
//! another only through what listens on the machine's end — the links'
//! proxies — and a cut proxy is a cut link.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;

use crate::Error;

/// Where `ip netns` keeps its namespaces.
const NETNS_DIR: &str = "/run/netns";
/// Names begin so; the owner's process id follows, so a namespace left by a
/// test process that died is recognised and removed.
const PREFIX: &str = "ehr-site-";

/// One site's network namespace and its link to the machine; removed on drop.
pub struct Namespace {
    pub name: String,
    /// The site's address (`198.18.N.2`).
    pub address: Ipv4Addr,
    /// The machine's end of the link (`198.18.N.1`): where the site reaches
    /// the others' proxies.
    pub gateway: Ipv4Addr,
    /// The namespace, held open so processes can enter it.
    file: Arc<File>,
}

fn ip(args: &[&str]) -> Result<(), Error> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| Error(format!("cannot run ip: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// The /24s taken on this machine (by any interface's address in 198.18/15).
fn subnets_in_use() -> Vec<u16> {
    let out = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.split_whitespace()
        .filter_map(|word| {
            let address: Ipv4Addr = word.split('/').next()?.parse().ok()?;
            let [a, b, c, _] = address.octets();
            (a == 198 && (b == 18 || b == 19)).then(|| u16::from(b - 18) * 256 + u16::from(c))
        })
        .collect()
}

/// Removes namespaces whose owning process is gone (a test that was killed).
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let owner = rest.split('-').next().unwrap_or_default();
        if !std::path::Path::new(&format!("/proc/{owner}")).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

/// Holds an exclusive lock on a file while sites are numbered, so parallel
/// tests do not take the same /24.
struct Lock {
    _file: File,
}

impl Lock {
    fn take() -> Result<Lock, Error> {
        let file = File::create("/run/ehr-sites.lock")
            .map_err(|e| Error(format!("/run/ehr-sites.lock: {e}")))?;
        // SAFETY: flock(2) on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(Error(format!(
                "cannot lock /run/ehr-sites.lock: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(Lock { _file: file })
    }
}

impl Namespace {
    /// `count` namespaces, each on a free /24, or why they cannot be made
    /// (namespaces need root: `ip netns add` mounts, CAP_SYS_ADMIN and CAP_NET_ADMIN).
    pub fn create(count: usize) -> Result<Vec<Namespace>, Error> {
        let _lock = Lock::take()?;
        remove_stale();
        let used = subnets_in_use();
        let free: Vec<u16> = (1..512u16)
            .filter(|n| !used.contains(n))
            .take(count)
            .collect();
        if free.len() < count {
            return Err(Error("no free /24 left in 198.18.0.0/15".into()));
        }
        free.into_iter()
            .enumerate()
            .map(|(i, subnet)| Self::make(i, subnet))
            .collect()
    }

    fn make(index: usize, subnet: u16) -> Result<Namespace, Error> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{n}-{index}", std::process::id());
        let third = (subnet % 256) as u8;
        let second = 18 + (subnet / 256) as u8;
        let gateway = Ipv4Addr::new(198, second, third, 1);
        let address = Ipv4Addr::new(198, second, third, 2);
        // The machine's end: at most 15 characters.
        let outer = format!("ehrs{subnet}");
        ip(&["netns", "add", &name])?;
        let made = (|| {
            ip(&[
                "link", "add", &outer, "type", "veth", "peer", "name", "eth0", "netns", &name,
            ])?;
            ip(&["addr", "add", &format!("{gateway}/24"), "dev", &outer])?;
            ip(&["link", "set", &outer, "up"])?;
            ip(&[
                "-n",
                &name,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &name, "link", "set", "eth0", "up"])?;
            ip(&["-n", &name, "link", "set", "lo", "up"])?;
            File::open(format!("{NETNS_DIR}/{name}"))
                .map_err(|e| Error(format!("{NETNS_DIR}/{name}: {e}")))
        })();
        match made {
            Ok(file) => Ok(Namespace {
                name,
                address,
                gateway,
                file: Arc::new(file),
            }),
            Err(e) => {
                let _ = ip(&["netns", "del", &name]);
                Err(e)
            }
        }
    }

    /// Makes `cmd` run inside this namespace (`setns` between fork and exec).
    pub fn enter(&self, cmd: &mut Command) {
        let file = self.file.clone();
        // SAFETY: setns(2) is async-signal-safe and touches only the child.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Its veth pair goes with it.
        let _ = ip(&["netns", "del", &self.name]);
    }
}
