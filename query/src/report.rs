//! The one path for what a query skipped or distrusted: each problem is printed once, on
//! stderr, escaped (it may quote recorded or received text), and makes the exit status 2
//! whatever was found, as ripgrep does after an I/O error. The answer itself is still
//! printed: a partial answer is worth having, as long as it says it is partial.

use std::{collections::HashSet, process::ExitCode, sync::Mutex};

use crate::output::escape;

#[derive(Default)]
pub struct Report {
    seen: Mutex<(Vec<String>, HashSet<String>)>,
}

impl Report {
    /// Names a problem once (repeats are dropped) and marks the answer incomplete.
    pub fn problem(&self, msg: impl Into<String>) {
        let msg = msg.into();
        let mut g = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if g.1.insert(msg.clone()) {
            eprintln!("ctrail: warning: {}", escape::text(&msg));
            g.0.push(msg);
        }
    }

    /// Every problem so far, in the order found.
    pub fn problems(&self) -> Vec<String> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    pub fn is_partial(&self) -> bool {
        !self.seen.lock().unwrap_or_else(|p| p.into_inner()).0.is_empty()
    }

    /// 2 when anything was skipped, else 0 when something matched and 1 when nothing did.
    pub fn exit_code(&self, found: bool) -> ExitCode {
        if self.is_partial() {
            ExitCode::from(2)
        } else if found {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        }
    }
}
