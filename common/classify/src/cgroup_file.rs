//! Parsing the `/proc/PID/cgroup` text format.
//!
//! Each line is `hierarchy-id:controller-list:path`. cgroup v2 is the line with
//! id 0 and an empty controller list; v1 lines name their controllers
//! (`cpu,cpuacct`) or a named hierarchy (`name=systemd`). The path may itself
//! contain ':' (it is the rest of the line), and it can be followed by
//! ` (deleted)` when the cgroup was removed while the process still sat in it.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupLine {
    pub hierarchy_id: u32,
    /// Controllers or `name=...` entries, empty for cgroup v2.
    pub controllers: Vec<String>,
    pub path: String,
}

impl CgroupLine {
    pub fn is_v2(&self) -> bool {
        self.hierarchy_id == 0 && self.controllers.is_empty()
    }

    /// A short name for messages: `v2`, `name=systemd`, `cpu,cpuacct`.
    pub fn hierarchy_name(&self) -> String {
        if self.is_v2() { "v2".to_string() } else { self.controllers.join(",") }
    }

    pub fn has_controller(&self, name: &str) -> bool {
        self.controllers.iter().any(|c| c == name)
    }
}

/// The cgroup membership of one process, as the kernel lists it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CgroupSet {
    pub lines: Vec<CgroupLine>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("line {line}: expected `ID:CONTROLLERS:PATH`, found {text:?}")]
    Shape { line: usize, text: String },
    #[error("line {line}: hierarchy id {text:?} is not a number")]
    HierarchyId { line: usize, text: String },
    #[error("line {line}: cgroup path {path:?} does not start with '/'")]
    Path { line: usize, path: String },
    #[error("no cgroup lines found")]
    Empty,
}

impl CgroupSet {
    /// Parses the text of a `/proc/PID/cgroup` file. Blank lines are ignored; anything
    /// else that is not a cgroup line is an error (it is not such a file).
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            // Pasted text carries surrounding whitespace; /proc never does.
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            let mut parts = raw.splitn(3, ':');
            let (Some(id), Some(ctl), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(ParseError::Shape { line: line_no, text: raw.to_string() });
            };
            let hierarchy_id = id
                .trim()
                .parse::<u32>()
                .map_err(|_| ParseError::HierarchyId { line: line_no, text: id.to_string() })?;
            let path = path.strip_suffix(" (deleted)").unwrap_or(path);
            if !path.starts_with('/') {
                return Err(ParseError::Path { line: line_no, path: path.to_string() });
            }
            let controllers = if ctl.is_empty() { Vec::new() } else { ctl.split(',').map(str::to_string).collect() };
            lines.push(CgroupLine { hierarchy_id, controllers, path: path.to_string() });
        }
        if lines.is_empty() {
            return Err(ParseError::Empty);
        }
        Ok(Self { lines })
    }

    pub fn v2(&self) -> Option<&CgroupLine> {
        self.lines.iter().find(|l| l.is_v2())
    }

    /// Lines in the order the classifier trusts them: v2 first (what runtimes manage
    /// on modern hosts), then `name=systemd` (what systemd-managed runtimes use on v1),
    /// then the controller hierarchies in a fixed order that runtimes always populate.
    pub fn by_preference(&self) -> Vec<&CgroupLine> {
        const ORDER: [&str; 8] = ["name=systemd", "pids", "cpu", "memory", "devices", "freezer", "blkio", "cpuset"];
        let rank = |l: &CgroupLine| -> usize {
            if l.is_v2() {
                return 0;
            }
            ORDER.iter().position(|c| l.has_controller(c)).map(|p| p + 1).unwrap_or(ORDER.len() + 1)
        };
        let mut v: Vec<&CgroupLine> = self.lines.iter().collect();
        v.sort_by_key(|l| rank(l));
        v
    }

    /// The path of this process in the hierarchy that `other` names (same id and controllers).
    pub fn path_in(&self, other: &CgroupLine) -> Option<&str> {
        self.lines
            .iter()
            .find(|l| l.hierarchy_id == other.hierarchy_id && l.controllers == other.controllers)
            .map(|l| l.path.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hybrid() {
        let s = CgroupSet::parse("9:name=systemd:/x\n4:memory:/process_api/ab\n2:cpu,cpuacct:/\n0::/x\n").unwrap();
        assert_eq!(s.lines.len(), 4);
        assert_eq!(s.v2().unwrap().path, "/x");
        let order: Vec<String> = s.by_preference().iter().map(|l| l.hierarchy_name()).collect();
        assert_eq!(order, ["v2", "name=systemd", "cpu,cpuacct", "memory"]);
    }

    #[test]
    fn path_may_contain_colons_and_deleted() {
        let s = CgroupSet::parse("0::/a:b/c (deleted)\n").unwrap();
        assert_eq!(s.lines[0].path, "/a:b/c");
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(CgroupSet::parse("hello"), Err(ParseError::Shape { line: 1, .. })));
        assert!(matches!(CgroupSet::parse("x::/"), Err(ParseError::HierarchyId { .. })));
        assert!(matches!(CgroupSet::parse("0::relative"), Err(ParseError::Path { .. })));
        assert_eq!(CgroupSet::parse("\n\n"), Err(ParseError::Empty));
    }
}
