//! Where a file goes: `TABLE/dt=YYYY-MM-DD/host=HOST/<boot-id>-<seq>.parquet`. Names are a
//! function of the data (day, host, boot, segment), so exporting again or uploading again
//! writes the same names, and they sort in time order within a host.

use std::path::PathBuf;

/// One file of the tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileKey {
    /// UTC day of its events, `YYYY-MM-DD`.
    pub day: String,
    pub host: String,
    pub boot_id: String,
    /// The segment's first sequence number.
    pub seq: u64,
}

impl FileKey {
    /// The path under the tree's root, every recorded part escaped for a path.
    pub fn path(&self, table: &str) -> PathBuf {
        PathBuf::from(table)
            .join(format!("dt={}", self.day))
            .join(format!("host={}", partition_value(&self.host)))
            .join(format!("{}-{:010}.parquet", partition_value(&self.boot_id), self.seq))
    }
}

/// A recorded name (a hostname is whatever root set) as one path component: letters,
/// digits, `.`, `_` and `-` stay; every other byte is `%XX` (as Hive escapes partition
/// values), and so is a leading `.` (no `.`, `..` or hidden names).
pub fn partition_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() { "%00".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_stay_one_component() {
        for (name, want) in [
            ("web-1.prod", "web-1.prod"),
            ("../../etc", "%2E.%2F..%2Fetc"),
            ("..", "%2E."),
            ("a/b", "a%2Fb"),
            ("x\u{1b}[2J", "x%1B%5B2J"),
            ("", "%00"),
            ("host=a", "host%3Da"),
        ] {
            assert_eq!(partition_value(name), want, "{name:?}");
        }
        let k = FileKey { day: "2026-12-02".into(), host: "a/b".into(), boot_id: "b-1".into(), seq: 7 };
        assert_eq!(k.path("events"), PathBuf::from("events/dt=2026-12-02/host=a%2Fb/b-1-0000000007.parquet"));
    }
}
