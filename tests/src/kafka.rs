//! Apache Kafka 4 (KRaft: one process is both broker and controller), run
//! from the jars `scripts/setup.sh` copies from Maven Central into
//! `target/engines/kafka/libs`, with the machine's Java 17.
//!
//! Each broker gets its own folder (configuration, data, log) and free ports,
//! so tests run side by side.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use crate::processes::{tail, Proc};
use crate::Error;

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

/// A running Kafka broker.
pub struct Kafka {
    proc: Proc,
    /// `host:port` for clients (`bootstrap.servers`).
    pub address: String,
    pub dir: PathBuf,
}

impl Kafka {
    /// Formats a fresh broker in `dir` and starts it on free ports (others,
    /// should one be taken before Kafka binds it); returns once it serves.
    pub fn start(dir: &Path) -> Result<Kafka, Error> {
        let libs = libs()?;
        let mut last = String::new();
        for attempt in 0..5 {
            let folder = dir.join(format!("kafka-{attempt}"));
            std::fs::create_dir_all(&folder).map_err(|e| Error(e.to_string()))?;
            let (port, controller) = (crate::free_port()?, crate::free_port()?);
            if port == controller {
                continue;
            }
            let properties = write_configuration(&folder, port, controller)?;
            format_storage(&libs, &folder, &properties)?;
            let mut cmd = Command::new(java());
            cmd.args(jvm_args(&libs, &folder))
                .arg("kafka.Kafka")
                .arg(&properties);
            let mut proc = Proc::spawn_logging("kafka", cmd, &folder)?;
            match proc.wait_for_log(STARTED, Duration::from_secs(60)) {
                Ok(()) => {
                    return Ok(Kafka {
                        proc,
                        address: format!("127.0.0.1:{port}"),
                        dir: folder,
                    })
                }
                Err(e) => {
                    last = e.0;
                    proc.kill_9();
                }
            }
        }
        Err(Error(format!("Apache Kafka did not start: {last}")))
    }

    /// Creates topics (one partition each unless given), accepting ones that exist.
    pub fn create_topics(&self, names: &[&str], partitions: i32) -> Result<(), Error> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .create()
            .map_err(|e| Error(format!("Kafka admin client: {e}")))?;
        let topics: Vec<NewTopic> = names
            .iter()
            .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(1)))
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

    pub fn log(&self) -> &Path {
        &self.proc.log
    }

    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.proc.log, lines)
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// A clean shutdown (SIGTERM), killed after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        self.proc.stop(grace);
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

fn write_configuration(folder: &Path, port: u16, controller: u16) -> Result<PathBuf, Error> {
    let data = folder.join("data");
    let properties = folder.join("server.properties");
    // One node, both roles; internal topics with one replica; a new consumer
    // group starts at once instead of waiting for more members.
    let text = format!(
        "process.roles=broker,controller\n\
         node.id=1\n\
         controller.quorum.voters=1@127.0.0.1:{controller}\n\
         listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=PLAINTEXT\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         log.dirs={}\n\
         num.partitions=1\n\
         offsets.topic.replication.factor=1\n\
         offsets.topic.num.partitions=4\n\
         transaction.state.log.replication.factor=1\n\
         transaction.state.log.min.isr=1\n\
         share.coordinator.state.topic.replication.factor=1\n\
         share.coordinator.state.topic.min.isr=1\n\
         group.initial.rebalance.delay.ms=0\n",
        data.display()
    );
    std::fs::write(&properties, text).map_err(|e| Error(e.to_string()))?;
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
    std::fs::write(folder.join("log4j2.properties"), log4j).map_err(|e| Error(e.to_string()))?;
    Ok(properties)
}

/// `kafka-storage format`: a new cluster id and the metadata log's bootstrap.
fn format_storage(libs: &Path, folder: &Path, properties: &Path) -> Result<(), Error> {
    // URL-safe base64 of 16 random bytes, drawn again when it starts with '-':
    // the storage tool's argument parser would take such an id for an option
    // (one start in 64 failed that way).
    let cluster_id = loop {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| Error(e.to_string()))?;
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id);
        if !id.starts_with('-') {
            break id;
        }
    };
    let out = Command::new(java())
        .args(jvm_args(libs, folder))
        .args(["kafka.tools.StorageTool", "format", "-t", &cluster_id, "-c"])
        .arg(properties)
        .output()
        .map_err(|e| Error(format!("cannot run Java ({}): {e}", java().display())))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error(format!(
            "formatting Kafka's storage failed: {}{}",
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        )))
    }
}
