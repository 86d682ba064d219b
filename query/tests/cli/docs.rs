//! The docs list what the table of kinds holds: every kind, in its order, and a row of keys
//! for every activity kind. A kind added to the table and not to the docs fails here.

use ctrail_model::{EventKind, kind::Class};

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/output-format.md")).unwrap()
}

#[test]
fn the_output_format_doc_lists_every_kind_of_the_table() {
    let doc = doc();
    let row = doc.lines().find(|l| l.starts_with("| `type` |")).expect("the `type` row");
    let listed: Vec<&str> = row.split('`').skip(3).step_by(2).take_while(|k| !k.contains(' ')).collect();
    let mut want: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    want.push("gap");
    assert_eq!(listed, want, "docs/output-format.md's `type` row");
    for k in EventKind::of(Class::Activity) {
        let row = format!("| `{k}` |");
        assert!(doc.contains(&row), "docs/output-format.md has no row of keys for {k}");
    }
}
