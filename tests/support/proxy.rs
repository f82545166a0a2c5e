//! A TCP proxy in front of a database, to take it away and give it back the
//! way networks and crashes do: connections refused, or a network that
//! accepts and then answers nothing.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards them.
    Pass,
    /// Closes every connection, open or new (the database crashed).
    Refuse,
    /// Holds every new connection without a byte either way, and drops the
    /// open ones silently (a network partition).
    Blackhole,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: CancellationToken,
}

struct State {
    mode: Mode,
    /// Cancelled to end every connection of the current mode.
    generation: CancellationToken,
}

impl Proxy {
    /// Listens on a free port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding the proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let state = Arc::new(Mutex::new(State {
            mode: Mode::Pass,
            generation: CancellationToken::new(),
        }));
        let stop = CancellationToken::new();
        let (shared, stopped) = (state.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stopped.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((inbound, _)) = accepted else { continue };
                let (mode, generation) = {
                    let state = shared.lock().expect("proxy state");
                    (state.mode, state.generation.clone())
                };
                tokio::spawn(connection(inbound, upstream, mode, generation, shared.clone()));
            }
        });
        Self { addr, state, stop }
    }

    /// The address to connect to instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches mode; every open connection ends.
    pub fn set(&self, mode: Mode) {
        let mut state = self.state.lock().expect("proxy state");
        state.generation.cancel();
        state.mode = mode;
        state.generation = CancellationToken::new();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.state.lock().expect("proxy state").generation.cancel();
    }
}

async fn connection(
    mut inbound: TcpStream,
    upstream: SocketAddr,
    mode: Mode,
    generation: CancellationToken,
    state: Arc<Mutex<State>>,
) {
    match mode {
        Mode::Refuse => drop(inbound),
        Mode::Blackhole => {
            generation.cancelled().await;
            silently_gone(inbound);
        }
        Mode::Pass => {
            let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                return;
            };
            tokio::select! {
                () = generation.cancelled() => {}
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
            }
            if state.lock().expect("proxy state").mode == Mode::Blackhole {
                silently_gone(inbound);
            }
        }
    }
}

/// Ends a connection without a FIN or RST reaching the peer, as a dead
/// network does: the socket is leaked (a test process's few).
fn silently_gone(inbound: TcpStream) {
    std::mem::forget(inbound);
}
