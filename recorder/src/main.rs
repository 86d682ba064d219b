//! `ctrail-recorder`: loads the kernel programs and records every process into the store.

mod activity_hooks;
mod attribution;
mod check;
mod cli;
mod config;
mod control;
mod decode;
mod exe_file;
mod host;
mod loader;
mod metadata;
mod metrics;
mod parquet_tree;
mod preflight;
mod run;
mod snapshot;
mod worker;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

fn main() -> ExitCode {
    ctrail_store::quiet_guarded_panics();
    let args = match config::merge(std::env::args_os().collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ctrail-recorder: {e:#}");
            return ExitCode::from(2);
        }
    };
    let cli = cli::Cli::parse_from(args);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log_level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ctrail-recorder: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: cli::Cli) -> Result<ExitCode> {
    if let Some(what) = cli.generate {
        return match generate(what) {
            // `| head` closed the pipe: not an error.
            Err(e)
                if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
            {
                Ok(ExitCode::SUCCESS)
            }
            r => r.map(|()| ExitCode::SUCCESS),
        };
    }
    match cli.command {
        Some(cli::Command::Check) => check::check(),
        Some(cli::Command::Health { data_dir }) => {
            use ctrail_store::control;
            match control::request(&data_dir, control::FLUSH, std::time::Duration::from_secs(10)) {
                Ok(control::Reached::Live) => Ok(ExitCode::SUCCESS),
                Ok(control::Reached::Offline) => {
                    eprintln!("ctrail-recorder: no recorder answers for {}", data_dir.display());
                    Ok(ExitCode::from(1))
                }
                // Debug: the peer's words, escaped.
                Err(e) => {
                    eprintln!("ctrail-recorder: {e:?}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Some(cli::Command::Run(args)) => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(run::run(*args))?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            <cli::Cli as clap::CommandFactory>::command().print_help()?;
            Ok(ExitCode::from(2))
        }
    }
}

/// The man page and completions, from the same definitions the parser uses.
fn generate(what: cli::Generate) -> Result<()> {
    use clap_complete::Shell;
    let mut cmd = <cli::Cli as clap::CommandFactory>::command();
    let mut out = std::io::stdout().lock();
    match what {
        cli::Generate::Man => clap_mangen::Man::new(cmd).render(&mut out)?,
        cli::Generate::ManPages => clap_mangen::generate_to(cmd, ".")?,
        cli::Generate::Bash => clap_complete::generate(Shell::Bash, &mut cmd, "ctrail-recorder", &mut out),
        cli::Generate::Zsh => clap_complete::generate(Shell::Zsh, &mut cmd, "ctrail-recorder", &mut out),
        cli::Generate::Fish => clap_complete::generate(Shell::Fish, &mut cmd, "ctrail-recorder", &mut out),
    }
    Ok(())
}
