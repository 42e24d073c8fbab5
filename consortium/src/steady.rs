//! The consortium at work after the story: a line of progress every few
//! seconds, the doctor's ward rounds, and the wind-down at the end.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ehr_client::rpc::RpcClient;

use crate::chaos::Chaos;
use crate::running::Running;
use crate::story::{Cast, Teller};
use crate::summary::Ward;
use crate::supervisor::Supervisor;
use crate::{fleet, progress, Error};

/// Who watches the consortium while it works: the supervisor, and chaos
/// when the run was asked for it.
pub struct Watch<'a> {
    pub supervisor: &'a mut Supervisor,
    pub chaos: Option<&'a mut Chaos>,
    /// The run's database, to connect again after PostgreSQL restarts.
    pub database_url: &'a str,
    pub gateway: &'a str,
}

/// Chaos injects no new fault this close to the end, so that the last one's
/// recovery is seen before the run sums up.
pub const QUIET_BEFORE_THE_END: Duration = Duration::from_secs(45);

/// Until Ctrl-C or `--duration` (and, under chaos, until the last fault's
/// recovery is seen): a line of progress every few seconds, the doctor's
/// ward rounds, the supervisor's look at every part, chaos's faults.
#[allow(clippy::too_many_arguments)]
pub fn steady_work(
    duration: u64,
    stop: &AtomicBool,
    running: &mut Running,
    teller: &mut Teller,
    cast: &Cast,
    db: &mut postgres::Client,
    rt: &tokio::runtime::Runtime,
    rpc: &RpcClient,
    data: &Path,
    mut watch: Watch<'_>,
) -> Result<Ward, Error> {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let until = (duration > 0).then(|| Instant::now() + Duration::from_secs(duration));
    let mut before = progress::snapshot(db, progress::height(rt, rpc));
    let mut last = Instant::now();
    let mut round = 0usize;
    let mut ward = Ward::default();
    let every = if tty {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(5)
    };
    let chaos_busy = |w: &Watch<'_>| w.chaos.as_ref().is_some_and(|c| c.busy());
    while !stop.load(Ordering::Relaxed)
        && (until.is_none_or(|u| Instant::now() < u) || chaos_busy(&watch))
    {
        std::thread::sleep(Duration::from_millis(200));
        crate::database::reconnect_if_lost(db, watch.database_url);
        watch.supervisor.check(running, data)?;
        if let Some(chaos) = watch.chaos.as_deref_mut() {
            let inject = until.is_none_or(|u| Instant::now() + QUIET_BEFORE_THE_END < u);
            chaos.tick(running, db, rt, watch.gateway, inject);
        }
        if last.elapsed() < every {
            continue;
        }
        // A ward round: the doctor reads a patient's last minute of vitals
        // (patient-2 revoked the doctor's access; the others have not).
        round += 1;
        let still_granted: Vec<_> = cast
            .patients
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .collect();
        let patient = still_granted[round % still_granted.len()].1;
        let since = fleet::now_ms() / 1000 - 60;
        if let Ok(r) = teller.read(&cast.doctor, &patient.address(), Some(since)) {
            ward.records += r.records;
            ward.verified += r.anchored;
            ward.reads += 1;
        }
        let now = progress::snapshot(db, progress::height(rt, rpc));
        let line = progress::line(&now, &before, last.elapsed().as_secs_f64());
        if tty {
            print!("\r{line}");
            let _ = std::io::stdout().flush();
        } else {
            println!("{line}");
        }
        before = now;
        last = Instant::now();
    }
    if tty {
        println!();
    }
    if let Some(chaos) = watch.chaos.as_deref_mut() {
        chaos.settle(running);
    }
    Ok(ward)
}

/// The devices stop; ingest anchors what it stored (caught up when nothing is
/// pending and the count stands still, within 20 s).
pub fn wind_down(running: &mut Running, db: &mut postgres::Client) {
    println!("\nstopping: the devices first, then ingest once its batches are anchored…");
    if let Some((flag, handle)) = running.fleet.take() {
        flag.store(true, Ordering::Relaxed);
        if let Ok(Err(e)) = handle.join() {
            eprintln!("  the fleet: {e}");
        }
    }
    let drain = Instant::now() + Duration::from_secs(20);
    let mut previous = -1;
    while Instant::now() < drain {
        let s = progress::snapshot(db, 0);
        if s.batches_pending == 0 && s.records == previous {
            break;
        }
        previous = s.records;
        std::thread::sleep(Duration::from_millis(500));
    }
}
