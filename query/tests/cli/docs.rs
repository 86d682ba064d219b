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

#[test]
fn the_fleet_doc_lists_every_parquet_column_in_order() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/fleet.md")).unwrap();
    let section = doc.split("## Schema (version ").nth(1).expect("the schema section");
    let version: u32 = section.split(')').next().unwrap().parse().unwrap();
    assert_eq!(version, ctrail_columnar::SCHEMA_VERSION, "docs/fleet.md's schema version");
    // Each table's section lists its columns, in order, in the rows' first cells.
    for (table, schema) in [
        ("events", ctrail_columnar::events_schema()),
        ("containers", ctrail_columnar::containers_schema()),
        ("gaps", ctrail_columnar::gaps_schema()),
    ] {
        let part = section.split(&format!("### `{table}`")).nth(1).unwrap_or_else(|| panic!("no {table} section"));
        let listed: Vec<&str> = part
            .lines()
            .take_while(|l| !l.starts_with("## ") && !l.starts_with("### "))
            .filter(|l| l.starts_with("| `"))
            .flat_map(|l| l.split('|').nth(1).unwrap().split('`').skip(1).step_by(2))
            .collect();
        let want: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(listed, want, "docs/fleet.md's {table} table");
    }
}
