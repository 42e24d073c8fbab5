//! Accepts CometBFT's connections on TCP or a Unix socket and answers each
//! connection's requests in order. Responses are buffered and written out at
//! each Flush, as CometBFT's socket client expects.

use std::path::PathBuf;
use std::str::FromStr;

use prost::Message;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, UnixListener};

use super::proto::{request, response, Request, Response, ResponseException};
use super::wire::{read_frame, write_frame, WireError};
use super::App;

/// Where the ABCI server listens: `tcp://host:port` or `unix:///path`
/// (CometBFT's `proxy_app` forms); a bare `host:port` means TCP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenAddress {
    Tcp(String),
    Unix(PathBuf),
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not tcp://HOST:PORT or unix:///PATH")]
pub struct BadListenAddress(String);

impl FromStr for ListenAddress {
    type Err = BadListenAddress;
    fn from_str(s: &str) -> Result<Self, BadListenAddress> {
        if let Some(path) = s.strip_prefix("unix://") {
            return Ok(ListenAddress::Unix(PathBuf::from(path)));
        }
        let hostport = s.strip_prefix("tcp://").unwrap_or(s);
        if !hostport.contains(':') {
            return Err(BadListenAddress(s.into()));
        }
        Ok(ListenAddress::Tcp(hostport.to_string()))
    }
}

pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Listener {
    pub async fn bind(address: &ListenAddress) -> std::io::Result<Listener> {
        match address {
            ListenAddress::Tcp(a) => Ok(Listener::Tcp(TcpListener::bind(a).await?)),
            ListenAddress::Unix(path) => {
                // A socket file left by a killed node would block the bind.
                if path.exists() {
                    std::fs::remove_file(path)?;
                }
                Ok(Listener::Unix(UnixListener::bind(path)?, path.clone()))
            }
        }
    }

    /// The address actually bound (for port 0 in tests).
    pub fn local_address(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .local_addr()
                .map(|a| format!("tcp://{a}"))
                .unwrap_or_default(),
            Listener::Unix(_, p) => format!("unix://{}", p.display()),
        }
    }
}

/// Serves connections until the task is dropped.
pub async fn serve(listener: Listener, app: App) {
    tracing::info!(address = %listener.local_address(), "ABCI server listening");
    loop {
        let accepted = match &listener {
            Listener::Tcp(l) => l.accept().await.map(|(s, peer)| {
                tokio::spawn(connection(s, app.clone(), peer.to_string()));
            }),
            Listener::Unix(l, _) => l.accept().await.map(|(s, _)| {
                tokio::spawn(connection(s, app.clone(), "unix socket".into()));
            }),
        };
        if let Err(error) = accepted {
            tracing::error!(%error, "accepting an ABCI connection failed");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

fn exception(error: String) -> Response {
    Response {
        value: Some(response::Value::Exception(ResponseException { error })),
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Send + 'static>(stream: S, app: App, peer: String) {
    tracing::info!(%peer, "ABCI connection opened");
    let (r, w) = tokio::io::split(stream);
    let (mut r, mut w) = (BufReader::new(r), BufWriter::new(w));
    loop {
        let frame = match read_frame(&mut r).await {
            Ok(f) => f,
            Err(WireError::Closed) => {
                tracing::info!(%peer, "ABCI connection closed by the peer");
                return;
            }
            Err(error) => {
                tracing::error!(%peer, %error, "unreadable ABCI frame; closing the connection");
                let _ = write_frame(&mut w, &exception(error.to_string()).encode_to_vec()).await;
                let _ = w.flush().await;
                return;
            }
        };
        let request = match Request::decode(frame.as_slice()) {
            Ok(Request { value: Some(v) }) => v,
            Ok(Request { value: None }) | Err(_) => {
                let error = format!("a {}-byte frame is not an ABCI v0.38 request", frame.len());
                tracing::error!(%peer, %error, "closing the connection");
                let _ = write_frame(&mut w, &exception(error).encode_to_vec()).await;
                let _ = w.flush().await;
                return;
            }
        };
        let flush = matches!(request, request::Value::Flush(_));
        let app = app.clone();
        let response = match tokio::task::spawn_blocking(move || app.handle(request)).await {
            Ok(v) => Response { value: Some(v) },
            Err(error) => exception(format!("the request handler failed: {error}")),
        };
        let written = write_frame(&mut w, &response.encode_to_vec()).await;
        let written = match written {
            Ok(()) if flush => w.flush().await,
            other => other,
        };
        if let Err(error) = written {
            tracing::error!(%peer, %error, "writing to the ABCI connection failed; closing it");
            return;
        }
    }
}
