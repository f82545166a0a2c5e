//! One shutdown path: SIGTERM or SIGINT cancels a token every server watches;
//! and the periodic work that runs until it ([`every`]).

use std::{future::Future, time::Duration};

use tokio_util::sync::CancellationToken;

/// Runs `tick` every `interval`, the first time one interval from now,
/// until `shutdown` (a tick under way is finished first). The jobs and
/// housekeeping of every service and the gateway run on it.
pub async fn every<F, Fut>(interval: Duration, shutdown: &CancellationToken, mut tick: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        tick().await;
    }
}

/// A token cancelled on the first SIGTERM or SIGINT (Ctrl-C).
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received; draining");
        trigger.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(err) => {
            tracing::warn!(%err, "cannot listen for SIGTERM; Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    #[tokio::test]
    async fn every_ticks_after_each_interval_until_shutdown() {
        let shutdown = CancellationToken::new();
        let ticks = Arc::new(AtomicUsize::new(0));
        let counted = ticks.clone();
        let stop = shutdown.clone();
        let job = tokio::spawn(async move {
            every(Duration::from_millis(100), &stop, || {
                counted.fetch_add(1, Ordering::SeqCst);
                std::future::ready(())
            })
            .await;
        });
        tokio::task::yield_now().await;
        assert_eq!(ticks.load(Ordering::SeqCst), 0, "no tick before the first interval");
        tokio::time::timeout(Duration::from_secs(10), async {
            while ticks.load(Ordering::SeqCst) < 2 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("a tick every interval");
        shutdown.cancel();
        job.await.expect("the job ends on shutdown");
        let at_shutdown = ticks.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(ticks.load(Ordering::SeqCst), at_shutdown, "no tick after shutdown");
    }
}
