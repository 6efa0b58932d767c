#![allow(dead_code)]
//! A TCP proxy for tests and benchmarks: adds a fixed delay to every chunk in each direction (what
//! netem would do; it is not available here) and can cut every open connection on demand.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

pub struct LatencyProxy {
    pub address: SocketAddr,
    cut: watch::Sender<u64>,
    generation: Arc<AtomicU64>,
}

impl LatencyProxy {
    /// Listens on 127.0.0.1 and forwards to `target`, delaying each direction by `delay`.
    pub async fn start(target: SocketAddr, delay: Duration) -> LatencyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let (cut, cut_rx) = watch::channel(0u64);
        let generation = Arc::new(AtomicU64::new(0));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let cut_rx = cut_rx.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        relay(client, server, delay, cut_rx).await;
                    }
                });
            }
        });
        LatencyProxy { address, cut, generation }
    }

    /// Closes every connection open now (new ones still work).
    pub fn cut_all(&self) {
        let next = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let _ = self.cut.send(next);
    }
}

async fn relay(client: TcpStream, server: TcpStream, delay: Duration, mut cut: watch::Receiver<u64>) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let upstream = pipe(client_read, server_write, delay);
    let downstream = pipe(server_read, client_write, delay);
    cut.borrow_and_update();
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
        _ = cut.changed() => {}
    }
}

/// Reads chunks as they come and delivers each `delay` later, preserving order, without
/// serialising the delays (a chunk read at t is written at t + delay).
async fn pipe(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, delay: Duration) {
    let (sender, mut receiver) = mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((due, chunk)) = receiver.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if sender.send((tokio::time::Instant::now() + delay, buffer[..n].to_vec())).is_err() {
                        return;
                    }
                }
            }
        }
    };
    tokio::join!(reader, writer);
}
