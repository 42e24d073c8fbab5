//! Child processes of the main job and of the tests. Each runs in its own
//! process group, so a Ctrl-C in the terminal reaches the parent alone, which
//! then stops them in order. Each is also killed by the kernel if its parent
//! dies (PR_SET_PDEATHSIG): no orphans either way, even after a failed test.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Error;

/// A process's resident memory, in KiB.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub resident_kib: u64,
    pub peak_kib: u64,
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "resident {:.0} MiB, at most {:.0} MiB",
            self.resident_kib as f64 / 1024.0,
            self.peak_kib as f64 / 1024.0
        )
    }
}

pub struct Proc {
    pub name: String,
    child: Child,
    pub log: PathBuf,
    /// The log's length when this life began: a restarted process appends.
    log_start: u64,
    lines: Option<mpsc::Receiver<String>>,
}

impl Proc {
    /// Starts `cmd` in `dir`, its standard error to `<dir>/<name>.log` and its
    /// standard output readable through `announced`, then appended to the log.
    pub fn spawn(name: &str, cmd: Command, dir: &Path) -> Result<Proc, Error> {
        Self::start(name, cmd, dir, true)
    }

    /// Starts `cmd` in `dir` with both its outputs in `<dir>/<name>.log`
    /// (for processes that log much and announce nothing: see `wait_for_log`).
    pub fn spawn_logging(name: &str, cmd: Command, dir: &Path) -> Result<Proc, Error> {
        Self::start(name, cmd, dir, false)
    }

    fn start(name: &str, mut cmd: Command, dir: &Path, announcing: bool) -> Result<Proc, Error> {
        let log = dir.join(format!("{name}.log"));
        let log_start = std::fs::metadata(&log).map_or(0, |m| m.len());
        let file = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .map_err(|e| Error(format!("{}: {e}", log.display())))
        };
        // A restarted process appends to the log of its earlier life.
        let out = if announcing {
            Stdio::piped()
        } else {
            Stdio::from(file()?)
        };
        cmd.current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(file()?)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error(format!("cannot start {name}: {e}")))?;
        let Some(stdout) = child.stdout.take() else {
            return Ok(Proc {
                name: name.to_string(),
                child,
                log,
                log_start,
                lines: None,
            });
        };
        let (tx, rx) = mpsc::channel();
        let out_log = log.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new().append(true).open(out_log).ok();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(f) = file.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                let _ = tx.send(line);
            }
        });
        Ok(Proc {
            name: name.to_string(),
            child,
            log,
            log_start,
            lines: Some(rx),
        })
    }

    /// Waits for the line holding `marker` and returns the word after it.
    pub fn announced(&mut self, marker: &str, timeout: Duration) -> Result<String, Error> {
        let rx = self
            .lines
            .take()
            .ok_or_else(|| Error(format!("{} announces nothing more", self.name)))?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(line) => {
                    if let Some(rest) = line.split(marker).nth(1) {
                        return Ok(rest
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_string());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => {
                    return Err(Error(format!(
                        "{} did not start (see {}):\n{}",
                        self.name,
                        self.log.display(),
                        tail(&self.log, 10)
                    )))
                }
            }
        }
    }

    /// Waits until this life of the process has logged `marker`; fails
    /// early if the process ends.
    pub fn wait_for_log(&mut self, marker: &str, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let text = std::fs::read(&self.log).unwrap_or_default();
            let start = usize::try_from(self.log_start).unwrap_or(0).min(text.len());
            if String::from_utf8_lossy(&text[start..]).contains(marker) {
                return Ok(());
            }
            if !self.is_running() || Instant::now() > deadline {
                let how = if self.is_running() {
                    "did not get ready in time"
                } else {
                    "stopped"
                };
                return Err(Error(format!(
                    "{} {how} (see {}):\n{}",
                    self.name,
                    self.log.display(),
                    tail(&self.log, 10)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, as a crash would, and waits for the process to be gone.
    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident memory now and the highest it has been (Linux's
    /// /proc/<pid>/status); `None` once it has exited.
    pub fn memory(&self) -> Option<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let kib = |field: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(field))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        };
        Some(Memory {
            resident_kib: kib("VmRSS:")?,
            peak_kib: kib("VmHWM:")?,
        })
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `signal` to the child, unless it has exited and been reaped
    /// (its pid may then be another process's; an unreaped child keeps it).
    fn signal(&mut self, signal: i32) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        // SAFETY: kill(2) on our own child's pid, which it still holds.
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    fn signal_term(&mut self) {
        // A paused process would not act on SIGTERM until resumed.
        self.signal(libc::SIGCONT);
        self.signal(libc::SIGTERM);
    }

    /// SIGSTOP: the process hangs, its sockets open, as a machine that
    /// stalls (swapping, a long pause) does.
    pub fn pause(&mut self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGQUIT, and waits for the process to be gone: PostgreSQL's
    /// immediate shutdown, its children cut off without a checkpoint.
    pub fn quit(&mut self) {
        self.signal(libc::SIGCONT);
        self.signal(libc::SIGQUIT);
        let _ = self.child.wait();
    }

    /// SIGCONT after `pause`.
    pub fn resume(&mut self) {
        self.signal(libc::SIGCONT);
    }

    /// `signal` (after SIGCONT), up to `grace` to finish, then SIGKILL to
    /// its whole process group (its children too). True if it stopped by itself.
    pub fn stop_with(&mut self, signal: i32, grace: Duration) -> bool {
        if !self.is_running() {
            return true;
        }
        self.signal(libc::SIGCONT);
        self.signal(signal);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.is_running() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: killpg(2) on the group our child leads (process_group(0)).
        unsafe {
            libc::killpg(self.child.id() as i32, libc::SIGKILL);
        }
        let _ = self.child.wait();
        false
    }

    /// SIGTERM, then its exit status once it has stopped by itself.
    pub fn terminate(&mut self) -> std::io::Result<std::process::ExitStatus> {
        self.signal_term();
        self.child.wait()
    }

    /// SIGTERM, up to `grace` to finish, then SIGKILL. True if it stopped by itself.
    pub fn stop(&mut self, grace: Duration) -> bool {
        if !self.is_running() {
            return true;
        }
        self.signal_term();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.is_running() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last lines of a log, for an error message.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
