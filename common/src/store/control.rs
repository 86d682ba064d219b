//! The recorder's control socket, `DATA_DIR/control.sock` (0600, in the 0700 data dir).
//!
//! Protocol: one request line, one reply line. `seal` asks the recorder to drain its ring
//! buffer, commit, and seal the active segment, so that a query started now sees every
//! event up to now; the reply is `ok` or `error: <why>`. redb refuses readers of a file
//! that a writer holds, so sealing on demand is how queries read a live store.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    time::Duration,
};

pub const SOCKET: &str = "control.sock";
pub const SEAL: &str = "seal";

pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Sealed {
    /// A recorder sealed its segment: the store is current.
    Live,
    /// No recorder answers: the store is as the last recorder left it.
    Offline,
}

/// Asks a running recorder to seal; `Offline` when none listens.
pub fn request_seal(dir: &Path, timeout: Duration) -> Result<Sealed, String> {
    let path = socket_path(dir);
    let Ok(mut s) = UnixStream::connect(&path) else { return Ok(Sealed::Offline) };
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    writeln!(s, "{SEAL}").map_err(|e| format!("writing to {}: {e}", path.display()))?;
    let mut line = String::new();
    BufReader::new(&s)
        .read_line(&mut line)
        .map_err(|e| format!("no answer from the recorder at {}: {e}", path.display()))?;
    match line.trim_end() {
        "ok" => Ok(Sealed::Live),
        other => Err(format!("the recorder could not seal its segment: {other}")),
    }
}
