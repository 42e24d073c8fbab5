//! The dev sequencer inside the test's process, and how tests send to and
//! query any chain (`Submit`).

use super::*;

/// The dev sequencer in this process, serving its RPC on a real socket.
pub struct Chain {
    pub url: String,
    pub port: u16,
    pub home: PathBuf,
    runtime: Option<tokio::runtime::Runtime>,
}

pub fn genesis() -> CometGenesis {
    CometGenesis {
        genesis_time: "2026-01-01T00:00:00Z".into(),
        chain_id: CHAIN.into(),
        initial_height: serde_json::json!("1"),
        app_state: serde_json::to_value(consortium_genesis(&["general", "north", "south", "east"]))
            .unwrap(),
        rest: Default::default(),
    }
}

impl Chain {
    pub fn start(home: &Path, port: u16) -> Chain {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut config = Config::new(home);
        config.block_interval = Duration::from_millis(100);
        config.empty_block_interval = Duration::from_millis(500);
        let sequencer = Sequencer::open(config, Some(&genesis())).expect("the dev sequencer opens");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .expect("the RPC port is free");
        // Port 0 picked a free port; a restart passes the port it had.
        let port = listener.local_addr().expect("bound").port();
        // HTTPS, with a certificate of the test process's authority.
        let listener = runtime
            .block_on(async {
                let tls = crate::pki::for_tests().service("dev-chain")?.server();
                ehr_transport::ServiceListener::new(
                    listener,
                    tls.map_err(|e| std::io::Error::other(e.to_string()))?,
                )
            })
            .expect("the listener serves");
        runtime.spawn(sequencer.clone().run(std::future::pending()));
        runtime.spawn(async move { axum::serve(listener, http::router(sequencer)).await });
        Chain {
            url: format!("https://127.0.0.1:{port}"),
            port,
            home: home.to_path_buf(),
            runtime: Some(runtime),
        }
    }

    /// Stops the chain (its RPC goes away); `start` on the same home resumes it.
    pub fn stop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

impl Submit for Chain {
    fn rpc(&self) -> RpcClient {
        RpcClient::new(&self.url)
    }
}

/// A chain the tests send transactions to and query, in process or not.
pub trait Submit {
    fn rpc(&self) -> RpcClient;

    /// Sends and waits for the block; panics if refused.
    fn send(&self, key: &SecretKey, action: Kind) {
        let rpc = self.rpc();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let nonce = rpc.next_nonce(&key.address()).await.unwrap();
            let r = rpc
                .broadcast_tx_commit(&sign_tx(key, CHAIN, nonce, action))
                .await
                .unwrap();
            assert_eq!(r.check_tx.code, 0, "{}", r.check_tx.log);
            assert_eq!(r.tx_result.code, 0, "{}", r.tx_result.log);
        });
    }

    fn query<M: prost::Message + Default>(&self, path: &str) -> Option<M> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(self.rpc().query(path)).unwrap()
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        self.stop();
    }
}
