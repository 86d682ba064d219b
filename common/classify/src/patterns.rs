//! Cgroup path shapes of container runtimes and of their host-side look-alikes.
//!
//! A path is read component by component, so that the shape of a component can
//! depend on its parent (`/docker/<id>`, `kubepods-…-pod<uid>.slice/crio-<id>.scope`).
//! The innermost container match wins (docker-in-docker, pods inside nodes), and the
//! match above it is kept as the outer container.

use super::Runtime;

/// What one cgroup path says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Container(ContainerMatch),
    /// A host-side helper or unit that resembles a container cgroup.
    HostUnit {
        rule: &'static str,
        component: String,
    },
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerMatch {
    pub runtime: Option<Runtime>,
    pub id: String,
    pub pod_uid: Option<String>,
    /// A human name when the path carries one (LXC, nspawn machines, ECS task).
    pub name: Option<String>,
    pub rule: &'static str,
    pub outer_id: Option<String>,
}

/// containerd namespaces that `ctr`, nerdctl, Kubernetes and BuildKit use by default;
/// with cgroupfs, containerd puts a task at `/<namespace>/<id>`.
const CONTAINERD_NAMESPACES: [&str; 4] = ["default", "k8s.io", "buildkit", "nerdctl"];

/// A 64-digit container ID; upper-case digits too (they come back from tools' output and
/// pasted text): [`found`] stores the ID in lower case.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// An ECS task ID: 32 hex digits, or a UUID (earlier Fargate).
fn is_task_id(s: &str) -> bool {
    let hex = s.bytes().filter(|b| b.is_ascii_hexdigit()).count();
    (s.len() == 32 && hex == 32) || (s.len() == 36 && hex == 32 && s.bytes().filter(|&b| b == b'-').count() == 4)
}

/// Cloud Foundry garden's container handle: 8-4-4-4-4 hex digits.
fn is_garden_handle(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts.iter().zip([8, 4, 4, 4, 4]).all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// systemd's unit suffixes: a cgroup so named is a unit, not a container's.
fn is_unit(c: &str) -> bool {
    [".service", ".scope", ".slice", ".socket", ".mount"].iter().any(|s| c.ends_with(s))
}

fn scope_id<'a>(c: &'a str, prefix: &str) -> Option<&'a str> {
    c.strip_prefix(prefix)?.strip_suffix(".scope")
}

/// `kubepods-burstable-pod1234_5678.slice` -> `1234-5678`
fn pod_uid_from_slice(c: &str) -> Option<String> {
    let rest = c.strip_suffix(".slice")?;
    let at = rest.rfind("-pod").map(|i| i + 4).or_else(|| rest.strip_prefix("pod").map(|_| 3))?;
    let uid = &rest[at..];
    (!uid.is_empty()).then(|| uid.replace('_', "-"))
}

/// systemd escapes '-' in unit names as `\x2d`.
fn unescape_unit(s: &str) -> String {
    s.replace("\\x2d", "-")
}

fn host_unit(c: &str, prev: Option<&str>) -> Option<&'static str> {
    if c.starts_with("crio-conmon-") {
        return Some("cri-o conmon scope");
    }
    if c.starts_with("libpod-conmon-") {
        return Some("podman conmon scope");
    }
    if c.starts_with("lxc.monitor.") || prev == Some("lxc.monitor") {
        return Some("lxc monitor");
    }
    if c.starts_with("machine-qemu") || c.ends_with(".libvirt-qemu") {
        return Some("libvirt virtual machine (not a container)");
    }
    if c == "init.scope" {
        return Some("systemd init.scope");
    }
    if c.starts_with("session-") && c.ends_with(".scope") {
        return Some("user session scope");
    }
    if c.starts_with("user@") && c.ends_with(".service") {
        return Some("user manager service");
    }
    if c == "supervisor" {
        return Some("systemd-nspawn supervisor");
    }
    if c.ends_with(".service") {
        return Some("systemd service unit");
    }
    None
}

fn found(
    runtime: Option<Runtime>,
    id: impl Into<String>,
    pod_uid: Option<String>,
    name: Option<String>,
    rule: &'static str,
) -> Option<ContainerMatch> {
    let mut id = id.into();
    if is_hex64(&id) {
        id.make_ascii_lowercase();
    }
    let pod_uid = pod_uid.map(|u| u.to_ascii_lowercase());
    Some(ContainerMatch { runtime, id, pod_uid, name, rule, outer_id: None })
}

fn container_at(comps: &[&str], i: usize) -> Option<ContainerMatch> {
    let c = comps[i];
    let prev = i.checked_sub(1).map(|p| comps[p]);
    // A path seen through a private cgroup namespace climbs out with `..`: what it shows
    // below that is read as well as the text allows (the kernel's own path is absolute).
    let in_kubepods = comps[..i].iter().any(|p| *p == "kubepods" || p.starts_with("kubepods") || *p == "..");

    // systemd driver paths as cgroupfs shows them: `<slice>:<prefix>:<id>` in one component
    // (containerd and cri-o with SystemdCgroup on cgroupfs-style trees, docker on v1).
    let mut triple = c.splitn(3, ':');
    if let (Some(slice), Some(prefix), Some(id)) = (triple.next(), triple.next(), triple.next())
        && is_hex64(id)
    {
        let rt = match prefix {
            "cri-containerd" | "containerd" => Some(Runtime::Containerd),
            "crio" => Some(Runtime::CriO),
            "docker" => Some(Runtime::Docker),
            "libpod" => Some(Runtime::Podman),
            _ => None,
        };
        let pod = slice.starts_with("kubepods").then(|| pod_uid_from_slice(slice)).flatten();
        return found(rt, id, pod, None, "systemd driver triple (slice:runtime:id)");
    }

    // Kubernetes, systemd driver: kubepods[-qos]-pod<uid>.slice/<runtime>-<id>.scope
    if let Some(p) = prev.filter(|p| p.starts_with("kubepods") && p.contains("pod")) {
        for (prefix, rt) in [
            ("cri-containerd-", Some(Runtime::Containerd)),
            ("crio-", Some(Runtime::CriO)),
            ("docker-", Some(Runtime::Docker)),
        ] {
            if let Some(id) = scope_id(c, prefix).filter(|id| is_hex64(id)) {
                return found(rt, id.to_string(), pod_uid_from_slice(p), None, "kubernetes pod (systemd driver)");
            }
        }
    }
    // Kubernetes, cgroupfs driver: /kubepods[/<qos>]/pod<uid>/<id> (crio prefixes it)
    if in_kubepods && let Some(p) = prev.and_then(|p| p.strip_prefix("pod")) {
        let (rt, id) = match c.strip_prefix("crio-") {
            Some(id) => (Some(Runtime::CriO), id),
            None => (None, c),
        };
        if is_hex64(id) {
            return found(rt, id.to_string(), Some(p.to_string()), None, "kubernetes pod (cgroupfs driver)");
        }
    }
    if is_hex64(c) {
        match prev {
            Some("docker") => {
                return found(Some(Runtime::Docker), c, None, None, "docker (cgroupfs driver)");
            }
            Some("actions_job") => {
                return found(Some(Runtime::Docker), c, None, None, "GitHub Actions job container");
            }
            Some("libpod_parent") => {
                return found(Some(Runtime::Podman), c, None, None, "podman (cgroupfs)");
            }
            _ => {}
        }
    }
    for (prefix, rt, rule) in [
        ("docker-", Runtime::Docker, "docker (systemd driver)"),
        ("cri-containerd-", Runtime::Containerd, "containerd CRI (systemd driver)"),
        ("crio-", Runtime::CriO, "cri-o (systemd driver)"),
        ("libpod-", Runtime::Podman, "podman (systemd driver)"),
        ("nerdctl-", Runtime::Containerd, "nerdctl (containerd)"),
    ] {
        if let Some(id) = scope_id(c, prefix).filter(|id| is_hex64(id)) {
            return found(Some(rt), id, None, None, rule);
        }
    }
    if let Some(id) = c.strip_prefix("libpod-payload-").filter(|id| is_hex64(id)) {
        return found(Some(Runtime::Podman), id, None, None, "podman payload cgroup");
    }
    if let Some(id) = c.strip_prefix("libpod-").filter(|id| is_hex64(id)) {
        return found(Some(Runtime::Podman), id, None, None, "podman (cgroupfs)");
    }
    if let Some(id) = scope_id(c, "runc-").filter(|id| !id.is_empty()) {
        return found(Some(Runtime::Runc), id, None, None, "runc (systemd driver)");
    }
    if let Some(id) = scope_id(c, "crun-").filter(|id| !id.is_empty()) {
        return found(Some(Runtime::Crun), id, None, None, "crun (systemd driver)");
    }
    // LXC and LXD
    if let Some(name) = c.strip_prefix("lxc.payload.").filter(|n| !n.is_empty()) {
        return found(Some(Runtime::Lxc), name, None, Some(name.into()), "lxc payload cgroup");
    }
    if matches!(prev, Some("lxc.payload") | Some("lxc")) && c != "lxc.pivot" && !c.is_empty() {
        return found(Some(Runtime::Lxc), c, None, Some(c.into()), "lxc container cgroup");
    }
    // libvirt-lxc: machine-lxc\x2d<n>\x2d<name>.scope (systemd) or /machine/<name>.libvirt-lxc
    if let Some(rest) = scope_id(c, "machine-lxc\\x2d") {
        let name = match rest.split_once("\\x2d") {
            Some((n, name)) if n.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => rest,
        };
        let name = unescape_unit(name);
        return found(Some(Runtime::LibvirtLxc), name.clone(), None, Some(name), "libvirt-lxc machine scope");
    }
    if let Some(name) = c.strip_suffix(".libvirt-lxc").filter(|n| !n.is_empty()) {
        return found(Some(Runtime::LibvirtLxc), name, None, Some(name.into()), "libvirt-lxc (cgroupfs)");
    }
    // systemd-nspawn registered with machined
    if let Some(name) = c.strip_prefix("systemd-nspawn@").and_then(|r| r.strip_suffix(".service")) {
        let name = unescape_unit(name);
        return found(Some(Runtime::SystemdNspawn), name.clone(), None, Some(name), "systemd-nspawn service");
    }
    if prev == Some("machine.slice")
        && let Some(name) = scope_id(c, "machine-").filter(|n| !n.starts_with("qemu"))
    {
        let name = unescape_unit(name);
        return found(Some(Runtime::SystemdNspawn), name.clone(), None, Some(name), "machined machine scope");
    }
    // Amazon ECS: /ecs/[<cluster>/]<task>/<container>; Fargate 1.4: /ecs/<task>/<task>-<n>.
    // The task is the name; a task ID alone is not a container.
    if i >= 2
        && comps[0] == "ecs"
        && let Some(task) = prev.filter(|p| is_task_id(p))
    {
        let fargate = c
            .strip_prefix(task)
            .and_then(|r| r.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if is_hex64(c) || fargate {
            return found(None, c, None, Some(task.into()), "amazon ECS task container");
        }
    }
    // Cloud Foundry: /garden/<handle>
    if prev == Some("garden") && is_garden_handle(c) {
        return found(None, c, None, None, "Cloud Foundry garden container");
    }
    // containerd with cgroupfs: /<namespace>/<id>; units there are systemd's, not tasks
    if i == 1 && CONTAINERD_NAMESPACES.contains(&comps[0]) && !c.is_empty() && !is_unit(c) {
        return found(Some(Runtime::Containerd), c, None, None, "containerd namespace cgroup");
    }
    None
}

/// Reads one cgroup path (already relative to the host's own cgroup in that hierarchy).
pub fn match_path(path: &str) -> PathMatch {
    let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let mut innermost: Option<(usize, ContainerMatch)> = None;
    let mut host: Option<(&'static str, String)> = None;
    for i in 0..comps.len() {
        let prev = i.checked_sub(1).map(|p| comps[p]);
        if let Some(mut m) = container_at(&comps, i) {
            // A kube pod slice can yield the same container twice (pod<uid>/<id>): keep one.
            if innermost.as_ref().is_some_and(|(_, f)| f.id == m.id) {
                continue;
            }
            m.outer_id = innermost.as_ref().map(|(_, f)| f.id.clone());
            innermost = Some((i, m));
            host = None;
            continue;
        }
        if let Some(rule) = host_unit(comps[i], prev) {
            // nspawn's supervisor sits beside the payload, inside the machine's unit: host side.
            let nspawn_supervisor = comps[i] == "supervisor"
                && innermost.as_ref().is_some_and(|(at, f)| *at + 1 == i && f.runtime == Some(Runtime::SystemdNspawn));
            if nspawn_supervisor {
                return PathMatch::HostUnit { rule, component: comps[i].to_string() };
            }
            // Inside a container, its own units (systemd in a container) are still the container.
            if innermost.is_none() && host.is_none() {
                host = Some((rule, comps[i].to_string()));
            }
        }
    }
    match (innermost.map(|(_, m)| m), host) {
        (Some(m), _) => PathMatch::Container(m),
        (None, Some((rule, component))) => PathMatch::HostUnit { rule, component },
        (None, None) => PathMatch::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const A: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const B: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    fn container(p: &str) -> ContainerMatch {
        match match_path(p) {
            PathMatch::Container(m) => m,
            other => panic!("{p}: expected a container, got {other:?}"),
        }
    }

    #[test]
    fn docker_in_docker_innermost_wins() {
        let m = container(&format!("/docker/{A}/docker/{B}"));
        assert_eq!(m.id, B);
        assert_eq!(m.outer_id.as_deref(), Some(A));
    }

    #[test]
    fn kube_systemd_pod_uid_gets_dashes() {
        let m = container(&format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12ab_34cd.slice/cri-containerd-{A}.scope"
        ));
        assert_eq!(m.pod_uid.as_deref(), Some("12ab-34cd"));
        assert_eq!(m.runtime, Some(Runtime::Containerd));
    }

    #[test]
    fn conmon_is_host() {
        assert!(matches!(match_path(&format!("/machine.slice/libpod-conmon-{A}.scope")), PathMatch::HostUnit { .. }));
    }

    #[test]
    fn short_hex_is_not_docker() {
        assert_eq!(match_path("/docker/abc"), PathMatch::None);
    }
}
