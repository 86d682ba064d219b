//! The recorder's side of the control socket (`ctrail_store::control` has the protocol):
//! bounded requests, one task per client, each request handed to the main loop so that the
//! ring buffer is drained before the ingest thread commits.

use std::{os::unix::fs::PermissionsExt, path::Path, time::Duration};

use anyhow::{Context, Result};
use ctrail_store::control;
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    sync::{mpsc as tmpsc, oneshot},
};

/// Binds `DATA_DIR/control.sock` (0600). We hold the data dir's lock, so any socket file
/// already there is a stale one.
pub fn bind(dir: &Path) -> Result<UnixListener> {
    let sock_path = control::socket_path(dir);
    let _ = std::fs::remove_file(&sock_path);
    let listener = UnixListener::bind(&sock_path).with_context(|| format!("binding {}", sock_path.display()))?;
    std::fs::set_permissions(&sock_path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// A request from a client connection (flush or seal), handed to the main loop so that the
/// ring buffer is drained before the ingest thread commits.
pub struct ControlRequest {
    pub seal: bool,
    pub reply: oneshot::Sender<Result<(), String>>,
}

/// How long a client may take to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// One request line of at most `control::MAX_LINE` bytes within `REQUEST_TIMEOUT`: a client
/// that sends more, or nothing, is answered (or dropped) without anything being buffered.
async fn read_request(read: tokio::net::unix::OwnedReadHalf) -> Result<String, &'static str> {
    use tokio::io::AsyncReadExt;
    let mut line = Vec::new();
    let mut limited = read.take(control::MAX_LINE as u64);
    let got = tokio::time::timeout(REQUEST_TIMEOUT, BufReader::new(&mut limited).read_until(b'\n', &mut line)).await;
    match got {
        Err(_) => Err("timed out"),
        Ok(Err(_)) => Err("read failed"),
        Ok(Ok(_)) if line.last() != Some(&b'\n') => Err("request too long or cut off"),
        Ok(Ok(_)) => Ok(String::from_utf8_lossy(&line).trim().to_string()),
    }
}

pub async fn serve_client(stream: UnixStream, requests: tmpsc::Sender<ControlRequest>) {
    let (read, mut write) = stream.into_split();
    let reply = match read_request(read).await {
        Ok(r) if r == control::FLUSH || r == control::SEAL => {
            let (tx, rx) = oneshot::channel();
            if requests.send(ControlRequest { seal: r == control::SEAL, reply: tx }).await.is_err() {
                "error: the recorder is stopping".to_string()
            } else {
                match rx.await {
                    Ok(Ok(())) => "ok".to_string(),
                    // The reason is the recorder's own (a store error), one line.
                    Ok(Err(e)) => format!("error: {}", e.replace('\n', " ")),
                    Err(_) => "error: the recorder is stopping".to_string(),
                }
            }
        }
        // Never echoed back: the request is whatever the peer chose to send.
        Ok(_) => "error: unknown request (flush or seal)".to_string(),
        Err(why) => format!("error: {why}"),
    };
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, write.write_all(format!("{reply}\n").as_bytes())).await;
}
