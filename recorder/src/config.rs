//! `/etc/ctrail/recorder.toml` (or `--config FILE`): the flags of `ctrail-recorder run` as
//! keys (`data-dir = "/srv/ctrail"`, `retain = "7d"`, `allow-untrusted-data-dir = true`,
//! `runtime-root = ["docker=/srv/docker"]`; `_` may stand for `-`). They become arguments
//! placed before the command line's, for the flags the command line does not give, so
//! flags win and clap checks every value as it checks a flag. The file is root's alone, or
//! refused: whoever could edit it could point root's writes anywhere.

use std::{
    ffi::OsString,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use clap::{ArgAction, CommandFactory};

pub const DEFAULT_CONFIG: &str = "/etc/ctrail/recorder.toml";

/// `args` (the process's, program name first) with the config file's settings merged in
/// when the command is `run`.
pub fn merge(args: Vec<OsString>) -> Result<Vec<OsString>> {
    let Some(run_at) = args.iter().position(|a| a == "run") else { return Ok(args) };
    let given = &args[run_at + 1..];
    let explicit = given
        .iter()
        .position(|a| a == "--config")
        .and_then(|i| given.get(i + 1))
        .map(PathBuf::from)
        .or_else(|| given.iter().find_map(|a| a.to_str()?.strip_prefix("--config=").map(PathBuf::from)));
    let path = match explicit {
        Some(p) => p,
        None if Path::new(DEFAULT_CONFIG).exists() => PathBuf::from(DEFAULT_CONFIG),
        None => return Ok(args),
    };
    let from_file = read(&path)?;
    let mut out: Vec<OsString> = args[..=run_at].to_vec();
    out.extend(from_file.into_iter().filter(|(flag, _)| !gives(given, flag)).flat_map(|(_, a)| a));
    out.extend(given.iter().cloned());
    Ok(out)
}

/// Whether the command line sets `--flag` (as `--flag`, `--flag VALUE` or `--flag=VALUE`).
fn gives(given: &[OsString], flag: &str) -> bool {
    given.iter().filter_map(|a| a.to_str()).any(|a| a == flag || a.starts_with(&format!("{flag}=")))
}

/// The file's settings, each as its flag and the arguments it becomes, in the file's order.
fn read(path: &Path) -> Result<Vec<(String, Vec<OsString>)>> {
    check_owner(path)?;
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let table: toml::Table = text.parse().with_context(|| format!("{} is not valid TOML", path.display()))?;
    let cmd = crate::cli::Cli::command();
    let run = cmd.find_subcommand("run").expect("the run command");
    let mut out = Vec::new();
    for (key, value) in table {
        let name = key.replace('_', "-");
        let Some(arg) = run.get_arguments().find(|a| a.get_long() == Some(name.as_str()) && name != "config") else {
            bail!(
                "{}: unknown key {key:?} (the keys are the flags of `ctrail-recorder run`, e.g. data-dir)",
                path.display()
            );
        };
        let flag = format!("--{name}");
        let scalar = |v: &toml::Value| -> Result<String> {
            Ok(match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                other => bail!("{}: {key} = {other}: expected a string or a number", path.display()),
            })
        };
        let mut args: Vec<OsString> = Vec::new();
        match (arg.get_action(), &value) {
            (ArgAction::SetTrue, toml::Value::Boolean(true)) => args.push(flag.clone().into()),
            (ArgAction::SetTrue, toml::Value::Boolean(false)) => {}
            (ArgAction::SetTrue, other) => bail!("{}: {key} = {other}: expected true or false", path.display()),
            (_, toml::Value::Array(items)) => {
                for v in items {
                    args.push(flag.clone().into());
                    args.push(scalar(v)?.into());
                }
            }
            (_, v) => {
                args.push(flag.clone().into());
                args.push(scalar(v)?.into());
            }
        }
        out.push((flag, args));
    }
    Ok(out)
}

/// Only root (or whoever runs us) may own the file, and nobody else may write it or the
/// directories above it; a symlink is refused.
fn check_owner(path: &Path) -> Result<()> {
    let m = std::fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let me = ctrail_store::trust::euid();
    if !m.file_type().is_file() {
        bail!("{} is not a regular file (a symlink?): refused", path.display());
    }
    if (m.uid() != 0 && m.uid() != me) || m.mode() & 0o022 != 0 {
        bail!(
            "{} is owned by uid {} with mode {:04o}: only root may control the recorder's configuration",
            path.display(),
            m.uid(),
            m.mode() & 0o7777
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        ctrail_store::trust::check_dir(dir).with_context(|| format!("the directory of {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn args(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let p = d.path().join("recorder.toml");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        (d, p)
    }

    #[test]
    fn the_file_gives_what_the_command_line_does_not() {
        let (_d, p) = file(
            "data-dir = \"/srv/ctrail\"\nretain = \"7d\"\nallow_untrusted_data_dir = true\n\
             runtime-root = [\"docker=/srv/docker\", \"lxc=/srv/lxc\"]\nhost-name = \"from-file\"\nsegment-size = 1048576\n",
        );
        let got = merge(args(&["ctrail-recorder", "run", "--config", p.to_str().unwrap(), "--host-name", "flag"]))
            .unwrap_or_else(|e| panic!("{e:#}"));
        let got: Vec<&str> = got.iter().map(|a| a.to_str().unwrap()).collect();
        let want = [
            "ctrail-recorder",
            "run",
            "--allow-untrusted-data-dir",
            "--data-dir",
            "/srv/ctrail",
            "--retain",
            "7d",
            "--runtime-root",
            "docker=/srv/docker",
            "--runtime-root",
            "lxc=/srv/lxc",
            "--segment-size",
            "1048576",
            "--config",
            p.to_str().unwrap(),
            "--host-name",
            "flag",
        ];
        assert_eq!(got, want, "the flag wins over the file's host-name");
        // And clap takes the result as it takes flags.
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(&got).unwrap_or_else(|e| panic!("{e}"));
        let Some(crate::cli::Command::Run(run)) = cli.command else { panic!("not run") };
        assert_eq!((run.host_name.as_deref(), run.data_dir.to_str()), (Some("flag"), Some("/srv/ctrail")));
        assert!(run.allow_untrusted_data_dir);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        for (text, want) in [
            ("no-such-flag = 1\n", "unknown key \"no-such-flag\""),
            ("allow-untrusted-data-dir = \"yes\"\n", "expected true or false"),
            ("data-dir = [", "not valid TOML"),
            ("host-name = { a = 1 }\n", "expected a string or a number"),
        ] {
            let (_d, p) = file(text);
            let e = merge(args(&["ctrail-recorder", "run", "--config", p.to_str().unwrap()])).unwrap_err();
            assert!(format!("{e:#}").contains(want), "{text:?}: {e:#}");
        }
        let (_d, p) = file("host-name = \"x\"\n");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = merge(args(&["ctrail-recorder", "run", "--config", p.to_str().unwrap()])).unwrap_err();
        assert!(format!("{e:#}").contains("only root may control"), "{e:#}");
        // Not `run`: untouched.
        assert_eq!(merge(args(&["ctrail-recorder", "check"])).unwrap(), args(&["ctrail-recorder", "check"]));
    }
}
