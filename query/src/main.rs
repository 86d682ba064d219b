//! `ctrail`: classify processes and query the recorder's store.
//!
//! main -> run() -> Result<ExitCode>: 0 when something matched, 1 when nothing did,
//! 2 on an error (printed as one chain); a closed pipe ends quietly.

mod classify_cmd;
mod cli;
mod container_filter;
mod containers_cmd;
mod events_cmd;
mod export_cmd;
mod export_parquet;
mod follow_cmd;
mod output;
mod ps_cmd;
mod report;
mod rows;
mod segments_cmd;
mod show_cmd;
mod source;
mod time;
mod tree_cmd;
mod verify_cmd;

use std::{io, process::ExitCode};

use anyhow::Result;
use clap::{CommandFactory, Parser};

fn main() -> ExitCode {
    ctrail_store::quiet_guarded_panics();
    // A wide query or export decodes millions of events a segment at a time: by default
    // glibc hands the freed memory back and faults it in again for the next segment (a
    // fifth of a Parquet export went to page faults). Keep it instead (32 MiB is the
    // largest mmap threshold glibc accepts: it ignores larger ones).
    // SAFETY: mallopt before any thread starts only tunes glibc's allocator.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
    }
    match run() {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Messages quote what the user typed, what the store holds and what a peer on
            // the control socket said: escaped like every other output.
            eprintln!("ctrail: {}", output::escape::text(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>().is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<csv::Error>()
                .is_some_and(|e| matches!(e.kind(), csv::ErrorKind::Io(e) if e.kind() == io::ErrorKind::BrokenPipe))
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(io::ErrorKind::BrokenPipe))
    })
}

fn run() -> Result<ExitCode> {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let code = if e.use_stderr() { 2 } else { 0 };
            e.print()?;
            return Ok(ExitCode::from(code));
        }
    };
    if let Some(what) = cli.generate {
        generate(what)?;
        return Ok(ExitCode::SUCCESS);
    }
    time::show_utc(cli.utc);
    output::table::wide(cli.wide);
    match cli.command.map(|c| c.with_globals(&cli.data_dir)) {
        Some(cli::Command::Classify(a)) => classify_cmd::run(a),
        Some(cli::Command::Events(a)) => events_cmd::run(a),
        Some(cli::Command::Containers(a)) => containers_cmd::run(a),
        Some(cli::Command::Ps(a)) => ps_cmd::run(a),
        Some(cli::Command::Tree(a)) => tree_cmd::run(a),
        Some(cli::Command::Show(a)) => show_cmd::run(a),
        Some(cli::Command::Export(a)) => export_cmd::run(a),
        Some(cli::Command::Segments(a)) => segments_cmd::run(a),
        Some(cli::Command::Verify(a)) => verify_cmd::run(a),
        None => {
            cli::Cli::command().print_help()?;
            Ok(ExitCode::from(2))
        }
    }
}

fn generate(what: cli::Generate) -> Result<()> {
    let mut cmd = cli::Cli::command();
    let mut out = io::stdout().lock();
    match what {
        cli::Generate::Man => clap_mangen::Man::new(cmd).render(&mut out)?,
        cli::Generate::ManPages => clap_mangen::generate_to(cmd, ".")?,
        cli::Generate::Bash => clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "ctrail", &mut out),
        cli::Generate::Zsh => clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "ctrail", &mut out),
        cli::Generate::Fish => clap_complete::generate(clap_complete::Shell::Fish, &mut cmd, "ctrail", &mut out),
    }
    Ok(())
}
