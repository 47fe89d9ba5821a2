//! Groups and the train/val/test split.
//!
//! A *group* is one astronomical object: all renders and photos of Jupiter are group `jupiter`;
//! deep-sky photos whose fields overlap on the sky (mosaic tiles such as `barnard_loop-1..4`,
//! or M 42 inside the Barnard's Loop tiles) are one group, so no piece of sky is seen in two
//! splits. The split puts whole groups into train/val/test (~70/15/15), stratified by class.

use std::collections::BTreeMap;

use tensor::Rng;

use crate::labels::DsoLabel;

/// Which part of the data set an image belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    /// Used to fit the weights.
    Train,
    /// Used to choose hyper-parameters and stop early.
    Val,
    /// Looked at once, at the end.
    Test,
}

/// Target share of each split.
pub const SPLIT_SHARES: [(Split, f64); 3] =
    [(Split::Train, 0.70), (Split::Val, 0.15), (Split::Test, 0.15)];

impl Split {
    /// The name used in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Val => "val",
            Self::Test => "test",
        }
    }

    /// Parses a manifest name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "train" => Some(Self::Train),
            "val" => Some(Self::Val),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

/// Angular distance in degrees between two (RA, Dec) positions given in degrees.
pub fn angular_distance_deg(ra1: f64, dec1: f64, ra2: f64, dec2: f64) -> f64 {
    let (ra1, dec1, ra2, dec2) =
        (ra1.to_radians(), dec1.to_radians(), ra2.to_radians(), dec2.to_radians());
    // Haversine: accurate for small separations too.
    let h = ((dec2 - dec1) / 2.0).sin().powi(2)
        + dec1.cos() * dec2.cos() * ((ra2 - ra1) / 2.0).sin().powi(2);
    (2.0 * h.sqrt().clamp(0.0, 1.0).asin()).to_degrees()
}

/// A group name from a designation: lower case, spaces become `-` (`SH2 276` → `sh2-276`).
fn slug(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join("-").to_lowercase()
}

/// The group of each label: labels with the same designation, or whose fields overlap
/// (centre distance < sum of field radii), are joined (union–find, transitively). A group is
/// named after its member with the widest field (its designation, else its file stem).
pub fn group_deep_sky(labels: &[&DsoLabel]) -> Vec<String> {
    let n = labels.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for i in 0..n {
        for j in i + 1..n {
            let (a, b) = (labels[i], labels[j]);
            let same_name = !a.designation.is_empty() && a.designation == b.designation;
            let overlap = angular_distance_deg(a.ra_deg, a.dec_deg, b.ra_deg, b.dec_deg)
                < a.radius_deg + b.radius_deg;
            if same_name || overlap {
                let (ri, rj) = (find(&mut parent, i), find(&mut parent, j));
                parent[ri] = rj;
            }
        }
    }
    // Name each component after its widest member (ties: first in input order).
    let mut widest: BTreeMap<usize, usize> = BTreeMap::new();
    for i in 0..n {
        let root = find(&mut parent, i);
        let best = widest.entry(root).or_insert(i);
        if labels[i].radius_deg > labels[*best].radius_deg {
            *best = i;
        }
    }
    (0..n)
        .map(|i| {
            let l = labels[widest[&find(&mut parent, i)]];
            if l.designation.is_empty() {
                slug(l.file.trim_end_matches(".png"))
            } else {
                slug(&l.designation)
            }
        })
        .collect()
}

/// Assigns a split to each `(class, group)` item so that every group lies in one split and each
/// class is close to [`SPLIT_SHARES`].
///
/// Greedy, largest group first (ties in a seeded random order): each group goes to the split
/// with the largest remaining deficit `Σ_class n_group,class · (target − count) / class total`.
/// Deterministic for a given seed and input.
pub fn assign_splits(items: &[(&str, &str)], seed: u64) -> Vec<Split> {
    let mut class_totals: BTreeMap<&str, f64> = BTreeMap::new();
    let mut groups: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for &(class, group) in items {
        *class_totals.entry(class).or_default() += 1.0;
        *groups.entry(group).or_default().entry(class).or_default() += 1;
    }
    let mut order: Vec<(&str, usize)> =
        groups.iter().map(|(g, c)| (*g, c.values().sum())).collect();
    Rng::new(seed).shuffle(&mut order);
    order.sort_by_key(|g| std::cmp::Reverse(g.1)); // stable: the shuffle breaks ties
    let mut counts: BTreeMap<(&str, Split), f64> = BTreeMap::new();
    let mut chosen: BTreeMap<&str, Split> = BTreeMap::new();
    for (group, _) in order {
        let members = &groups[group];
        let deficit = |split: Split, share: f64| -> f64 {
            members
                .iter()
                .map(|(class, &n)| {
                    let total = class_totals[class];
                    let have = counts.get(&(*class, split)).copied().unwrap_or(0.0);
                    n as f64 * (share * total - have) / total
                })
                .sum()
        };
        let mut best = SPLIT_SHARES[0];
        for candidate in SPLIT_SHARES {
            if deficit(candidate.0, candidate.1) > deficit(best.0, best.1) {
                best = candidate;
            }
        }
        for (class, &n) in members {
            *counts.entry((*class, best.0)).or_default() += n as f64;
        }
        chosen.insert(group, best.0);
    }
    items.iter().map(|(_, g)| chosen[g]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::DeepSkyClass;

    fn label(file: &str, designation: &str, ra: f64, dec: f64, radius: f64) -> DsoLabel {
        DsoLabel {
            file: file.into(),
            designation: designation.into(),
            ra_deg: ra,
            dec_deg: dec,
            radius_deg: radius,
            class: DeepSkyClass::Nebula,
            exclude: None,
        }
    }

    #[test]
    fn overlapping_fields_and_shared_names_form_one_group() {
        let l = [
            label("loop-1.png", "SH2 276", 85.0, -5.0, 6.0),
            label("m42.png", "M 42", 83.8, -5.4, 1.0),
            label("loop-2.png", "SH2 276", 88.0, 3.0, 6.0),
            label("m31.png", "M 31", 10.7, 41.3, 1.5),
            label("calabash.png", "", 200.0, -20.0, 0.1),
        ];
        let refs: Vec<&DsoLabel> = l.iter().collect();
        let g = group_deep_sky(&refs);
        assert_eq!(g[0], "sh2-276");
        assert_eq!(g[1], g[0], "M 42 lies inside the loop tile's field");
        assert_eq!(g[2], g[0]);
        assert_eq!(g[3], "m-31");
        assert_eq!(g[4], "calabash");
    }

    #[test]
    fn angular_distance_matches_simple_cases() {
        assert!((angular_distance_deg(10.0, 0.0, 20.0, 0.0) - 10.0).abs() < 1e-9);
        assert!((angular_distance_deg(0.0, 89.0, 180.0, 89.0) - 2.0).abs() < 1e-9);
        assert!((angular_distance_deg(359.5, 0.0, 0.5, 0.0) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn splits_keep_groups_whole_and_shares_near_target() {
        let mut items = Vec::new();
        let names: Vec<String> = (0..300).map(|i| format!("g{i}")).collect();
        for (i, name) in names.iter().enumerate() {
            let class = if i % 3 == 0 { "a" } else { "b" };
            for _ in 0..(1 + i % 4) {
                items.push((class, name.as_str()));
            }
        }
        let splits = assign_splits(&items, 7);
        let mut seen: BTreeMap<&str, Split> = BTreeMap::new();
        for (&(_, g), &s) in items.iter().zip(&splits) {
            assert_eq!(*seen.entry(g).or_insert(s), s, "group {g} on two sides");
        }
        for class in ["a", "b"] {
            let total = items.iter().filter(|i| i.0 == class).count() as f64;
            for (split, share) in SPLIT_SHARES {
                let n =
                    items.iter().zip(&splits).filter(|(i, s)| i.0 == class && **s == split).count()
                        as f64;
                assert!((n / total - share).abs() < 0.03, "{class} {split:?}: {n}/{total}");
            }
        }
        assert_eq!(splits, assign_splits(&items, 7), "deterministic");
    }
}
