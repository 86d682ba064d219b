//! Which container runtime a container belongs to.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    Docker,
    Containerd,
    #[serde(rename = "cri-o")]
    CriO,
    Podman,
    Lxc,
    LibvirtLxc,
    SystemdNspawn,
    Runc,
    Crun,
}

impl Runtime {
    pub const ALL: [Runtime; 9] = [
        Runtime::Docker,
        Runtime::Containerd,
        Runtime::CriO,
        Runtime::Podman,
        Runtime::Lxc,
        Runtime::LibvirtLxc,
        Runtime::SystemdNspawn,
        Runtime::Runc,
        Runtime::Crun,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::Podman => "podman",
            Runtime::Lxc => "lxc",
            Runtime::LibvirtLxc => "libvirt-lxc",
            Runtime::SystemdNspawn => "systemd-nspawn",
            Runtime::Runc => "runc",
            Runtime::Crun => "crun",
        }
    }

    pub fn parse(s: &str) -> Option<Runtime> {
        Runtime::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
