//! One hospital's node: its `cometbft` process and its `ehr-node start`,
//! each started, killed and restarted on its own.

use std::path::PathBuf;

use ehr_client::rpc::RpcClient;

use super::*;
use crate::processes::{tail, Proc};
use crate::Error;

/// The certificate a node's RPC serves, and the authority CometBFT's own
/// clients (state sync's light client) trust.
#[derive(Clone, Debug)]
pub struct RpcCertificate {
    pub ca_file: PathBuf,
    pub files: ehr_transport::pki::IdentityFiles,
}

/// One of a node's two processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Cometbft,
    /// Its application, `ehr-node start`.
    App,
}

/// One hospital's node: `cometbft` and its `ehr-node`.
pub struct Node {
    /// HTTPS for its RPC; None: plaintext.
    pub rpc_tls: Option<RpcCertificate>,
    /// Where its RPC and peer-to-peer ports listen.
    pub host: std::net::IpAddr,
    /// Its site, when the network runs across sites.
    pub site: Option<(Arc<Sites>, usize)>,
    pub name: String,
    pub home: PathBuf,
    pub(super) app_kind: App,
    pub node_id: String,
    pub rpc_port: u16,
    pub p2p_port: u16,
    /// Where a gRPC application listens (`App::KvstoreOverGrpc` only).
    pub(super) grpc_port: u16,
    pub(super) app: Option<Proc>,
    pub(super) cmt: Option<Proc>,
    pub(super) cmt_bin: PathBuf,
    pub(super) ehr_node: PathBuf,
    /// What `ehr-node start` is given besides its home and socket.
    pub(super) app_args: Vec<String>,
}

impl Node {
    pub fn rpc_url(&self) -> String {
        let scheme = if self.rpc_tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}:{}", self.host, self.rpc_port)
    }

    pub fn rpc(&self) -> RpcClient {
        RpcClient::new(&self.rpc_url())
    }

    pub(super) fn config(&self) -> PathBuf {
        self.home.join("config/config.toml")
    }

    pub(super) fn socket(&self) -> PathBuf {
        self.home.join("abci.sock")
    }

    /// Its validator's ed25519 public key (`priv_validator_key.json`).
    pub fn validator_public_key(&self) -> Result<Vec<u8>, Error> {
        use base64::Engine;
        let path = self.home.join("config/priv_validator_key.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error(e.to_string()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error(e.to_string()))?;
        json["pub_key"]["value"]
            .as_str()
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .ok_or_else(|| Error(format!("{} has no pub_key", path.display())))
    }

    pub(super) fn configure(&self, settings: &Settings) -> Result<(), Error> {
        let commit = format!("\"{}ms\"", settings.timeout_commit.as_millis());
        let proxy_app = match self.app_kind {
            App::Ledger | App::KvstoreOverSocket => {
                format!("\"unix://{}\"", self.socket().display())
            }
            App::Kvstore => "\"kvstore\"".into(),
            // CometBFT's gRPC client takes a plain host:port.
            App::KvstoreOverGrpc => format!("\"127.0.0.1:{}\"", self.grpc_port),
        };
        let quoted = |p: &std::path::Path| format!("\"{}\"", p.display());
        let (cert, key) = match &self.rpc_tls {
            Some(tls) => (quoted(&tls.files.certificate), quoted(&tls.files.key)),
            None => ("\"\"".into(), "\"\"".into()),
        };
        for (section, key, value) in [
            ("rpc", "tls_cert_file", cert),
            ("rpc", "tls_key_file", key),
            ("", "proxy_app", proxy_app),
            ("", "moniker", format!("\"{}\"", self.name)),
            (
                "",
                "abci",
                if self.app_kind == App::KvstoreOverGrpc {
                    "\"grpc\"".into()
                } else {
                    "\"socket\"".into()
                },
            ),
            // Committed blocks and errors; the rest only when asked.
            ("", "log_level", "\"main:info,state:info,*:error\"".into()),
            (
                "rpc",
                "laddr",
                format!("\"tcp://{}:{}\"", self.host, self.rpc_port),
            ),
            (
                "p2p",
                "laddr",
                format!("\"tcp://{}:{}\"", self.host, self.p2p_port),
            ),
            // Across sites a node knows its peers only by their links' proxies;
            // the addresses peers would gossip are unreachable from there.
            ("p2p", "pex", (self.site.is_none()).to_string()),
            // A site cut off for minutes is redialled within seconds of the
            // heal (CometBFT's back-off has no limit as shipped).
            (
                "p2p",
                "persistent_peers_max_dial_period",
                if self.site.is_some() {
                    "\"10s\""
                } else {
                    "\"0s\""
                }
                .into(),
            ),
            ("p2p", "allow_duplicate_ip", "true".into()),
            ("p2p", "addr_book_strict", "false".into()),
            ("consensus", "timeout_commit", commit),
            (
                "p2p",
                "flush_throttle_timeout",
                format!("\"{}ms\"", settings.flush_throttle.as_millis()),
            ),
            ("mempool", "recheck", settings.recheck.to_string()),
        ] {
            set_toml(&self.config(), section, key, &value)?;
        }
        Ok(())
    }

    /// Starts `ehr-node` on the socket, then `cometbft`, whose handshake
    /// replays any stored block the application lacks.
    pub fn start(&mut self) -> Result<(), Error> {
        if self.app.is_none() && self.app_kind.is_own_process() {
            self.start_app()?;
        }
        let mut cmd = Command::new(&self.cmt_bin);
        cmd.arg("start").arg("--home").arg(&self.home);
        self.enter_site(&mut cmd);
        if let Some(tls) = &self.rpc_tls {
            // Go's TLS clients in cometbft (state sync's light client) trust this.
            cmd.env("SSL_CERT_FILE", &tls.ca_file);
        }
        self.cmt = Some(Proc::spawn_logging(
            &format!("cometbft-{}", self.name),
            cmd,
            &self.home,
        )?);
        Ok(())
    }

    pub(super) fn start_app(&mut self) -> Result<(), Error> {
        // A socket left by a killed application would look ready at once.
        let _ = std::fs::remove_file(self.socket());
        let address = format!("unix://{}", self.socket().display());
        let (name, cmd) = if self.app_kind == App::KvstoreOverGrpc {
            let mut cmd = Command::new(super::abci_cli()?);
            let address = format!("tcp://127.0.0.1:{}", self.grpc_port);
            cmd.args(["kvstore", "--log_level", "error", "--abci", "grpc"])
                .args(["--address", &address]);
            ("kvstore", cmd)
        } else if self.app_kind == App::KvstoreOverSocket {
            let mut cmd = Command::new(super::abci_cli()?);
            cmd.args(["kvstore", "--log_level", "error", "--address", &address]);
            ("kvstore", cmd)
        } else {
            let mut cmd = Command::new(&self.ehr_node);
            cmd.arg("start")
                .arg("--home")
                .arg(self.app_home())
                .arg("--abci")
                .arg(&address)
                .args(&self.app_args);
            ("ehr-node", cmd)
        };
        let mut cmd = cmd;
        self.enter_site(&mut cmd);
        let mut app = Proc::spawn_logging(&format!("{name}-{}", self.name), cmd, &self.home)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let listening = |node: &Self| match node.app_kind {
            App::KvstoreOverGrpc => {
                std::net::TcpStream::connect(("127.0.0.1", node.grpc_port)).is_ok()
            }
            _ => node.socket().exists(),
        };
        while !listening(self) {
            if !app.is_running() || Instant::now() > deadline {
                return Err(Error(format!(
                    "{name} of {} did not open its socket:\n{}",
                    self.name,
                    tail(&app.log, 10)
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.app = Some(app);
        Ok(())
    }

    /// Makes `cmd` run at the node's site.
    fn enter_site(&self, cmd: &mut Command) {
        if let Some((sites, i)) = &self.site {
            sites.sites[*i].enter(cmd);
        }
    }

    /// kill -9 of the application alone, as a crash of `ehr-node` would be;
    /// CometBFT stops when it loses its application.
    pub fn kill_app(&mut self) {
        if let Some(mut app) = self.app.take() {
            app.kill_9();
        }
    }

    /// The process of the node that `part` names, if it runs.
    fn part(&mut self, part: Part) -> Option<&mut Proc> {
        match part {
            Part::Cometbft => self.cmt.as_mut(),
            Part::App => self.app.as_mut(),
        }
    }

    /// kill -9 of one process (the other is left to notice, as it would).
    pub fn kill_part(&mut self, part: Part) {
        let taken = match part {
            Part::Cometbft => self.cmt.take(),
            Part::App => self.app.take(),
        };
        if let Some(mut p) = taken {
            p.kill_9();
        }
    }

    /// SIGSTOP of one process: it hangs with its connections open.
    pub fn pause(&mut self, part: Part) {
        if let Some(p) = self.part(part) {
            p.pause();
        }
    }

    /// SIGCONT after `pause`.
    pub fn resume(&mut self, part: Part) {
        if let Some(p) = self.part(part) {
            p.resume();
        }
    }

    /// kill -9 of both processes: the hospital's machine is gone.
    pub fn kill(&mut self) {
        for p in [self.cmt.take(), self.app.take()].into_iter().flatten() {
            let mut p = p;
            p.kill_9();
        }
    }

    /// Brings back whatever is down; a CometBFT that lost its application is
    /// given a moment to exit by itself, then killed, and started anew.
    pub fn restart(&mut self) -> Result<(), Error> {
        // A process that died by itself is as good as taken.
        if self.app.as_mut().is_some_and(|p| !p.is_running()) {
            self.app = None;
        }
        if self.app.is_none() && self.app_kind.is_own_process() {
            if let Some(mut cmt) = self.cmt.take() {
                cmt.stop(Duration::from_secs(5));
            }
        }
        if self.cmt.as_mut().is_some_and(Proc::is_running) {
            return Ok(());
        }
        self.cmt = None;
        self.start()
    }

    /// CometBFT first (it stops asking), then its application.
    pub fn stop(&mut self) {
        for p in [self.cmt.take(), self.app.take()].into_iter().flatten() {
            let mut p = p;
            p.stop(Duration::from_secs(10));
        }
    }

    pub fn is_running(&mut self) -> bool {
        let beside = self.app_kind.is_own_process();
        self.cmt.as_mut().is_some_and(Proc::is_running)
            && (!beside || self.app.as_mut().is_some_and(Proc::is_running))
    }

    pub fn pids(&self) -> Vec<u32> {
        [&self.cmt, &self.app]
            .into_iter()
            .flatten()
            .map(Proc::pid)
            .collect()
    }

    /// Where `ehr-node` keeps its data and snapshots.
    pub fn app_home(&self) -> PathBuf {
        self.home.join("ehr")
    }

    /// The whole log of its `ehr-node`.
    pub fn app_log(&self) -> String {
        self.app
            .as_ref()
            .and_then(|p| std::fs::read_to_string(&p.log).ok())
            .unwrap_or_default()
    }

    /// The last lines of both logs, for a failure message.
    pub fn log_tail(&self, lines: usize) -> String {
        [&self.cmt, &self.app]
            .into_iter()
            .flatten()
            .map(|p| format!("--- {}\n{}", p.log.display(), tail(&p.log, lines)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
