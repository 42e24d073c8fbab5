//! Apache Kafka 4 (KRaft: one process is both broker and controller), run
//! from the jars `scripts/setup.sh` copies from Maven Central into
//! `target/engines/kafka/libs`, with the machine's Java 17.
//!
//! Each broker gets its own folder (configuration, data, log) and free ports,
//! so tests run side by side.
//!
//! Unless told to run plaintext, a broker takes clients only over TLS
//! (`SASL_SSL`, its certificate from the run's or the test process's
//! authority) who log in with SCRAM-SHA-512 as one of its users — `admin`
//! (topics, and the tests' own looks), `ingest`, `device-gateway` — and
//! authorizes each by ACLs: a device gateway may only write readings; ingest
//! reads readings and writes refusals. Its controller listener runs TLS with
//! client certificates.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use std::sync::Arc;

use ehr_transport::kafka::{KafkaSecurity, SCRAM};

use crate::pki::Pki;
use crate::processes::{tail, Proc};
use crate::Error;

/// The super user: creates topics, and is who the tests read as.
pub const ADMIN: &str = "admin";
/// The ingest service's user.
pub const INGEST: &str = "ingest";
/// A device gateway's user: it may only write readings.
pub const DEVICE_GATEWAY: &str = "device-gateway";
/// The broker's own user (between its listeners).
const BROKER: &str = "broker";

/// How clients reach a broker.
#[derive(Clone, Debug)]
pub enum BrokerSecurity {
    /// SASL/SCRAM over TLS, the broker's certificate from this authority.
    Scram(Arc<Pki>),
    /// Plaintext without logins (a baseline, or `--insecure-plaintext`).
    Plaintext,
}

/// Where a SCRAM broker's users' passwords and its authority are.
struct Logins {
    ca_file: PathBuf,
    users: PathBuf,
}

/// The line Kafka logs once it serves clients.
const STARTED: &str = "Kafka Server started";

/// The jars: `KAFKA_LIBS`, else `target/engines/kafka/libs`.
pub fn libs() -> Result<PathBuf, Error> {
    let dir = std::env::var_os("KAFKA_LIBS")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::engines_dir().join("kafka/libs"));
    let has_kafka = std::fs::read_dir(&dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("kafka_2.13-"))
    });
    if has_kafka {
        Ok(dir)
    } else {
        Err(Error(format!(
            "Apache Kafka is not installed in {}: run scripts/setup.sh (it copies the jars from Maven Central)",
            dir.display()
        )))
    }
}

/// `$JAVA_HOME/bin/java`, else `java` on PATH.
fn java() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .map(|h| PathBuf::from(h).join("bin/java"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("java"))
}

/// One broker of a cluster: a KRaft node that is both broker and
/// controller, its configuration and data in a folder of its own.
struct Node {
    /// None while killed.
    proc: Option<Proc>,
    folder: PathBuf,
    properties: PathBuf,
    log: PathBuf,
}

/// A running Kafka cluster of one or more brokers.
pub struct Kafka {
    nodes: Vec<Node>,
    /// `host:port,…` of every broker, for clients (`bootstrap.servers`).
    pub address: String,
    pub dir: PathBuf,
    logins: Option<Logins>,
    libs: PathBuf,
}

/// How many replicas a topic (and Kafka's own topics) keeps, and how many
/// must have a write before it is acknowledged to an `acks=all` producer.
fn replication(brokers: usize) -> (i32, usize) {
    let replicas = brokers.min(3);
    (replicas as i32, replicas.min(2))
}

impl Kafka {
    /// A broker with SASL/SCRAM over TLS, its certificate from the test
    /// process's authority.
    pub fn start(dir: &Path) -> Result<Kafka, Error> {
        Self::start_with(dir, BrokerSecurity::Scram(crate::pki::for_tests()))
    }

    /// One broker in `dir`, secured as `security` says.
    pub fn start_with(dir: &Path, security: BrokerSecurity) -> Result<Kafka, Error> {
        Self::start_cluster(dir, security, 1)
    }

    /// Formats a fresh cluster of `brokers` KRaft nodes in `dir` and starts
    /// it on free ports (others, should one be taken before Kafka binds it);
    /// returns once every broker serves, the users' ACLs granted. Kafka's
    /// own topics keep up to three replicas, two of them in sync.
    pub fn start_cluster(
        dir: &Path,
        security: BrokerSecurity,
        brokers: usize,
    ) -> Result<Kafka, Error> {
        let libs = libs()?;
        let brokers = brokers.max(1);
        let mut last = String::new();
        for attempt in 0..5 {
            let folder = dir.join(format!("kafka-{attempt}"));
            std::fs::create_dir_all(&folder).map_err(|e| Error(e.to_string()))?;
            let mut ports = Vec::new();
            while ports.len() < 2 * brokers {
                let p = crate::free_port()?;
                if !ports.contains(&p) {
                    ports.push(p);
                }
            }
            let (client_ports, controller_ports) = ports.split_at(brokers);
            let scram = match &security {
                BrokerSecurity::Scram(pki) => Some(Scram::prepare(&folder, pki)?),
                BrokerSecurity::Plaintext => None,
            };
            let voters = controller_ports
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{}@127.0.0.1:{c}", i + 1))
                .collect::<Vec<_>>()
                .join(",");
            let cluster_id = cluster_id()?;
            // The tools run in the cluster's folder log as the brokers do.
            write_log4j(&folder)?;
            let mut nodes = Vec::new();
            for i in 0..brokers {
                let node_folder = folder.join(format!("broker-{}", i + 1));
                std::fs::create_dir_all(&node_folder).map_err(|e| Error(e.to_string()))?;
                let properties = write_configuration(
                    &node_folder,
                    &Placement {
                        node_id: i + 1,
                        port: client_ports[i],
                        controller: controller_ports[i],
                        voters: &voters,
                        brokers,
                    },
                    scram.as_ref(),
                )?;
                format_storage(
                    &libs,
                    &node_folder,
                    &properties,
                    scram.as_ref(),
                    &cluster_id,
                )?;
                nodes.push(Node {
                    proc: None,
                    log: node_folder.join("kafka.log"),
                    folder: node_folder,
                    properties,
                });
            }
            let mut kafka = Kafka {
                nodes,
                address: client_ports
                    .iter()
                    .map(|p| format!("127.0.0.1:{p}"))
                    .collect::<Vec<_>>()
                    .join(","),
                dir: folder,
                logins: scram.map(|s| Logins {
                    ca_file: s.ca_file,
                    users: s.users,
                }),
                libs: libs.clone(),
            };
            let started = (0..brokers)
                .try_for_each(|i| kafka.spawn(i))
                .and_then(|()| (0..brokers).try_for_each(|i| kafka.wait_started(i)));
            match started {
                Ok(()) => {
                    kafka.grant_acls(&libs)?;
                    return Ok(kafka);
                }
                Err(e) => {
                    last = e.0;
                    (0..brokers).for_each(|i| kafka.kill_broker(i));
                }
            }
        }
        Err(Error(format!("Apache Kafka did not start: {last}")))
    }

    fn spawn(&mut self, i: usize) -> Result<(), Error> {
        let node = &mut self.nodes[i];
        let mut cmd = Command::new(java());
        cmd.args(jvm_args(&self.libs, &node.folder))
            .arg("kafka.Kafka")
            .arg(&node.properties);
        node.proc = Some(Proc::spawn_logging("kafka", cmd, &node.folder)?);
        Ok(())
    }

    fn wait_started(&mut self, i: usize) -> Result<(), Error> {
        match self.nodes[i].proc.as_mut() {
            Some(p) => p.wait_for_log(STARTED, Duration::from_secs(90)),
            None => Err(Error(format!("broker {} is not running", i + 1))),
        }
    }

    /// How many brokers the cluster has.
    pub fn brokers(&self) -> usize {
        self.nodes.len()
    }

    /// kill -9 of broker `i` (from 0), as a crashed machine.
    pub fn kill_broker(&mut self, i: usize) {
        if let Some(mut p) = self.nodes[i].proc.take() {
            p.kill_9();
        }
    }

    /// SIGSTOP of broker `i`: it hangs, its connections open.
    pub fn pause_broker(&mut self, i: usize) {
        if let Some(p) = self.nodes[i].proc.as_mut() {
            p.pause();
        }
    }

    /// SIGCONT after `pause_broker`.
    pub fn resume_broker(&mut self, i: usize) {
        if let Some(p) = self.nodes[i].proc.as_mut() {
            p.resume();
        }
    }

    /// Starts broker `i` again on its data (after `kill_broker`, or if it
    /// died); returns once it serves.
    pub fn restart_broker(&mut self, i: usize) -> Result<(), Error> {
        if self.broker_running(i) {
            return Ok(());
        }
        self.spawn(i)?;
        self.wait_started(i)
    }

    pub fn broker_running(&mut self, i: usize) -> bool {
        self.nodes[i].proc.as_mut().is_some_and(Proc::is_running)
    }

    /// The settings a client logs in with as `user` (plaintext: none).
    pub fn security(&self, user: &str) -> KafkaSecurity {
        match &self.logins {
            Some(l) => KafkaSecurity::scram(
                user,
                &password(&l.users, user).unwrap_or_default(),
                &l.ca_file,
            ),
            None => KafkaSecurity::plaintext(),
        }
    }

    /// A client configuration: this broker, logged in as `user`.
    pub fn client_config(&self, user: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        self.security(user).configure(&self.address, |k, v| {
            config.set(k, v);
        });
        config
    }

    /// What a service is told to log in as `user`: `--kafka-user`,
    /// `--kafka-password-file`, `--kafka-ca-file` (plaintext:
    /// `--kafka-insecure-plaintext`).
    pub fn login_args(&self, user: &str) -> Vec<std::ffi::OsString> {
        match &self.logins {
            Some(l) => vec![
                "--kafka-user".into(),
                user.into(),
                "--kafka-password-file".into(),
                l.users.join(format!("{user}.password")).into(),
                "--kafka-ca-file".into(),
                l.ca_file.clone().into(),
            ],
            None => vec!["--kafka-insecure-plaintext".into()],
        }
    }

    /// Whether clients reach it over TLS with a login.
    pub fn is_secured(&self) -> bool {
        self.logins.is_some()
    }

    /// A device gateway writes readings and nothing else; ingest reads them,
    /// writes refusals, and may create its two topics when missing.
    fn grant_acls(&self, libs: &Path) -> Result<(), Error> {
        use ehr_client::readings::{DEAD_LETTER_TOPIC, READINGS_TOPIC};
        let Some(logins) = &self.logins else {
            return Ok(());
        };
        let admin = self.dir.join("admin.properties");
        let text = format!(
            "bootstrap.servers={}\n\
             security.protocol=SASL_SSL\n\
             sasl.mechanism={SCRAM}\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{ADMIN}\" password=\"{}\";\n\
             ssl.truststore.type=PEM\n\
             ssl.truststore.location={}\n",
            self.address,
            password(&logins.users, ADMIN)?,
            logins.ca_file.display()
        );
        ehr_transport::write_private(&admin, text.as_bytes()).map_err(|e| Error(e.to_string()))?;
        let source = self.dir.join("Acls.java");
        std::fs::write(&source, include_str!("kafka/Acls.java"))
            .map_err(|e| Error(e.to_string()))?;
        let grant = |user: &str, kind: &str, name: &str, pattern: &str, op: &str| {
            format!("User:{user},{kind},{name},{pattern},{op}")
        };
        let grants = [
            grant(DEVICE_GATEWAY, "TOPIC", READINGS_TOPIC, "LITERAL", "WRITE"),
            grant(INGEST, "TOPIC", READINGS_TOPIC, "LITERAL", "READ"),
            grant(INGEST, "TOPIC", READINGS_TOPIC, "LITERAL", "CREATE"),
            grant(INGEST, "TOPIC", DEAD_LETTER_TOPIC, "LITERAL", "WRITE"),
            grant(INGEST, "TOPIC", DEAD_LETTER_TOPIC, "LITERAL", "CREATE"),
            grant(INGEST, "GROUP", "ehr-ingest", "PREFIXED", "READ"),
        ];
        let mut args = vec![source.into_os_string(), admin.into_os_string()];
        args.extend(grants.map(Into::into));
        run_java(libs, &self.dir, &args, "granting Kafka's ACLs")
    }

    /// Creates topics with `partitions` each, replicated on up to three
    /// brokers with two in sync; accepts ones that exist.
    pub fn create_topics(&self, names: &[&str], partitions: i32) -> Result<(), Error> {
        let admin: AdminClient<DefaultClientContext> = self
            .client_config(ADMIN)
            .create()
            .map_err(|e| Error(format!("Kafka admin client: {e}")))?;
        let (replicas, in_sync) = replication(self.brokers());
        let in_sync = in_sync.to_string();
        let topics: Vec<NewTopic> = names
            .iter()
            .map(|t| {
                NewTopic::new(t, partitions, TopicReplication::Fixed(replicas))
                    .set("min.insync.replicas", &in_sync)
            })
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error(e.to_string()))?;
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = runtime
            .block_on(admin.create_topics(&topics, &options))
            .map_err(|e| Error(format!("cannot create the topics: {e}")))?;
        for r in results {
            if let Err((topic, e)) = r {
                if e != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                    return Err(Error(format!("cannot create topic {topic}: {e}")));
                }
            }
        }
        Ok(())
    }

    /// The first broker's log.
    pub fn log(&self) -> &Path {
        &self.nodes[0].log
    }

    /// The last lines of every broker's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- {}\n{}", n.log.display(), tail(&n.log, lines)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first broker's process id.
    pub fn pid(&self) -> u32 {
        self.pids().first().copied().unwrap_or(0)
    }

    /// Every running broker's process id.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter_map(|n| n.proc.as_ref().map(Proc::pid))
            .collect()
    }

    /// A clean shutdown of every broker (SIGTERM), each killed after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        for n in &mut self.nodes {
            if let Some(p) = n.proc.as_mut() {
                p.stop(grace);
            }
        }
    }
}

/// A modest heap: a test machine runs several brokers beside the chain.
fn jvm_args(libs: &Path, folder: &Path) -> Vec<String> {
    vec![
        "-Xms128m".into(),
        "-Xmx512m".into(),
        "-XX:+UseG1GC".into(),
        "-Djava.awt.headless=true".into(),
        format!(
            "-Dlog4j2.configurationFile={}",
            folder.join("log4j2.properties").display()
        ),
        "-cp".into(),
        format!("{}/*", libs.display()),
    ]
}

/// A SCRAM broker's secrets: its keystore (key and certificate chain) and
/// each user's password, in files only this user reads.
struct Scram {
    keystore: PathBuf,
    ca_file: PathBuf,
    users: PathBuf,
}

impl Scram {
    fn prepare(folder: &Path, pki: &Pki) -> Result<Scram, Error> {
        let identity = pki.issue(BROKER)?;
        let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| Error(e.to_string()));
        let keystore = folder.join("broker-keystore.pem");
        let pem = format!("{}{}", read(&identity.key)?, read(&identity.certificate)?);
        ehr_transport::write_private(&keystore, pem.as_bytes())
            .map_err(|e| Error(e.to_string()))?;
        let users = folder.join("users");
        std::fs::create_dir_all(&users).map_err(|e| Error(e.to_string()))?;
        for user in [BROKER, ADMIN, INGEST, DEVICE_GATEWAY] {
            let mut secret = [0u8; 24];
            getrandom::fill(&mut secret).map_err(|e| Error(e.to_string()))?;
            ehr_transport::write_private(
                &users.join(format!("{user}.password")),
                hex::encode(secret).as_bytes(),
            )
            .map_err(|e| Error(e.to_string()))?;
        }
        Ok(Scram {
            keystore,
            ca_file: pki.ca_file.clone(),
            users,
        })
    }

    fn password(&self, user: &str) -> Result<String, Error> {
        password(&self.users, user)
    }
}

/// A user's password, from the broker's `users` folder.
fn password(users: &Path, user: &str) -> Result<String, Error> {
    std::fs::read_to_string(users.join(format!("{user}.password")))
        .map(|p| p.trim().to_string())
        .map_err(|e| Error(format!("the Kafka password of {user}: {e}")))
}

/// Where one node of a cluster sits among the others.
struct Placement<'a> {
    node_id: usize,
    port: u16,
    controller: u16,
    /// `controller.quorum.voters`: every node's id and controller address.
    voters: &'a str,
    brokers: usize,
}

fn write_configuration(
    folder: &Path,
    at: &Placement<'_>,
    scram: Option<&Scram>,
) -> Result<PathBuf, Error> {
    let (port, controller) = (at.port, at.controller);
    let data = folder.join("data");
    let properties = folder.join("server.properties");
    let listeners = match scram {
        None => format!(
            "listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
             inter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
        ),
        // Clients: TLS and a SCRAM login, then ACLs. The controller
        // listener: TLS both ways (the broker's own certificate).
        Some(s) => format!(
            "listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
             advertised.listeners=SASL_SSL://127.0.0.1:{port}\n\
             inter.broker.listener.name=SASL_SSL\n\
             listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL\n\
             sasl.enabled.mechanisms={SCRAM}\n\
             sasl.mechanism.inter.broker.protocol={SCRAM}\n\
             listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{BROKER}\" password=\"{}\";\n\
             ssl.keystore.type=PEM\n\
             ssl.keystore.location={}\n\
             ssl.truststore.type=PEM\n\
             ssl.truststore.location={}\n\
             listener.name.controller.ssl.client.auth=required\n\
             ssl.principal.mapping.rules=RULE:^CN=([^,]+).*$/$1/,DEFAULT\n\
             authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
             super.users=User:{BROKER};User:{ADMIN}\n\
             allow.everyone.if.no.acl.found=false\n",
            s.password(BROKER)?,
            s.keystore.display(),
            s.ca_file.display()
        ),
    };
    // Every node both roles; Kafka's own topics replicated as the readings
    // are (one replica on a single broker); a new consumer group starts at
    // once instead of waiting for more members.
    let (replicas, in_sync) = replication(at.brokers);
    let text = format!(
        "process.roles=broker,controller\n\
         node.id={}\n\
         controller.quorum.voters={}\n\
         {listeners}\
         controller.listener.names=CONTROLLER\n\
         log.dirs={}\n\
         num.partitions=1\n\
         default.replication.factor={replicas}\n\
         min.insync.replicas={in_sync}\n\
         offsets.topic.replication.factor={replicas}\n\
         offsets.topic.num.partitions=4\n\
         transaction.state.log.replication.factor={replicas}\n\
         transaction.state.log.min.isr={in_sync}\n\
         share.coordinator.state.topic.replication.factor={replicas}\n\
         share.coordinator.state.topic.min.isr={in_sync}\n\
         group.initial.rebalance.delay.ms=0\n",
        at.node_id,
        at.voters,
        data.display()
    );
    // It holds the broker's password: its owner's only.
    ehr_transport::write_private(&properties, text.as_bytes()).map_err(|e| Error(e.to_string()))?;
    write_log4j(folder)?;
    Ok(properties)
}

/// Kafka's own logging: warnings, and the server's start and stop.
fn write_log4j(folder: &Path) -> Result<(), Error> {
    let log4j = "status = error\n\
                 appender.out.type = Console\n\
                 appender.out.name = out\n\
                 appender.out.layout.type = PatternLayout\n\
                 appender.out.layout.pattern = [%d] %p %m (%c)%n\n\
                 rootLogger.level = info\n\
                 rootLogger.appenderRef.out.ref = out\n\
                 logger.kafka.name = org.apache.kafka\n\
                 logger.kafka.level = warn\n\
                 logger.server.name = kafka.server\n\
                 logger.server.level = info\n";
    std::fs::write(folder.join("log4j2.properties"), log4j).map_err(|e| Error(e.to_string()))
}

/// The SCRAM users, written into the metadata log at format time.
fn scram_users(scram: Option<&Scram>) -> Result<Vec<String>, Error> {
    let Some(s) = scram else {
        return Ok(vec![]);
    };
    let mut args = vec![];
    for user in [BROKER, ADMIN, INGEST, DEVICE_GATEWAY] {
        args.push("--add-scram".to_string());
        args.push(format!(
            "{SCRAM}=[name={user},password={}]",
            s.password(user)?
        ));
    }
    Ok(args)
}

/// A new cluster id: URL-safe base64 of 16 random bytes, drawn again when it
/// starts with '-': the storage tool's argument parser would take such an id
/// for an option (one start in 64 failed that way).
fn cluster_id() -> Result<String, Error> {
    loop {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| Error(e.to_string()))?;
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id);
        if !id.starts_with('-') {
            return Ok(id);
        }
    }
}

/// `kafka-storage format`: the node's storage for the cluster `cluster_id`
/// and the metadata log's bootstrap.
fn format_storage(
    libs: &Path,
    folder: &Path,
    properties: &Path,
    scram: Option<&Scram>,
    cluster_id: &str,
) -> Result<(), Error> {
    let mut args: Vec<std::ffi::OsString> =
        ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c"]
            .map(Into::into)
            .to_vec();
    args.push(properties.into());
    args.extend(scram_users(scram)?.into_iter().map(Into::into));
    // The users' passwords go in an argument file only this user reads, not
    // on the command line, where every local user would see them.
    let argfile = folder.join("format.args");
    let lines: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    ehr_transport::write_private(&argfile, (lines.join("\n") + "\n").as_bytes())
        .map_err(|e| Error(e.to_string()))?;
    let at = format!("@{}", argfile.display());
    run_java(libs, folder, &[at.into()], "formatting Kafka's storage")
}

/// Runs Java on the broker's jars; `what` names the step in the error.
fn run_java(
    libs: &Path,
    folder: &Path,
    args: &[std::ffi::OsString],
    what: &str,
) -> Result<(), Error> {
    let out = Command::new(java())
        .args(jvm_args(libs, folder))
        .args(args)
        .output()
        .map_err(|e| Error(format!("cannot run Java ({}): {e}", java().display())))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        )))
    }
}
