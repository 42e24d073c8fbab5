//! The main job as a real process, for the tests that run it: its own

// Each test binary uses a part of this module.
#![allow(dead_code)]
//! database (dropped afterwards, with the run's log-ins), its own folder, its
//! output read line by line while it runs.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ehr_migrations::{database_url, with_database};

struct DropDatabase(String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        if let Ok(mut c) = ehr_migrations::connect(&database_url()) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
            // The run's log-ins (cluster-wide), made for this database.
            let _ = c.batch_execute(&format!(
                "DROP ROLE IF EXISTS {0}_ingest, {0}_gateway, {0}_analyst",
                self.0
            ));
        }
    }
}

pub struct MainJob {
    pub dir: tempfile::TempDir,
    /// The run's folder (`--data`).
    pub data: PathBuf,
    /// The run's database (`--database`).
    pub database: String,
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    reader: Option<JoinHandle<String>>,
    _cleanup: DropDatabase,
}

/// The built portal, which the main job serves.
pub fn portal_dist() -> PathBuf {
    let portal = ehr_testkit::stack::workspace_root().join("portal/dist");
    assert!(
        portal.join("index.html").is_file(),
        "{} is not built: run `npm ci && npm run build` in portal/ (scripts/test.sh does)",
        portal.display()
    );
    portal
}

impl MainJob {
    /// `ehr-consortium` with the portal, a database named after `name`, and
    /// `more` arguments; running until interrupted (unless `more` gives a
    /// `--duration`).
    pub fn start(name: &str, more: &[&str]) -> MainJob {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("run");
        let database = format!("ehr_{name}_{}", std::process::id());
        let cleanup = DropDatabase(database.clone());
        portal_dist();
        // From the workspace's root, as README's command runs it: the
        // portal is found at its default place, portal/dist.
        let mut child = Command::new(env!("CARGO_BIN_EXE_ehr-consortium"))
            .current_dir(ehr_testkit::stack::workspace_root())
            .arg("--data")
            .arg(&data)
            .args(["--database", &database])
            .args(if more.contains(&"--duration") {
                &[][..]
            } else {
                &["--duration", "0"][..]
            })
            .args(more)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the main job starts");
        let (tx, lines) = mpsc::channel::<String>();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                all.push_str(&line);
                all.push('\n');
                let _ = tx.send(line);
            }
            all
        });
        MainJob {
            dir,
            data,
            database,
            child: Some(child),
            lines,
            reader: Some(reader),
            _cleanup: cleanup,
        }
    }

    /// The next line of its output that starts (after spaces) with
    /// `prefix`, waiting up to `limit`.
    pub fn wait_for_line(&self, prefix: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let line = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("the main job printed no line {prefix:?} in {limit:?}"));
            if line.trim_start().starts_with(prefix) {
                return line;
            }
        }
    }

    /// The URL of its database.
    pub fn database_url(&self) -> String {
        with_database(&database_url(), &self.database)
    }

    /// Waits, up to `limit`, for the run to end by itself; its exit status,
    /// standard output and standard error (interrupted and failed if late).
    pub fn finish(&mut self, limit: Duration) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + limit;
        loop {
            let child = self.child.as_mut().expect("the main job is running");
            if child.try_wait().unwrap().is_some() {
                // It has ended: what it printed.
                return self.interrupt();
            }
            if Instant::now() > deadline {
                let (_, out, err) = self.interrupt();
                panic!("the main job did not end within {limit:?}:\n{out}\n{err}");
            }
            while self.lines.try_recv().is_ok() {}
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Ctrl-C: its exit status, standard output and standard error.
    pub fn interrupt(&mut self) -> (ExitStatus, String, String) {
        let mut child = self.child.take().expect("the main job is running");
        // SAFETY: kill(2) on our child.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        let status = child.wait().unwrap();
        let out = self.reader.take().unwrap().join().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        (status, out, err)
    }
}

impl Drop for MainJob {
    /// A test that failed half-way still stops the job and everything it started.
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.interrupt();
        }
    }
}
