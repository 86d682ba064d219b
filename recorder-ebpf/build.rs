//! Compiles `src/recorder.bpf.c` with clang into a CO-RE BPF object in OUT_DIR.
//!
//! Only clang is needed: `vmlinux.h` and the libbpf headers are vendored under
//! `include/`. `CLANG` overrides the compiler (for example `CLANG=clang-16`). The shared
//! constants and the struct layout assertions are generated first, from the ctrail-wire
//! crate, into `OUT_DIR/include` (`ct_consts.h`, `ct_layout_asserts.h`).

use std::{env, path::PathBuf, process::Command};

fn main() {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("recorder.bpf.o");
    let src = dir.join("src/recorder.bpf.c");
    let include = dir.join("include");
    for p in ["src/recorder.bpf.c", "src/bpf", "include/events.h", "include/vmlinux.h", "include/bpf"] {
        println!("cargo:rerun-if-changed={}", dir.join(p).display());
    }
    let generated = out.with_file_name("include");
    std::fs::create_dir_all(&generated).expect("create OUT_DIR/include");
    std::fs::write(generated.join("ct_consts.h"), ctrail_wire::header::c_header()).expect("write ct_consts.h");
    std::fs::write(generated.join("ct_layout_asserts.h"), ctrail_wire::header::c_layout_asserts())
        .expect("write ct_layout_asserts.h");
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let arch = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok(other) => panic!("ctrail's BPF programs are not ported to {other}"),
        Err(_) => "x86",
    };
    let status = Command::new(&clang)
        .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror", "-Wno-unused-function"])
        .arg(format!("-D__TARGET_ARCH_{arch}"))
        .arg("-I")
        .arg(&include)
        .arg("-I")
        .arg(&generated)
        .arg("-I")
        .arg(dir.join("src"))
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{clang} failed to compile {} ({s})", src.display()),
        Err(e) => panic!(
            "cannot run `{clang}` ({e}): the kernel programs need clang; \
             install it (Debian: apt-get install clang) or set CLANG"
        ),
    }
}
