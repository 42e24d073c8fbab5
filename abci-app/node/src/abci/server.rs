//! Accepts CometBFT's connections on TCP or a Unix socket and answers each
//! connection's requests in order. Responses are buffered and written out at
//! each Flush, as CometBFT's socket client expects.

use std::path::PathBuf;
use std::str::FromStr;

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::os::unix::net::UnixListener;

use prost::Message;

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
    pub fn bind(address: &ListenAddress) -> std::io::Result<Listener> {
        match address {
            ListenAddress::Tcp(a) => Ok(Listener::Tcp(TcpListener::bind(a)?)),
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

/// Serves connections, each on a thread of its own, for as long as the
/// process runs. CometBFT opens four (consensus, mempool, query, snapshot):
/// a thread each answers its requests in order with plain blocking I/O, so a
/// CheckTx costs no hand-over between threads, and the consensus
/// connection's long FinalizeBlock never delays the mempool's or a query.
pub fn serve(listener: Listener, app: App) {
    tracing::info!(address = %listener.local_address(), "ABCI server listening");
    loop {
        let accepted = match &listener {
            Listener::Tcp(l) => l.accept().and_then(|(s, peer)| {
                let (reader, closer) = (s.try_clone()?, s.try_clone()?);
                let close = move || drop(closer.shutdown(Shutdown::Both));
                spawn(reader, s, close, app.clone(), peer.to_string())
            }),
            Listener::Unix(l, _) => l.accept().and_then(|(s, _)| {
                let (reader, closer) = (s.try_clone()?, s.try_clone()?);
                let close = move || drop(closer.shutdown(Shutdown::Both));
                spawn(reader, s, close, app.clone(), "unix socket".into())
            }),
        };
        if let Err(error) = accepted {
            tracing::error!(%error, "accepting an ABCI connection failed");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// Answers a connection on a thread of its own; when it ends (the peer
/// hung up, or sent what is not a request), `close` shuts the socket, which
/// also ends the thread reading it.
fn spawn<R, W, C>(reader: R, writer: W, close: C, app: App, peer: String) -> std::io::Result<()>
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
    C: FnOnce() + Send + 'static,
{
    std::thread::Builder::new()
        .name("abci-connection".into())
        .spawn(move || {
            connection(reader, writer, app, peer);
            close();
        })
        .map(|_| ())
}

fn exception(error: String) -> Response {
    Response {
        value: Some(response::Value::Exception(ResponseException { error })),
    }
}

fn connection<R: Read + Send + 'static, W: Write>(reader: R, writer: W, app: App, peer: String) {
    tracing::info!(%peer, "ABCI connection opened");
    // Requests are read as fast as CometBFT writes them, on a thread of
    // their own: CometBFT's sender never waits on a full socket while a
    // request is being answered (it spins on its flush timer meanwhile).
    let (frames, incoming) = std::sync::mpsc::channel();
    let reader_peer = peer.clone();
    let spawned = std::thread::Builder::new()
        .name("abci-reader".into())
        .spawn(move || {
            let mut r = BufReader::with_capacity(256 * 1024, reader);
            loop {
                let frame = read_frame(&mut r);
                let end = frame.is_err();
                if frames.send(frame).is_err() || end {
                    return;
                }
            }
        });
    if let Err(error) = spawned {
        tracing::error!(peer = %reader_peer, %error, "cannot start a reader thread; closing the connection");
        return;
    }
    let mut w = BufWriter::new(writer);
    for frame in incoming {
        let frame = match frame {
            Ok(f) => f,
            Err(WireError::Closed) => {
                tracing::info!(%peer, "ABCI connection closed by the peer");
                return;
            }
            Err(error) => {
                tracing::error!(%peer, %error, "unreadable ABCI frame; closing the connection");
                let _ = write_frame(&mut w, &exception(error.to_string()).encode_to_vec());
                let _ = w.flush();
                return;
            }
        };
        let request = match Request::decode(frame.as_slice()) {
            Ok(Request { value: Some(v) }) => v,
            Ok(Request { value: None }) | Err(_) => {
                let error = format!("a {}-byte frame is not an ABCI v0.38 request", frame.len());
                tracing::error!(%peer, %error, "closing the connection");
                let _ = write_frame(&mut w, &exception(error).encode_to_vec());
                let _ = w.flush();
                return;
            }
        };
        let flush = matches!(request, request::Value::Flush(_));
        let response = Response {
            value: Some(app.handle(request)),
        };
        let written = write_frame(&mut w, &response.encode_to_vec());
        let written = match written {
            Ok(()) if flush => w.flush(),
            other => other,
        };
        if let Err(error) = written {
            tracing::error!(%peer, %error, "writing to the ABCI connection failed; closing it");
            return;
        }
    }
}
