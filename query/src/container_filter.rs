//! `--name`, `--image`, `--pod`, `--namespace`, `--label`: which containers a query is
//! about, decided on the merged container records (so a container's metadata, stored once,
//! selects all of its events in every segment).

use std::collections::HashSet;

use ctrail_model::Container;

use crate::{cli::ContainerFilters, source::Source};

impl ContainerFilters {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.image.is_none()
            && self.pod.is_none()
            && self.namespace.is_none()
            && self.label.is_empty()
    }

    pub fn matches(&self, c: &Container) -> bool {
        let m = &c.meta;
        let is = |v: &Option<String>, want: &str| v.as_deref() == Some(want);
        let name = self.name.as_deref().is_none_or(|n| is(&c.name, n) || is(&m.container_name, n));
        let image = self.image.as_deref().is_none_or(|i| {
            let typed = m.image.as_deref();
            typed == Some(i)
                // `--image shop/api` matches `shop/api:1.4.2` (a tag, not a longer name).
                || typed.and_then(|t| t.strip_prefix(i)).is_some_and(|rest| rest.starts_with(':') || rest.starts_with('@'))
                || is(&m.image_digest, i)
                || m.image_id.as_deref().is_some_and(|id| id == i || (i.len() >= 12 && id.trim_start_matches("sha256:").starts_with(i.trim_start_matches("sha256:"))))
        });
        let pod = self.pod.as_deref().is_none_or(|p| match p.split_once('/') {
            Some((ns, n)) => is(&m.pod_namespace, ns) && is(&m.pod_name, n),
            None => is(&m.pod_name, p),
        });
        let namespace = self.namespace.as_deref().is_none_or(|ns| is(&m.pod_namespace, ns));
        let labels = self.label.iter().all(|l| match l.split_once('=') {
            Some((k, v)) => m.labels.get(k).is_some_and(|have| have == v),
            None => m.labels.contains_key(l.as_str()),
        });
        name && image && pod && namespace && labels
    }

    /// The IDs of the containers selected, or `None` when no such filter was given.
    pub fn ids(&self, src: &Source) -> Option<HashSet<String>> {
        (!self.is_empty())
            .then(|| src.containers().values().filter(|c| self.matches(c)).map(|c| c.id.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container() -> Container {
        let mut c = Container {
            id: "ab".into(),
            runtime: None,
            name: Some("web-1".into()),
            pod_uid: None,
            outer_id: None,
            cgroup: None,
            reason: String::new(),
            first_seen: 0,
            last_seen: 0,
            processes: 0,
            events: 0,
            meta: Default::default(),
        };
        c.meta.image = Some("shop/api:1.4.2".into());
        c.meta.image_id = Some("sha256:5e1d2c3b4a59".into());
        c.meta.pod_name = Some("api-7f9c".into());
        c.meta.pod_namespace = Some("payments".into());
        c.meta.labels.insert("team".into(), "pay".into());
        c
    }

    #[test]
    fn each_filter_and_their_conjunction() {
        let c = container();
        let f = |g: fn(&mut ContainerFilters)| {
            let mut f = ContainerFilters::default();
            g(&mut f);
            f.matches(&c)
        };
        assert!(f(|f| f.name = Some("web-1".into())));
        assert!(!f(|f| f.name = Some("web".into())));
        assert!(f(|f| f.image = Some("shop/api".into())));
        assert!(!f(|f| f.image = Some("shop/ap".into())), "a tag, not a longer name");
        assert!(f(|f| f.image = Some("5e1d2c3b4a59".into())));
        assert!(f(|f| f.pod = Some("payments/api-7f9c".into())));
        assert!(!f(|f| f.pod = Some("default/api-7f9c".into())));
        assert!(f(|f| f.namespace = Some("payments".into())));
        assert!(f(|f| f.label = vec!["team".into(), "team=pay".into()]));
        assert!(!f(|f| f.label = vec!["team=ops".into()]));
        assert!(!f(|f| {
            f.name = Some("web-1".into());
            f.namespace = Some("default".into());
        }));
    }
}
