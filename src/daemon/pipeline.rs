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
use crate::store::Writer;

/// The rules stage currently in force (replaced on reload).
pub type SharedAlerting = Arc<std::sync::Mutex<Option<Alerting>>>;

/// The running pipeline task.
pub struct Pipeline {
    tx: mpsc::Sender<Sweep>,
    task: JoinHandle<()>,
}

impl Pipeline {
    /// Starts consuming `rx`. `tx` is the sending side the poller uses (kept so that a
    /// restarted poller, after a reload, sends into the same pipeline).
    pub fn start(
        rx: mpsc::Receiver<Sweep>,
        tx: mpsc::Sender<Sweep>,
        live: LiveView,
        writer: Arc<Writer>,
        alerting: SharedAlerting,
    ) -> Pipeline {
        let task = tokio::spawn(run(rx, live, writer, alerting));
        Pipeline { tx, task }
    }

    /// A sender into the pipeline.
    pub fn sender(&self) -> mpsc::Sender<Sweep> {
        self.tx.clone()
    }

    /// Lets the pipeline drain what the poller already sent, then ends it.
    pub async fn stop(self) {
        drop(self.tx);
        // The poller's senders are gone once it is shut down; give the queue a moment.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
    }
}

async fn run(
    mut rx: mpsc::Receiver<Sweep>,
    live: LiveView,
    writer: Arc<Writer>,
    alerting: SharedAlerting,
) {
    while let Some(sweep) = rx.recv().await {
        live.apply(&sweep);
        if let Some(a) = alerting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            a.submit(Arc::new(sweep.clone()));
        }
        debug!(switch = %sweep.switch, status = ?sweep.status, ports = sweep.ports.len(), "sweep");
        if let Err(e) = writer.submit(sweep) {
            error!("store: {e}");
        }
    }
}
