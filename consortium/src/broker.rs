//! The Kafka-protocol broker. Here: tansu, built from crates.io by
//! `scripts/setup.sh` (compose runs Apache Kafka instead; the services speak
//! the Kafka protocol through librdkafka either way).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

use crate::processes::Proc;

pub const READINGS: &str = "ehr.readings";
pub const DEAD_LETTER: &str = "ehr.readings.dead-letter";

fn tansu() -> Result<PathBuf, String> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("tansu"))
            .find(|p| p.is_file())
    });
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|h| h.join("bin/tansu"));
    on_path
        .or(cargo_home.filter(|p| p.is_file()))
        .ok_or_else(|| "the tansu broker is not installed: scripts/setup.sh installs it".into())
}

pub struct Broker {
    pub proc: Proc,
    pub address: String,
}

impl Broker {
    /// Starts the broker on a free port (another, should one be taken first)
    /// and creates the readings and dead-letter topics.
    pub fn start(dir: &Path) -> Result<Broker, String> {
        let bin = tansu()?;
        let mut last = String::new();
        for _ in 0..5 {
            let port = crate::free_port()?;
            let url = format!("tcp://127.0.0.1:{port}");
            let mut cmd = Command::new(&bin);
            cmd.args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ]);
            let mut proc = Proc::spawn("broker", cmd, dir)?;
            let address = format!("127.0.0.1:{port}");
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while std::time::Instant::now() < deadline && proc.is_running() {
                if std::net::TcpStream::connect(&address).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            std::thread::sleep(Duration::from_millis(200));
            if proc.is_running() && std::net::TcpStream::connect(&address).is_ok() {
                let broker = Broker { proc, address };
                broker.create_topics()?;
                return Ok(broker);
            }
            last = crate::processes::tail(&proc.log, 5);
            proc.stop(Duration::from_secs(1));
        }
        Err(format!("the broker did not start: {last}"))
    }

    fn create_topics(&self) -> Result<(), String> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .create()
            .map_err(|e| e.to_string())?;
        let topics: Vec<NewTopic> = [READINGS, DEAD_LETTER]
            .iter()
            .map(|t| NewTopic::new(t, 1, TopicReplication::Fixed(1)))
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let results = runtime
            .block_on(admin.create_topics(&topics, &AdminOptions::new()))
            .map_err(|e| format!("cannot create the topics: {e}"))?;
        for r in results {
            if let Err((topic, e)) = r {
                if e != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                    return Err(format!("cannot create topic {topic}: {e}"));
                }
            }
        }
        Ok(())
    }
}
