//! The one place where recorded text is made safe to show. Whoever ran a process chose its
//! argv, its exe name and (inside a container) its cgroup names, and an analyst reads them
//! in a terminal or a spreadsheet: a byte that a terminal obeys, or a cell that a
//! spreadsheet evaluates, must never reach either as it was recorded.
//!
//! Every writer (tables, text lines, CSV, messages) passes its cells through [`bytes`] or
//! [`csv_cell`]; JSON goes through [`super::json`], whose formatter applies the same rule
//! to the characters JSON itself leaves alone. The rules are documented in
//! docs/output-format.md ("Escaping").

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is: C0 controls (newline and tab included),
/// DEL, the C1 controls (U+0080-U+009F: some terminals obey them in UTF-8 too) and the
/// Unicode controls that reorder text on screen (bidirectional overrides and isolates).
pub fn is_hostile(c: char) -> bool {
    matches!(c, '\0'..='\x1f' | '\x7f' | '\u{80}'..='\u{9f}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{61c}')
}

fn push_char_escaped(c: char, out: &mut String) {
    use std::fmt::Write as _;
    match c {
        '\\' => out.push_str("\\\\"),
        '\x1b' => out.push_str("\\e"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `b` as text a terminal shows literally: hostile characters and bytes that are not UTF-8
/// become visible escapes (`\e`, `\n`, `\t`, `\r`, `\xNN`, `\u{NNNN}`), and a backslash
/// becomes `\\`, so the escaped text reads back to exactly `b`. Borrowed when nothing
/// needed escaping.
pub fn bytes(b: &[u8]) -> Cow<'_, str> {
    // Nearly every cell is printable ASCII: one byte test per byte (which the compiler
    // vectorises) instead of decoding characters. Exports write millions of cells.
    if b.iter().all(|&c| (0x20..0x7f).contains(&c) && c != b'\\') {
        return Cow::Borrowed(std::str::from_utf8(b).unwrap_or_default());
    }
    if let Ok(s) = std::str::from_utf8(b)
        && !s.chars().any(|c| c == '\\' || is_hostile(c))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(b.len() + 8);
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' || is_hostile(c) {
                push_char_escaped(c, &mut out);
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            use std::fmt::Write as _;
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    Cow::Owned(out)
}

/// [`bytes`] for text that is already a string.
pub fn text(s: &str) -> Cow<'_, str> {
    bytes(s.as_bytes())
}

/// One CSV cell: [`bytes`], then, unless `raw`, a leading `'` when the cell begins with a
/// character a spreadsheet reads as the start of a formula (`=`, `+`, `-`, `@`; a leading
/// tab or carriage return is already escaped), as OWASP recommends against CSV injection.
pub fn csv_cell(b: &[u8], raw: bool) -> Cow<'_, str> {
    let escaped = bytes(b);
    if raw || !escaped.starts_with(['=', '+', '-', '@']) {
        return escaped;
    }
    Cow::Owned(format!("'{escaped}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_become_visible_and_plain_text_is_borrowed() {
        assert!(matches!(bytes(b"/usr/bin/id -u"), Cow::Borrowed(_)));
        assert_eq!(bytes(b"\x1b[2J\x1b]0;pwned\x07"), "\\e[2J\\e]0;pwned\\x07");
        assert_eq!(bytes(b"a\nb\tc\rd\x7f"), "a\\nb\\tc\\rd\\x7f");
        assert_eq!(bytes("x\u{9b}31m\u{202e}y".as_bytes()), "x\\u{9b}31m\\u{202e}y");
        assert_eq!(bytes(b"ok\xffthen\\"), "ok\\xffthen\\\\");
        assert_eq!(text("caf\u{e9} \u{1f600}"), "caf\u{e9} \u{1f600}", "printable Unicode stays");
    }

    #[test]
    fn every_byte_string_escapes_to_printable_text() {
        for b in 0..=255u8 {
            let input = [b, b'x', b];
            let e = bytes(&input);
            assert!(!e.chars().any(is_hostile), "{b:#x}: {e:?}");
        }
    }

    #[test]
    fn formula_cells_are_neutralised_unless_raw() {
        for f in ["=1+2", "+x", "-2+3", "@SUM(1)"] {
            assert_eq!(csv_cell(f.as_bytes(), false), format!("'{f}"));
            assert_eq!(csv_cell(f.as_bytes(), true), f);
        }
        assert_eq!(csv_cell(b"\t=1", false), "\\t=1");
        assert_eq!(csv_cell(b"a=1", false), "a=1");
    }
}
