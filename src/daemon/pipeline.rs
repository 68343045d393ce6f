//! The sweep pipeline: one task that takes each [`Sweep`] from the poller and hands it, in
//! order, to the live view (`/metrics`), the port rules, and the store writer. Nothing here
//! waits on the disk: the writer's `submit` never blocks.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error};

use super::alerting::Alerting;
use crate::http::LiveView;
use crate::poll::Sweep;
use crate::store::StoreWriter;

/// The running pipeline task.
pub struct Pipeline {
    task: JoinHandle<()>,
}

impl Pipeline {
    /// Starts consuming `rx` until every sender (the poller's) is gone.
    pub fn start(
        rx: mpsc::Receiver<Sweep>,
        live: LiveView,
        writer: Arc<dyn StoreWriter>,
        alerting: Arc<Alerting>,
    ) -> Pipeline {
        let task = tokio::spawn(run(rx, live, writer, alerting));
        Pipeline { task }
    }

    /// Lets the pipeline drain what the poller already sent (its senders must be dropped),
    /// then ends it.
    pub async fn stop(self) {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
    }
}

async fn run(
    mut rx: mpsc::Receiver<Sweep>,
    live: LiveView,
    writer: Arc<dyn StoreWriter>,
    alerting: Arc<Alerting>,
) {
    while let Some(sweep) = rx.recv().await {
        live.apply(&sweep);
        debug!(switch = %sweep.switch, status = ?sweep.status, ports = sweep.ports.len(), "sweep");
        // One sweep for both stages, not a copy each.
        let sweep = Arc::new(sweep);
        alerting.submit(Arc::clone(&sweep));
        if let Err(e) = writer.submit_shared(sweep) {
            error!("store: {e}");
        }
    }
}
