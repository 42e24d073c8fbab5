//! What a process costs while the load runs, from /proc (Linux): its peak
//! resident memory, sampled every 100 ms, and its CPU time; and how busy the
//! whole machine was. /proc counts CPU time in USER_HZ ticks, 100 a second
//! on Linux whatever the kernel's own tick.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{anyhow, Context};

const USER_HZ: f64 = 100.0;

pub struct Probe {
    pid: u32,
    peak_rss_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    sampler: JoinHandle<()>,
    cpu_at_start: f64,
    machine_at_start: (f64, f64),
}

/// A process's cost over the probe's life.
pub struct Usage {
    pub peak_rss_mib: f64,
    /// Its CPU time (user + system, all threads), in seconds.
    pub cpu_seconds: f64,
    /// The machine's busy CPU time over the same span, in seconds, and the
    /// span times the number of CPUs.
    pub machine_busy_seconds: f64,
    pub machine_capacity_seconds: f64,
}

impl Probe {
    pub fn start(pid: u32) -> anyhow::Result<Probe> {
        let cpu_at_start = cpu_seconds(pid)?;
        let peak_rss_kib = Arc::new(AtomicU64::new(rss_kib(pid)?));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let (peak, stop) = (peak_rss_kib.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(rss) = rss_kib(pid) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Ok(Probe {
            pid,
            peak_rss_kib,
            stop,
            sampler,
            cpu_at_start,
            machine_at_start: machine()?,
        })
    }

    pub fn finish(self) -> anyhow::Result<Usage> {
        let cpu = cpu_seconds(self.pid)? - self.cpu_at_start;
        let (busy, total) = machine()?;
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.sampler.join();
        Ok(Usage {
            peak_rss_mib: self.peak_rss_kib.load(Ordering::Relaxed) as f64 / 1024.0,
            cpu_seconds: cpu,
            machine_busy_seconds: busy - self.machine_at_start.0,
            machine_capacity_seconds: total - self.machine_at_start.1,
        })
    }
}

/// User + system time of every thread of `pid`, in seconds (/proc/<pid>/stat
/// fields 14 and 15, counted after the parenthesised command name).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("no process {pid} to measure"))?;
    let after_name = stat
        .rsplit_once(") ")
        .ok_or_else(|| anyhow!("/proc/{pid}/stat is not as Linux writes it"))?
        .1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let tick = |i: usize| -> anyhow::Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| anyhow!("/proc/{pid}/stat lacks field {}", i + 3))
    };
    Ok((tick(11)? + tick(12)?) / USER_HZ)
}

fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("no process {pid} to measure"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("/proc/{pid}/status has no VmRSS"))
}

/// The machine's (busy, total) CPU time in seconds, all CPUs (/proc/stat).
fn machine() -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .ok_or_else(|| anyhow!("/proc/stat has no cpu line"))?
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is in user)
    let total: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
    Ok(((total - idle) / USER_HZ, total / USER_HZ))
}
