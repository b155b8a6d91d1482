//! SIGTERM and SIGINT: the first asks for a graceful stop (no new work; the running engine
//! call gets its grace period), the second exits at once. Either way the journal is
//! consistent between steps, and the next start resumes.

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Spawns the signal handler; `shutdown` is cancelled at the first signal.
pub fn install(shutdown: CancellationToken) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let first = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(
            signal = first,
            "stopping: no new work; a second signal exits at once"
        );
        shutdown.cancel();
        let code = tokio::select! {
            _ = term.recv() => 128 + 15,
            _ = int.recv() => 128 + 2,
        };
        tracing::warn!("second signal: exiting now");
        std::process::exit(code);
    });
    Ok(())
}
