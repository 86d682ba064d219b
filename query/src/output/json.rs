//! The JSON Lines output format (docs/output-format.md, version 1): one object per line.
//! Adding a key is compatible; renaming, removing or retyping one bumps the version.

use std::io::{self, Write};

use serde::Serialize;

/// serde_json escapes `"`, `\\` and the C0 controls; this also escapes DEL, the C1 controls
/// and the bidirectional controls ([`super::escape::is_hostile`]) as `\\uXXXX`, so that JSON
/// shown on a terminal is as inert as a table. Still plain JSON: every parser reads the
/// same strings back.
struct InertFormatter;

impl serde_json::ser::Formatter for InertFormatter {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if super::escape::is_hostile(c) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// One JSON Lines record: `v` and a newline.
pub fn write_line(out: &mut impl Write, v: &impl Serialize) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, InertFormatter);
    v.serialize(&mut ser).map_err(io::Error::from)?;
    out.write_all(b"\n")
}
