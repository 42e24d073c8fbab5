//! A listener for axum that serves TLS (or, when told, plaintext). Handshakes
//! run on their own tasks with a deadline, so a client that connects and says
//! nothing holds up no one else's connection.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// Connections handshaken and waiting for the server to take them.
const READY_QUEUE: usize = 256;
/// Handshakes under way at once; past it, new connections wait to be taken
/// from the kernel's queue (one client cannot use up the descriptors).
const HANDSHAKES_AT_ONCE: usize = 512;

/// One accepted connection.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Conn {
    /// The common name on the certificate the client showed (mutual TLS);
    /// `None` over plaintext or when the client showed none.
    pub fn client_name(&self) -> Option<String> {
        let Conn::Tls(s) = self else { return None };
        let leaf = s.get_ref().1.peer_certificates()?.first()?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
        let name = cert.subject().iter_common_name().next()?;
        name.as_str().ok().map(String::from)
    }
}

/// Who is at the other end of a connection: its address and the name on
/// its client certificate, for a handler that authorises by it
/// (`Router::into_make_service_with_connect_info::<Peer>()`).
#[derive(Clone, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    pub client_name: Option<String>,
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, ServiceListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, ServiceListener>) -> Self {
        Peer {
            addr: *stream.remote_addr(),
            client_name: stream.io().client_name(),
        }
    }
}

/// A bound listener: TLS when it has a server configuration, plaintext when not.
pub struct ServiceListener {
    local: SocketAddr,
    inner: Inner,
}

enum Inner {
    Plain(TcpListener),
    Tls(mpsc::Receiver<(Conn, SocketAddr)>),
}

impl ServiceListener {
    /// Serves `tls` (None: plaintext) on a bound TCP listener.
    pub fn new(listener: TcpListener, tls: Option<Arc<ServerConfig>>) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let inner = match tls {
            None => Inner::Plain(listener),
            Some(config) => {
                let (ready, rx) = mpsc::channel(READY_QUEUE);
                tokio::spawn(handshake_all(listener, TlsAcceptor::from(config), ready));
                Inner::Tls(rx)
            }
        };
        Ok(Self { local, inner })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// Where it serves: `https://<address>`, or `http://` when plaintext.
    pub fn url(&self) -> String {
        let scheme = if self.is_tls() { "https" } else { "http" };
        format!("{scheme}://{}", self.local)
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.inner, Inner::Tls(_))
    }
}

/// Accepts TCP and handshakes each connection on its own task; refusals
/// (plaintext, an unknown client certificate, silence) are logged and dropped.
async fn handshake_all(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(Conn, SocketAddr)>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES_AT_ONCE));
    loop {
        // The server gone (its listener dropped): stop accepting, free the port.
        let slot = tokio::select! {
            _ = ready.closed() => return,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = ready.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors and the like: wait rather than spin.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = ready.send((Conn::Tls(Box::new(tls)), peer)).await;
                }
                Ok(Err(e)) => tracing::info!(%peer, reason = %e, "TLS handshake refused"),
                Err(_) => tracing::info!(%peer, "TLS handshake not finished in time; closed"),
            }
        });
    }
}

impl axum::serve::Listener for ServiceListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match &mut self.inner {
            Inner::Plain(listener) => {
                let (stream, peer) = axum::serve::Listener::accept(listener).await;
                (Conn::Plain(stream), peer)
            }
            Inner::Tls(rx) => match rx.recv().await {
                Some(conn) => conn,
                // The accepting task ended only if the runtime is going away.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}
