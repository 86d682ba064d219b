//! `ctrail verify` and `ctrail segments` as a user (or a script relying on the exit status)
//! runs them, and what a changed segment does to every other command.

use std::fs;

use ctrail_store::{seg::reader::SegReader, segment};

use crate::helpers::*;

fn the_seg(data: &std::path::Path) -> segment::SegmentFile {
    let mut segs: Vec<_> =
        segment::list(data).unwrap().segments.into_iter().filter(|f| f.format == segment::FileFormat::Seg).collect();
    assert_eq!(segs.len(), 1, "{segs:?}");
    segs.remove(0)
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[test]
fn an_intact_store_verifies_and_lists_its_segments() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    sample_store(&data);
    let data = data.to_str().unwrap();
    let o = ctrail(&["verify", "--data-dir", data, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let v = json(&o);
    assert_eq!(v["intact"], true);
    assert_eq!(v["vouched"], 1);
    let o = ctrail(&["verify", "--data-dir", data, "--format", "table"]);
    assert!(stdout(&o).lines().last() == Some("intact"), "{}", stdout(&o));
    let o = ctrail(&["segments", "--data-dir", data, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let rows = json_lines(&o);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["format"], ctrail_store::FORMAT_VERSION, "the format this ctrail writes");
    assert_eq!(rows[0]["state"], "sealed");
    assert_eq!(rows[0]["chain"], "vouched");
    assert_eq!(rows[0]["check"], "ok");
    assert!(rows[0]["events"].as_u64().unwrap() > 0 && rows[0]["bytes"].as_u64().unwrap() > 0);
    let o = ctrail(&["segments", "--data-dir", data, "--format", "csv"]);
    assert!(stdout(&o).starts_with("segment,format,state,first,last,events,bytes,chain,check\n"), "{}", stdout(&o));

    // An exported case names the history it came from.
    let case = d.path().join("case");
    let o = ctrail(&["export", "--data-dir", data, "--out", case.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let m: serde_json::Value = serde_json::from_str(&fs::read_to_string(case.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["store"]["chain_head"], v["chain_head"]);
    assert_eq!(m["store"]["store_id"], v["store_id"]);
    let seg = &m["store"]["segments"][0];
    assert_eq!(seg["name"], rows[0]["segment"]);
    assert_eq!(seg["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn a_changed_byte_fails_verify_and_makes_every_answer_partial() {
    let d = tempfile::tempdir().unwrap();
    let data = d.path().join("data");
    sample_store(&data);
    let f = the_seg(&data);
    // A byte inside the first block of events.
    let block = SegReader::open(&f.path).unwrap().blocks().unwrap()[0].clone();
    let mut bytes = fs::read(&f.path).unwrap();
    bytes[block.offset as usize + 3] ^= 0x01;
    fs::write(&f.path, bytes).unwrap();
    let data = data.to_str().unwrap();

    let o = ctrail(&["verify", "--data-dir", data, "--format", "table"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let first = stdout(&o).lines().nth(1).unwrap_or_default().to_string();
    assert!(first.starts_with("NOT INTACT: segment ") && first.contains(&f.name()), "{}", stdout(&o));
    assert!(first.contains("changed since it was sealed"), "{first}");
    let o = ctrail(&["verify", "--data-dir", data, "--format", "json"]);
    assert_eq!(json(&o)["intact"], false);

    // Queries print what still verifies, name the block left out, and exit 2.
    let o = ctrail(&["events", "--data-dir", data, "--format", "json"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&f.name()) && stderr(&o).contains("block 0"), "{}", stderr(&o));
    let o = ctrail(&["segments", "--data-dir", data, "--format", "json"]);
    let rows = json_lines(&o);
    assert_eq!(rows[0]["chain"], "mismatch");
    assert!(rows[0]["check"].as_str().unwrap().contains("block 0"), "{:?}", rows[0]);
}

#[test]
fn verify_cannot_run_on_what_is_not_a_store() {
    let d = tempfile::tempdir().unwrap();
    let o = ctrail(&["verify", "--data-dir", d.path().join("nothing").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no ctrail store"), "{}", stderr(&o));
}

#[test]
fn a_store_from_before_format_2_reads_but_does_not_verify() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/stores/d6bcdcd/data");
    let o = ctrail(&["verify", "--data-dir", fixture, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(json(&o)["breaks"][0].as_str().unwrap().contains("has no chain"), "{}", stdout(&o));
    let o = ctrail(&["segments", "--data-dir", fixture, "--format", "json"]);
    let rows = json_lines(&o);
    assert_eq!((rows[0]["format"].as_u64(), rows[0]["state"].as_str()), (Some(1), Some("pending")), "{rows:?}");
}
