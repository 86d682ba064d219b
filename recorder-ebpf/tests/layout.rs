//! `events.h` against ctrail-wire: the generated assertions hold for the real header, and
//! a field out of step with its Rust twin makes the kernel side fail to compile, naming it.

use std::{path::PathBuf, process::Command};

fn compile(asserts: &str) -> (bool, String) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("ct_consts.h"), ctrail_wire::header::c_header()).unwrap();
    std::fs::write(tmp.path().join("ct_layout_asserts.h"), asserts).unwrap();
    let c = tmp.path().join("layout.c");
    std::fs::write(&c, "#include \"vmlinux.h\"\n#include \"events.h\"\n").unwrap();
    let include = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let o = Command::new(&clang)
        .args(["-target", "bpf", "-fsyntax-only", "-Wall", "-Werror"])
        .arg("-I")
        .arg(&include)
        .arg("-I")
        .arg(tmp.path())
        .arg(&c)
        .output()
        .unwrap_or_else(|e| panic!("running {clang} (the kernel side's compiler): {e}"));
    (o.status.success(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn events_h_has_every_size_and_offset_that_ctrail_wire_has() {
    let (ok, err) = compile(&ctrail_wire::header::c_layout_asserts());
    assert!(ok, "events.h disagrees with ctrail-wire:\n{err}");
}

#[test]
fn a_field_out_of_step_fails_to_compile_and_is_named() {
    let asserts = ctrail_wire::header::c_layout_asserts();
    let l = ctrail_wire::layouts();
    let exec = l.iter().find(|l| l.c_name == "ct_exec").unwrap();
    let (_, caps) = exec.fields.iter().find(|(f, _)| *f == "caps").unwrap();
    // What a Rust struct with one more u64 before `caps` would assert.
    let wrong = asserts.replace(
        &format!("__builtin_offsetof(struct ct_exec, caps) == {caps},"),
        &format!("__builtin_offsetof(struct ct_exec, caps) == {},", caps + 8),
    );
    assert!(wrong != asserts, "the assertion of ct_exec.caps was not found");
    let (ok, err) = compile(&wrong);
    assert!(!ok, "a wrong offset compiled");
    assert!(err.contains("ct_exec.caps"), "{err}");
}
