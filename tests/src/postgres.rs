//! A PostgreSQL server of one test (or one run) alone, so that it can be
//! restarted — crashed, even — without touching the machine's server other
//! tests share: `initdb` into a folder of its own, TLS with a certificate of
//! the given authority, plaintext refused, on a free port of 127.0.0.1.
//! Debian's server binaries (`/usr/lib/postgresql/<version>/bin`, installed
//! by `scripts/setup.sh`) run it; as root, it runs as the `postgres` user,
//! since PostgreSQL refuses to run as root.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::pki::Pki;
use crate::processes::Proc;
use crate::Error;

/// The line the server logs once it takes connections.
const READY: &str = "database system is ready to accept connections";

/// A running private PostgreSQL server.
pub struct Postgres {
    proc: Option<Proc>,
    bin: PathBuf,
    data: PathBuf,
    dir: PathBuf,
    owner: Option<(u32, u32)>,
    /// Removed when the server is dropped.
    _folder: tempfile::TempDir,
    /// The superuser's URL (TLS, the server's certificate verified).
    pub admin_url: String,
}

fn failed(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error(format!("{what}: {e}"))
}

/// The newest Debian PostgreSQL's binaries.
fn bin_dir() -> Result<PathBuf, Error> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| {
            Error(format!(
                "no PostgreSQL server binaries in /usr/lib/postgresql ({e}): run scripts/setup.sh"
            ))
        })?
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        Error("no PostgreSQL server in /usr/lib/postgresql: run scripts/setup.sh".into())
    })
}

/// The `postgres` user's uid and gid, when this process runs as root.
fn owner() -> Result<Option<(u32, u32)>, Error> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let id = |flag: &str| -> Result<u32, Error> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(failed("id postgres"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| Error("running as root, and there is no postgres user to run PostgreSQL as (PostgreSQL refuses root)".into()))
    };
    Ok(Some((id("-u")?, id("-g")?)))
}

impl Postgres {
    /// Initialises and starts a server in a new folder of the system's
    /// temporary folder (which the server's user can reach, unlike a test's
    /// private one), its certificate from `pki`.
    pub fn start(pki: &Pki) -> Result<Postgres, Error> {
        let bin = bin_dir()?;
        let owner = owner()?;
        let folder = tempfile::Builder::new()
            .prefix("ehr-postgres-")
            .tempdir()
            .map_err(failed("the server's folder"))?;
        let dir = folder.path();
        let data = dir.join("data");
        let password = {
            let mut secret = [0u8; 16];
            getrandom::fill(&mut secret).map_err(|e| Error(e.to_string()))?;
            hex::encode(secret)
        };
        let pwfile = dir.join("superuser.password");
        ehr_transport::write_private(&pwfile, password.as_bytes())
            .map_err(failed("the superuser's password file"))?;
        let identity = pki.issue("postgres")?;
        let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
        std::fs::copy(&identity.certificate, &cert).map_err(failed("the server's certificate"))?;
        std::fs::copy(&identity.key, &key).map_err(failed("the server's key"))?;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .map_err(failed("the server's key"))?;
        let dir = dir.to_path_buf();
        let mut server = Postgres {
            proc: None,
            bin,
            data,
            dir: dir.clone(),
            owner,
            admin_url: String::new(),
            _folder: folder,
        };
        server.chown(&dir)?;
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                server.data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth-host=scram-sha-256".as_ref(),
                "--auth-local=peer".as_ref(),
                "--pwfile".as_ref(),
                pwfile.as_os_str(),
            ],
        )?;
        let port = crate::free_port()?;
        let conf = format!(
            "listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = '{}'\n\
             ssl = on\n\
             ssl_cert_file = '{}'\n\
             ssl_key_file = '{}'\n\
             max_connections = 200\n\
             shared_buffers = 128MB\n",
            dir.display(),
            cert.display(),
            key.display()
        );
        let append = |file: &str, text: &str| -> Result<(), Error> {
            use std::io::Write;
            std::fs::OpenOptions::new()
                .append(true)
                .open(server.data.join(file))
                .and_then(|mut f| f.write_all(text.as_bytes()))
                .map_err(failed(file))
        };
        append("postgresql.conf", &conf)?;
        // TCP only with TLS; the first matching line decides.
        std::fs::write(
            server.data.join("pg_hba.conf"),
            "local all all peer\n\
             hostnossl all all 0.0.0.0/0 reject\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n",
        )
        .map_err(failed("pg_hba.conf"))?;
        server.chown(&dir)?;
        server.admin_url = format!(
            "postgres://postgres:{password}@127.0.0.1:{port}/postgres?sslmode=verify-full&sslrootcert={}",
            pki.ca_file.display()
        );
        server.launch()?;
        Ok(server)
    }

    fn chown(&self, path: &Path) -> Result<(), Error> {
        let Some((uid, gid)) = self.owner else {
            return Ok(());
        };
        let out = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(path)
            .output()
            .map_err(failed("chown"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error(format!(
                "chown {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    /// A command of the server's binaries, run as the server's user.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.owner {
            // (std drops the supplementary groups of a root parent too.)
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<(), Error> {
        let out = self
            .command(program)
            .args(args)
            .current_dir(&self.dir)
            .output()
            .map_err(failed(program))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Error(format!(
                "{program} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    fn launch(&mut self) -> Result<(), Error> {
        let mut cmd = self.command("postgres");
        cmd.arg("-D").arg(&self.data);
        let mut proc = Proc::spawn_logging("postgres", cmd, &self.dir)?;
        proc.wait_for_log(READY, Duration::from_secs(60))?;
        self.proc = Some(proc);
        Ok(())
    }

    /// An immediate shutdown (SIGQUIT: no checkpoint, every connection cut,
    /// as a crash would leave it), then a start, which recovers from the
    /// write-ahead log; returns once it takes connections again.
    pub fn crash_and_restart(&mut self) -> Result<(), Error> {
        self.crash();
        self.launch()
    }

    /// An immediate shutdown alone (`start_again` brings it back).
    pub fn crash(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.quit();
        }
    }

    /// Starts the server again after `crash`.
    pub fn start_again(&mut self) -> Result<(), Error> {
        if self.proc.as_mut().is_some_and(Proc::is_running) {
            return Ok(());
        }
        self.launch()
    }

    pub fn is_running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(Proc::is_running)
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }
}

impl Drop for Postgres {
    /// A fast shutdown (SIGINT: clients cut off, a checkpoint), the server's
    /// whole process group killed if it takes longer than 10 s.
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.stop_with(libc::SIGINT, Duration::from_secs(10));
        }
    }
}
