//! Scalers as pure functions: desired state and observed hosts in, per-host instance counts
//! out. No I/O and no clocks, so every rule here is unit- and property-tested.
//!
//! `instances` means what it means in wasmCloud 1.x: the maximum concurrent instances of a
//! component on a host. A spread scaler splits `instances` across its `spread` entries by
//! weight and gives each entry's share to one host matching the entry's requirements; a daemon
//! scaler gives `instances` to every matching host.

use std::collections::{BTreeMap, BTreeSet};

use trellis_types::manifest::Spread;

/// What the scaler sees of a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostView<'a> {
    /// Host id.
    pub id: &'a str,
    /// Host labels.
    pub labels: &'a BTreeMap<String, String>,
}

/// Where a scaler wants instances, and what it could not place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// Host id → concurrent instances there.
    pub hosts: BTreeMap<String, u32>,
    /// Spread entries no host matches, with the instances they could not place.
    pub unplaced: Vec<Unplaced>,
}

/// A spread entry that found no host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplaced {
    /// The entry's name.
    pub spread: String,
    /// Its requirements, as `k=v,k=v`.
    pub requirements: String,
    /// Instances it would have placed.
    pub instances: u32,
}

/// The spread entry used when a scaler lists none: everywhere, all the weight.
fn default_spread() -> Spread {
    Spread { name: "default".into(), requirements: BTreeMap::new(), weight: None }
}

/// Whether `host` carries every label `requirements` asks for.
pub fn matches(requirements: &BTreeMap<String, String>, host: &HostView<'_>) -> bool {
    requirements.iter().all(|(k, v)| host.labels.get(k) == Some(v))
}

fn describe(requirements: &BTreeMap<String, String>) -> String {
    requirements.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// Splits `instances` by `weights`: each share is the floor of its exact share, and the
/// remainder goes one by one to the largest fractional parts (ties to the earlier entry).
/// The shares always sum to `instances`; with every weight zero they are equal.
pub fn shares(instances: u32, weights: &[u32]) -> Vec<u32> {
    if weights.is_empty() {
        return Vec::new();
    }
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let weights: Vec<u64> = if total == 0 { vec![1; weights.len()] } else { weights.iter().map(|&w| u64::from(w)).collect() };
    let total: u64 = weights.iter().sum();
    let n = u64::from(instances);
    let mut out: Vec<u32> = weights.iter().map(|w| (n * w / total) as u32).collect();
    let placed: u32 = out.iter().sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // Largest remainder first; `sort_by_key` is stable, so ties keep manifest order.
    order.sort_by_key(|&i| std::cmp::Reverse(n * weights[i] % total));
    for &i in order.iter().take((instances - placed) as usize) {
        out[i] += 1;
    }
    out
}

/// A spread scaler's placement. Each entry's share goes to one matching host: one no other entry
/// of this scaler uses if there is one (entries that every host matches spread over hosts, as in
/// wadm), among those one already running the component (no needless moves), else the first by id.
pub fn spread(instances: u32, spreads: &[Spread], hosts: &[HostView<'_>], running_on: &BTreeSet<String>) -> Placement {
    let default = [default_spread()];
    let spreads = if spreads.is_empty() { &default[..] } else { spreads };
    let weights: Vec<u32> = spreads.iter().map(|s| s.weight.unwrap_or(100)).collect();
    let mut placement = Placement::default();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for (s, share) in spreads.iter().zip(shares(instances, &weights)) {
        if share == 0 {
            continue;
        }
        let mut eligible: Vec<&HostView<'_>> = hosts.iter().filter(|h| matches(&s.requirements, h)).collect();
        eligible.sort_by_key(|h| (used.contains(h.id), !running_on.contains(h.id), h.id));
        match eligible.first() {
            Some(h) => {
                used.insert(h.id);
                *placement.hosts.entry(h.id.to_owned()).or_default() += share;
            }
            None => placement.unplaced.push(Unplaced { spread: s.name.clone(), requirements: describe(&s.requirements), instances: share }),
        }
    }
    placement
}

/// A daemon scaler's placement: `instances` on every host matching any spread entry.
pub fn daemon(instances: u32, spreads: &[Spread], hosts: &[HostView<'_>]) -> Placement {
    let default = [default_spread()];
    let spreads = if spreads.is_empty() { &default[..] } else { spreads };
    let mut placement = Placement::default();
    if instances == 0 {
        return placement;
    }
    for s in spreads {
        let mut any = false;
        for h in hosts.iter().filter(|h| matches(&s.requirements, h)) {
            any = true;
            placement.hosts.insert(h.id.to_owned(), instances);
        }
        if !any {
            placement.unplaced.push(Unplaced { spread: s.name.clone(), requirements: describe(&s.requirements), instances });
        }
    }
    placement
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn spread_entry(name: &str, req: &[(&str, &str)], weight: Option<u32>) -> Spread {
        Spread { name: name.into(), requirements: labels(req), weight }
    }

    #[test]
    fn remainders_go_to_the_largest_fractions_in_order() {
        assert_eq!(shares(10, &[50, 50]), vec![5, 5]);
        assert_eq!(shares(3, &[100, 100]), vec![2, 1]);
        assert_eq!(shares(4, &[1, 2]), vec![1, 3]);
        assert_eq!(shares(5, &[0, 0]), vec![3, 2]);
        assert_eq!(shares(7, &[]), Vec::<u32>::new());
    }

    #[test]
    fn spread_places_each_share_on_a_matching_host() {
        let eu = labels(&[("region", "eu")]);
        let us = labels(&[("region", "us")]);
        let hosts = [HostView { id: "A", labels: &eu }, HostView { id: "B", labels: &us }];
        let spreads = [spread_entry("eu", &[("region", "eu")], Some(80)), spread_entry("us", &[("region", "us")], Some(20))];
        let p = spread(10, &spreads, &hosts, &BTreeSet::new());
        assert_eq!(p.hosts, BTreeMap::from([("A".into(), 8), ("B".into(), 2)]));
        assert!(p.unplaced.is_empty());
    }

    #[test]
    fn a_spread_without_a_host_is_reported_unplaced() {
        let us = labels(&[("region", "us")]);
        let hosts = [HostView { id: "B", labels: &us }];
        let p = spread(4, &[spread_entry("eu", &[("region", "eu")], None)], &hosts, &BTreeSet::new());
        assert!(p.hosts.is_empty());
        assert_eq!(p.unplaced, vec![Unplaced { spread: "eu".into(), requirements: "region=eu".into(), instances: 4 }]);
    }

    #[test]
    fn spread_stays_where_it_runs() {
        let none = BTreeMap::new();
        let hosts = [HostView { id: "A", labels: &none }, HostView { id: "B", labels: &none }];
        let p = spread(2, &[], &hosts, &BTreeSet::from(["B".to_owned()]));
        assert_eq!(p.hosts, BTreeMap::from([("B".into(), 2)]));
    }

    #[test]
    fn entries_every_host_matches_spread_over_hosts_and_stay() {
        let none = BTreeMap::new();
        let hosts = [HostView { id: "A", labels: &none }, HostView { id: "B", labels: &none }];
        let halves = [spread_entry("one", &[], Some(50)), spread_entry("other", &[], Some(50))];
        // Running on B only (one host before the second joined): the first entry stays, the other moves.
        let p = spread(2, &halves, &hosts, &BTreeSet::from(["B".to_owned()]));
        assert_eq!(p.hosts, BTreeMap::from([("A".into(), 1), ("B".into(), 1)]));
        let p = spread(2, &halves, &hosts, &BTreeSet::from(["A".to_owned(), "B".to_owned()]));
        assert_eq!(p.hosts, BTreeMap::from([("A".into(), 1), ("B".into(), 1)]));
    }

    #[test]
    fn daemon_lands_on_every_matching_host_once() {
        let eu = labels(&[("region", "eu"), ("zone", "a")]);
        let us = labels(&[("region", "us")]);
        let hosts = [HostView { id: "A", labels: &eu }, HostView { id: "B", labels: &us }, HostView { id: "C", labels: &eu }];
        let spreads = [spread_entry("eu", &[("region", "eu")], None), spread_entry("a", &[("zone", "a")], None)];
        let p = daemon(3, &spreads, &hosts);
        assert_eq!(p.hosts, BTreeMap::from([("A".into(), 3), ("C".into(), 3)]));
        assert_eq!(daemon(1, &[], &hosts).hosts.len(), 3);
    }

    fn arb_case() -> impl Strategy<Value = (u32, Vec<(u32, u8)>, Vec<u8>)> {
        // instances; spreads as (weight, required region); hosts as their region.
        (0u32..500, prop::collection::vec((0u32..300, 0u8..4), 1..6), prop::collection::vec(0u8..4, 0..8))
    }

    proptest! {
        #[test]
        fn shares_preserve_the_total_and_honour_weights(instances in 0u32..10_000, weights in prop::collection::vec(0u32..1000, 1..10)) {
            let out = shares(instances, &weights);
            prop_assert_eq!(out.iter().sum::<u32>(), instances);
            let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
            if total > 0 {
                for (w, s) in weights.iter().zip(&out) {
                    let exact = f64::from(instances) * f64::from(*w) / total as f64;
                    prop_assert!((f64::from(*s) - exact).abs() < 1.0, "share {} vs exact {}", s, exact);
                }
            }
        }

        #[test]
        fn spread_places_everything_placeable_on_eligible_hosts_only((instances, entries, host_regions) in arb_case()) {
            let region_labels: Vec<BTreeMap<String, String>> = (0..4).map(|r| labels(&[("region", &r.to_string())])).collect();
            let ids: Vec<String> = (0..host_regions.len()).map(|i| format!("H{i}")).collect();
            let hosts: Vec<HostView<'_>> = host_regions.iter().zip(&ids).map(|(&r, id)| HostView { id, labels: &region_labels[r as usize] }).collect();
            let spreads: Vec<Spread> = entries.iter().enumerate()
                .map(|(i, &(w, r))| spread_entry(&format!("s{i}"), &[("region", &r.to_string())], Some(w)))
                .collect();
            let p = spread(instances, &spreads, &hosts, &BTreeSet::new());
            let placed: u32 = p.hosts.values().sum();
            let unplaced: u32 = p.unplaced.iter().map(|u| u.instances).sum();
            // Totals preserved: every instance is either placed or reported.
            prop_assert_eq!(placed + unplaced, instances);
            // No host gets more than the shares of the entries it matches.
            let weights: Vec<u32> = entries.iter().map(|&(w, _)| w).collect();
            let share = shares(instances, &weights);
            for (id, &count) in &p.hosts {
                let host = hosts.iter().find(|h| h.id == id).unwrap();
                let cap: u32 = spreads.iter().zip(&share).filter(|(s, _)| matches(&s.requirements, host)).map(|(_, n)| n).sum();
                prop_assert!(count <= cap, "host {} got {} but matches entries worth {}", id, count, cap);
                prop_assert!(count > 0);
            }
        }

        #[test]
        fn daemon_places_on_exactly_the_matching_hosts(instances in 1u32..100, regions in prop::collection::vec(0u8..3, 0..8), wanted in 0u8..3) {
            let region_labels: Vec<BTreeMap<String, String>> = (0..3).map(|r| labels(&[("region", &r.to_string())])).collect();
            let ids: Vec<String> = (0..regions.len()).map(|i| format!("H{i}")).collect();
            let hosts: Vec<HostView<'_>> = regions.iter().zip(&ids).map(|(&r, id)| HostView { id, labels: &region_labels[r as usize] }).collect();
            let p = daemon(instances, &[spread_entry("x", &[("region", &wanted.to_string())], None)], &hosts);
            let expected = regions.iter().filter(|&&r| r == wanted).count();
            prop_assert_eq!(p.hosts.len(), expected);
            prop_assert!(p.hosts.values().all(|&n| n == instances));
            prop_assert_eq!(p.unplaced.is_empty(), expected > 0);
        }
    }
}
