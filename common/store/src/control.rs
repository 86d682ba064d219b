//! The recorder's control socket, `DATA_DIR/control.sock` (0600, in the 0700 data dir).
//!
//! Protocol: one request line, one reply line, each at most [`MAX_LINE`] bytes, each side
//! giving up after a timeout: the peer may be anything that can bind a socket there, and
//! neither side buffers or waits for more than that. Requests:
//!
//! - `flush`: drain the ring buffer and commit now, so that a query started after the reply
//!   sees every event up to the moment it asked. Readers read the active segment beside the
//!   recorder (redb's single-writer mode), so a query creates no segment.
//! - `seal`: flush, then seal the active segment if it holds anything new (a sealed file is
//!   what an offline copy or a shipper wants); nothing new, nothing sealed.
//!
//! The reply is `ok` or `error: <why>`.

use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

pub const SOCKET: &str = "control.sock";
pub const FLUSH: &str = "flush";
pub const SEAL: &str = "seal";
/// The longest request or reply line, newline included.
pub const MAX_LINE: usize = 256;

pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Reached {
    /// A recorder did what was asked: the store is current.
    Live,
    /// No recorder answers: the store is as the last recorder left it.
    Offline,
}

/// Reads one line of at most [`MAX_LINE`] bytes before `deadline`; the newline is not returned.
pub fn read_line(s: &mut UnixStream, deadline: Instant) -> Result<String, String> {
    let mut buf = Vec::with_capacity(64);
    let mut byte = [0u8; 64];
    loop {
        if buf.len() > MAX_LINE {
            return Err(format!("line longer than {MAX_LINE} bytes"));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timed out".into());
        }
        s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        let want = (MAX_LINE + 1 - buf.len()).min(byte.len());
        let n = match s.read(&mut byte[..want]) {
            Ok(0) => return Err("connection closed before a full line".into()),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err("timed out".into());
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        };
        buf.extend_from_slice(&byte[..n]);
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            buf.truncate(end);
            return Ok(String::from_utf8_lossy(&buf).into_owned());
        }
    }
}

/// Sends `request` ([`FLUSH`] or [`SEAL`]) to a running recorder; `Offline` when none listens.
/// The error text quotes what the peer said: callers escape it before printing.
pub fn request(dir: &Path, request: &str, timeout: Duration) -> Result<Reached, String> {
    let path = socket_path(dir);
    let Ok(mut s) = UnixStream::connect(&path) else { return Ok(Reached::Offline) };
    let deadline = Instant::now() + timeout;
    s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    // One write: a peer that answers after its first read must get the whole line.
    s.write_all(format!("{request}\n").as_bytes()).map_err(|e| format!("writing to {}: {e}", path.display()))?;
    let line =
        read_line(&mut s, deadline).map_err(|e| format!("no answer from the recorder at {}: {e}", path.display()))?;
    match line.trim_end() {
        "ok" => Ok(Reached::Live),
        other => Err(format!("the recorder refused {request:?}: {other}")),
    }
}
