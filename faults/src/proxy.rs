//! A fault-injecting TCP proxy on loopback: accepts, connects upstream, copies both ways,
//! and injects what its current [`Faults`] say — resets (RST, via `SO_LINGER` 0), stalls
//! (a connection stops forwarding without closing: half-open), latency per chunk — or,
//! during an [`outage`](FaultProxy::outage), closes its listening socket so that
//! connections are refused, after resetting every open one. [`FaultProxy::run_schedule`]
//! plays a random schedule of these and counts what it injected.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{broadcast, watch};

/// What the proxy injects right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Faults {
    /// Chance, per mille and per chunk forwarded, that the connection is reset.
    pub reset_per_mille: u32,
    /// Chance, per mille and per chunk forwarded, that the connection stalls half-open.
    pub stall_per_mille: u32,
    /// Delay added before forwarding each chunk.
    pub latency: Duration,
}

/// What the proxy did.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Connections reset (injected or by an outage).
    pub resets: AtomicU64,
    /// Connections stalled half-open.
    pub stalls: AtomicU64,
    /// Chunks delayed.
    pub delayed: AtomicU64,
    /// Outages.
    pub outages: AtomicU64,
}

/// How long a stalled connection is held before it is reset: longer than any timeout
/// the tests configure, so that only the client's own timeout can end the call.
const STALL_HOLD: Duration = Duration::from_secs(60);

struct State {
    upstream: SocketAddr,
    faults: Mutex<Faults>,
    /// `true` while the broker is "down".
    down: watch::Sender<bool>,
    /// Resets every open connection.
    reset_all: broadcast::Sender<()>,
    counters: Counters,
}

/// A running proxy; stops accepting when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        let _ = self.state.reset_all.send(());
    }
}

fn chance(per_mille: u32) -> bool {
    per_mille > 0 && fastrand::u32(0..1000) < per_mille
}

fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

impl FaultProxy {
    /// A proxy in front of `upstream` (an `http://host:port` URL), on a free loopback port.
    pub async fn start(upstream: &str) -> FaultProxy {
        let host = upstream.trim_start_matches("http://").trim_end_matches('/');
        let upstream = tokio::net::lookup_host(host)
            .await
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| panic!("cannot resolve the upstream {host}"));
        let listener = listen("127.0.0.1:0".parse().expect("addr")).expect("bind the proxy");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State {
            upstream,
            faults: Mutex::new(Faults::default()),
            down: watch::channel(false).0,
            reset_all: broadcast::channel(16).0,
            counters: Counters::default(),
        });
        let accept = tokio::spawn(accept_loop(listener, addr, state.clone()));
        FaultProxy {
            addr,
            state,
            accept,
        }
    }

    /// The URL to give courier.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Injects `faults` from now on.
    pub fn set(&self, faults: Faults) {
        *self.state.faults.lock() = faults;
    }

    /// Resets every open connection now.
    pub fn reset_all(&self) {
        let _ = self.state.reset_all.send(());
    }

    /// A broker outage for `length`: every open connection is reset and new ones are
    /// refused until it ends.
    pub async fn outage(&self, length: Duration) {
        self.state.counters.outages.fetch_add(1, Ordering::Relaxed);
        self.state.down.send_replace(true);
        self.reset_all();
        tokio::time::sleep(length).await;
        self.state.down.send_replace(false);
    }

    /// What it injected so far.
    pub fn counters(&self) -> &Counters {
        &self.state.counters
    }

    /// Plays a random schedule (seeded by `seed`) for about `length`: quiet spells between
    /// spells of resets, stalls, latency and outages, each kind at least once when
    /// `length` allows. Ends with no faults.
    pub async fn run_schedule(&self, length: Duration, seed: u64) {
        let mut rng = fastrand::Rng::with_seed(seed);
        let started = tokio::time::Instant::now();
        let mut kinds = Vec::new();
        while started.elapsed() < length {
            if kinds.is_empty() {
                kinds = vec![0, 1, 2, 3];
                rng.shuffle(&mut kinds);
            }
            tokio::time::sleep(Duration::from_millis(rng.u64(1500..3000))).await;
            let spell = Duration::from_millis(rng.u64(2000..4000));
            match kinds.pop().expect("refilled") {
                0 => {
                    self.reset_all();
                    self.set(Faults {
                        reset_per_mille: 150,
                        ..Faults::default()
                    });
                }
                1 => self.set(Faults {
                    stall_per_mille: 60,
                    ..Faults::default()
                }),
                2 => self.set(Faults {
                    latency: Duration::from_millis(rng.u64(200..800)),
                    ..Faults::default()
                }),
                _ => {
                    self.outage(spell).await;
                    continue;
                }
            }
            tokio::time::sleep(spell).await;
            self.set(Faults::default());
        }
        self.set(Faults::default());
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, addr: SocketAddr, state: Arc<State>) {
    let mut down = state.down.subscribe();
    let mut listener = listener;
    loop {
        let went_down = tokio::select! {
            accepted = listener.accept() => {
                if let Ok((client, _)) = accepted {
                    state.counters.connections.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(connection(client, state.clone()));
                }
                false
            }
            d = down.wait_for(|d| *d) => d.is_ok(),
        };
        if went_down {
            // Down: no one listens, so connecting is refused.
            drop(listener);
            let _ = down.wait_for(|d| !*d).await;
            listener = loop {
                match listen(addr) {
                    Ok(l) => break l,
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            };
        }
    }
}

enum End {
    Closed,
    Reset,
    Stall,
}

async fn connection(mut client: TcpStream, state: Arc<State>) {
    let mut reset_all = state.reset_all.subscribe();
    let Ok(mut server) = TcpStream::connect(state.upstream).await else {
        reset(&client, &state);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut up, mut down) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let end = loop {
        let (n, towards_server) = tokio::select! {
            r = client.read(&mut up) => match r { Ok(n) if n > 0 => (n, true), _ => break End::Closed },
            r = server.read(&mut down) => match r { Ok(n) if n > 0 => (n, false), _ => break End::Closed },
            _ = reset_all.recv() => break End::Reset,
        };
        let faults = *state.faults.lock();
        if chance(faults.reset_per_mille) {
            break End::Reset;
        }
        if chance(faults.stall_per_mille) {
            break End::Stall;
        }
        if !faults.latency.is_zero() {
            state.counters.delayed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(faults.latency).await;
        }
        let written = if towards_server {
            server.write_all(&up[..n]).await
        } else {
            client.write_all(&down[..n]).await
        };
        if written.is_err() {
            break End::Closed;
        }
    };
    match end {
        End::Closed => {}
        End::Reset => {
            reset(&client, &state);
            let _ = server.set_zero_linger();
        }
        End::Stall => {
            state.counters.stalls.fetch_add(1, Ordering::Relaxed);
            // Half-open: both ends stay open, nothing passes.
            tokio::select! {
                _ = tokio::time::sleep(STALL_HOLD) => {}
                _ = reset_all.recv() => {}
            }
            reset(&client, &state);
            let _ = server.set_zero_linger();
        }
    }
}

/// Makes dropping `client` send an RST.
fn reset(client: &TcpStream, state: &State) {
    state.counters.resets.fetch_add(1, Ordering::Relaxed);
    let _ = client.set_zero_linger();
}
