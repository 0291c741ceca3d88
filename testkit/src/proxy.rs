//! A TCP proxy on loopback between Catalog's services and one of their dependencies, through
//! which a test injects faults: latency, connections cut mid-flight, connections refused. The
//! services are given the proxy's address instead of the dependency's.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Bytes read at once from either side.
const CHUNK: usize = 16 * 1024;
/// Chunks in flight per direction while latency holds them back.
const IN_FLIGHT: usize = 64;

/// A running proxy. Dropping it closes its listener and every connection through it.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Bumped by every cut; a connection ends when it differs from the value it was accepted
    /// under, and when the sender is dropped with the proxy.
    cuts: watch::Sender<u64>,
    /// Where new connections go; see [`FaultProxy::set_upstream`].
    upstream: watch::Sender<SocketAddr>,
    listener: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    latency_micros: AtomicU64,
    refusing: AtomicBool,
    open: AtomicUsize,
    cut: AtomicUsize,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` on a port of its own, which it keeps until dropped.
    pub async fn start(upstream: SocketAddr) -> Self {
        // The proxy holds its listener for its whole life, so any free port the kernel picks
        // stays the proxy's.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("the proxy binds a loopback port");
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared::default());
        let (cuts, cut_rx) = watch::channel(0);
        let (upstream, upstream_rx) = watch::channel(upstream);
        let listener = tokio::spawn(accept(listener, upstream_rx, shared.clone(), cut_rx));
        Self {
            addr,
            shared,
            cuts,
            upstream,
            listener,
        }
    }

    /// The loopback address to give the services instead of the upstream's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port of [`FaultProxy::addr`].
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Delays every chunk by `one_way` in each direction, from now on, in order: a round trip
    /// takes at least twice as long.
    pub fn set_latency(&self, one_way: Duration) {
        let micros = u64::try_from(one_way.as_micros()).unwrap_or(u64::MAX);
        self.shared.latency_micros.store(micros, Ordering::Relaxed);
    }

    /// Closes both sides of every connection the proxy has accepted so far; later ones are
    /// proxied as usual.
    pub fn cut(&self) {
        self.cuts.send_modify(|generation| *generation += 1);
    }

    /// Sends new connections to `upstream` from now on and cuts every open one, as moving a
    /// virtual address to another server does: what stands in for the address of the primary
    /// when a standby is promoted.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.upstream.send_replace(upstream);
        self.cut();
    }

    /// While `refusing`, new connections are closed as soon as they are accepted; open ones
    /// are left alone.
    pub fn set_refusing(&self, refusing: bool) {
        self.shared.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Connections open through the proxy now.
    pub fn connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Connections closed by [`FaultProxy::cut`] so far.
    pub fn connections_cut(&self) -> usize {
        self.shared.cut.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // The connections end with the `cuts` sender.
        self.listener.abort();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: watch::Receiver<SocketAddr>,
    shared: Arc<Shared>,
    cuts: watch::Receiver<u64>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of descriptors, say: the test sees refused connections until it passes.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if shared.refusing.load(Ordering::SeqCst) {
            continue;
        }
        // The generation is taken here, not in the task, so a cut right after the accept ends
        // this connection too.
        let generation = *cuts.borrow();
        let upstream = *upstream.borrow();
        tokio::spawn(serve(
            client,
            upstream,
            shared.clone(),
            cuts.clone(),
            generation,
        ));
    }
}

/// One connection, from its accept until either side closes it or the proxy cuts it.
async fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    mut cuts: watch::Receiver<u64>,
    generation: u64,
) {
    let _open = Open::count(&shared);
    let relay = async {
        let server = TcpStream::connect(upstream).await?;
        // The latency is the test's to choose: Nagle's algorithm must not add its own.
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        // Either side failing ends both; either side closing is passed on, and the connection
        // lasts until both have.
        tokio::try_join!(
            pump(client_read, server_write, &shared),
            pump(server_read, client_write, &shared),
        )
    };
    tokio::select! {
        _ = relay => {}
        cut = cuts.wait_for(|current| *current != generation) => {
            // Err: the proxy was dropped, which is no cut.
            if cut.is_ok() {
                shared.cut.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// Copies one direction. Each chunk is due `latency` after it was read: a reader stamps the
/// chunks and a writer holds each one until it is due, so chunks keep their order and a burst
/// is not delayed once per chunk.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, shared: &Shared) -> io::Result<()> {
    let (chunks, mut due) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let read = async move {
        let mut buffer = vec![0; CHUNK];
        loop {
            let n = from.read(&mut buffer).await?;
            if n == 0 {
                return Ok::<_, io::Error>(());
            }
            let latency = Duration::from_micros(shared.latency_micros.load(Ordering::Relaxed));
            if chunks
                .send((Instant::now() + latency, buffer[..n].to_vec()))
                .await
                .is_err()
            {
                return Ok(());
            }
        }
    };
    let write = async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            to.write_all(&chunk).await?;
        }
        // The reader saw the end: pass it on once everything before it is written.
        to.shutdown().await
    };
    tokio::try_join!(read, write).map(|_| ())
}

/// Counts a connection as open for as long as it lives.
struct Open<'a>(&'a Shared);

impl<'a> Open<'a> {
    fn count(shared: &'a Shared) -> Self {
        shared.open.fetch_add(1, Ordering::SeqCst);
        Self(shared)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback; it lives as long as the test's runtime.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut read, mut write) = socket.split();
                    let _ = tokio::io::copy(&mut read, &mut write).await;
                });
            }
        });
        addr
    }

    /// Sends `message` and reads its echo; an error or early end is the connection's failure.
    async fn round_trip(stream: &mut TcpStream, message: &[u8]) -> io::Result<Vec<u8>> {
        stream.write_all(message).await?;
        let mut echo = vec![0; message.len()];
        stream.read_exact(&mut echo).await?;
        Ok(echo)
    }

    /// Waits until `check` holds, for at most a few seconds.
    async fn until(check: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !check() {
            assert!(Instant::now() < deadline, "the proxy did not get there");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Whether the proxy closes `stream`: an end or an error, never more data.
    async fn closed(stream: &mut TcpStream) -> bool {
        let mut byte = [0; 1];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await;
        matches!(read, Ok(Ok(0) | Err(_)))
    }

    #[tokio::test]
    async fn delays_cuts_and_refuses_connections() {
        let proxy = FaultProxy::start(echo_server().await).await;
        assert_eq!(proxy.addr().ip(), Ipv4Addr::LOCALHOST);
        let port = proxy.port();

        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        stream.set_nodelay(true).unwrap();
        assert_eq!(round_trip(&mut stream, b"plain").await.unwrap(), b"plain");
        assert_eq!(proxy.connections(), 1);

        let one_way = Duration::from_millis(60);
        proxy.set_latency(one_way);
        let sent = Instant::now();
        assert_eq!(round_trip(&mut stream, b"slow").await.unwrap(), b"slow");
        let took = sent.elapsed();
        assert!(took >= 2 * one_way, "a delayed round trip took {took:?}");
        proxy.set_latency(Duration::ZERO);

        proxy.cut();
        assert!(closed(&mut stream).await, "the cut connection stays open");
        until(|| proxy.connections() == 0).await;
        assert_eq!(proxy.connections_cut(), 1);

        proxy.set_refusing(true);
        let mut refused = TcpStream::connect(proxy.addr()).await.unwrap();
        assert!(
            closed(&mut refused).await,
            "a refused connection stays open"
        );
        assert_eq!(proxy.connections(), 0);

        proxy.set_refusing(false);
        let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut again, b"again").await.unwrap(), b"again");
        assert_eq!(proxy.connections(), 1);
        assert_eq!(proxy.port(), port);

        drop(proxy);
        assert!(closed(&mut again).await, "a connection outlives its proxy");
    }

    #[tokio::test]
    async fn moves_to_a_new_upstream_and_cuts_the_old_connections() {
        let proxy = FaultProxy::start(echo_server().await).await;
        let mut old = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut old, b"old").await.unwrap(), b"old");

        // A server that answers differently, to tell which one a connection reached.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let moved_to = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket.write_all(b"new").await;
            }
        });
        proxy.set_upstream(moved_to);
        assert!(
            closed(&mut old).await,
            "a connection to the old upstream stays open"
        );
        assert_eq!(proxy.connections_cut(), 1);

        let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut greeting = [0; 3];
        new.read_exact(&mut greeting).await.unwrap();
        assert_eq!(&greeting, b"new");
    }
}
