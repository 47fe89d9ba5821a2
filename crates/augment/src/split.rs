//! Train / validation / test splits that keep every *group* (one astronomical object, which may
//! have several files, e.g. mosaic tiles) on one side, so no object is both trained and tested on.
//!
//! With a `manifest.csv`, its `split` column is used as is. Otherwise the split is stratified and
//! seeded: within each class, the class's groups are shuffled (`Rng::keyed(seed, &[class])`) and
//! handed out one by one to whichever part is furthest below its target share of the class's
//! samples. The result depends only on the file names, classes, fractions and seed.
//!
//! [`Split::cross_validation`] re-deals the training and validation parts into K folds the same
//! way (grouped, stratified by class) for K-fold cross-validation, leaving the test part alone.
//!
//! [`Split::thin_train`] keeps a share of the training part (whole groups, class by class) for
//! learning curves: how accuracy grows with the number of training objects.

use crate::AugmentError;
use crate::folder::Dataset;
use std::collections::BTreeMap;
use tensor::Rng;

/// The key that separates [`Split::thin_train`]'s shuffles from the split's own.
const THIN_STREAM: u64 = 0x7417;

/// The three parts of a split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// Training set.
    Train,
    /// Validation set (model selection, early stopping).
    Val,
    /// Test set (reported once).
    Test,
}

impl std::str::FromStr for Part {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "train" => Ok(Self::Train),
            "val" => Ok(Self::Val),
            "test" => Ok(Self::Test),
            other => Err(format!("split {other:?} is not one of train, val, test")),
        }
    }
}

/// The group of a file from its stem: the stem with one trailing tile suffix removed, where a
/// tile suffix is `-` or `_` followed by one or two digits. `barnard_loop-3` → `barnard_loop`,
/// `sh2-1-2` → `sh2-1`, `ic2118_1` → `ic2118`; `m31` and `ngc_1976` (four digits: a catalogue
/// number, not a tile) stay as they are. Only used without a manifest; it can merge distinct
/// objects into one group (harmless: a coarser split), never split one.
pub fn group_of(stem: &str) -> String {
    let bytes = stem.as_bytes();
    let digits = bytes.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if (1..=2).contains(&digits) && bytes.len() > digits + 1 {
        let sep = bytes[bytes.len() - digits - 1];
        if sep == b'-' || sep == b'_' {
            return stem[..stem.len() - digits - 1].to_string();
        }
    }
    stem.to_string()
}

/// Target shares of the three parts; they must be ≥ 0 and sum to 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitFractions {
    /// Training share.
    pub train: f32,
    /// Validation share.
    pub val: f32,
    /// Test share.
    pub test: f32,
}

impl Default for SplitFractions {
    /// 0.70 / 0.15 / 0.15.
    fn default() -> Self {
        Self { train: 0.70, val: 0.15, test: 0.15 }
    }
}

/// Sample indices (into `Dataset::samples`) of each part, each sorted ascending.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Split {
    /// Training samples.
    pub train: Vec<usize>,
    /// Validation samples.
    pub val: Vec<usize>,
    /// Test samples.
    pub test: Vec<usize>,
}

impl Split {
    /// The manifest's split when every sample has one, else [`Split::stratified`].
    ///
    /// # Errors
    /// As [`Split::stratified`].
    pub fn from_dataset(
        ds: &Dataset,
        fractions: SplitFractions,
        seed: u64,
    ) -> Result<Self, AugmentError> {
        if !ds.is_empty() && ds.samples.iter().all(|s| s.split.is_some()) {
            let mut split = Self::default();
            for (i, s) in ds.samples.iter().enumerate() {
                split.part_mut(s.split.expect("checked above")).push(i);
            }
            return Ok(split);
        }
        Self::stratified(ds, fractions, seed)
    }

    /// The seeded stratified group split (module docs).
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] when a fraction is negative or they do not sum to 1.
    pub fn stratified(
        ds: &Dataset,
        fractions: SplitFractions,
        seed: u64,
    ) -> Result<Self, AugmentError> {
        let f = [fractions.train, fractions.val, fractions.test];
        if f.iter().any(|x| x.is_nan() || *x < 0.0) || (f.iter().sum::<f32>() - 1.0).abs() > 1e-3 {
            return Err(AugmentError::bad(
                "Split::stratified",
                format!("fractions {f:?} must be >= 0 and sum to 1"),
            ));
        }
        let mut split = Self::default();
        for (class, mut members) in groups_by_class(ds, 0..ds.len()).into_iter().enumerate() {
            Rng::keyed(seed, &[class as u64]).shuffle(&mut members);
            let total: usize = members.iter().map(|m| m.len()).sum();
            let mut counts = [0usize; 3];
            for m in members {
                // The part furthest below its target takes the group (ties: train, val, test).
                let deficit = |p: usize| f[p] * total as f32 - counts[p] as f32;
                let part =
                    (0..3).fold(0, |best, p| if deficit(p) > deficit(best) { p } else { best });
                counts[part] += m.len();
                split.part_mut([Part::Train, Part::Val, Part::Test][part]).extend(&m);
            }
        }
        for part in [&mut split.train, &mut split.val, &mut split.test] {
            part.sort_unstable();
        }
        Ok(split)
    }

    /// Fold `fold` of a K-fold cross-validation over this split's training and validation
    /// samples: those are dealt into `folds` folds, whole groups at a time and class by class
    /// (each class's groups shuffled with `Rng::keyed(seed, &[class])`, then taken largest first,
    /// each to the fold holding the fewest samples of that class so far; ties: the lower fold);
    /// fold `fold` becomes the validation part, the other folds the training part, and the test
    /// part is kept as it is. Over `fold = 0..folds` every training-or-validation sample is
    /// validated on exactly once, and never in a fold whose training part holds its object.
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] unless `2 ≤ folds` and `fold < folds`.
    pub fn cross_validation(
        &self,
        ds: &Dataset,
        fold: usize,
        folds: usize,
        seed: u64,
    ) -> Result<Self, AugmentError> {
        if folds < 2 || fold >= folds {
            return Err(AugmentError::bad(
                "Split::cross_validation",
                format!("fold {fold} of {folds}: needs at least 2 folds and fold < folds"),
            ));
        }
        let mut out = Self { test: self.test.clone(), ..Self::default() };
        let train_and_val = self.train.iter().chain(&self.val).copied();
        for (class, mut members) in groups_by_class(ds, train_and_val).into_iter().enumerate() {
            Rng::keyed(seed, &[class as u64]).shuffle(&mut members);
            // Largest groups first (a stable sort keeps the shuffled order among equals), so
            // the small ones even out the folds at the end.
            members.sort_by_key(|m| std::cmp::Reverse(m.len()));
            let mut counts = vec![0usize; folds];
            for m in members {
                let f = (0..folds).min_by_key(|&f| (counts[f], f)).expect("folds >= 2");
                counts[f] += m.len();
                if f == fold { &mut out.val } else { &mut out.train }.extend(&m);
            }
        }
        out.train.sort_unstable();
        out.val.sort_unstable();
        Ok(out)
    }

    /// This split with only a `fraction` of its training samples kept, for learning curves;
    /// validation and test parts are unchanged. Class by class, the class's training groups are
    /// shuffled (`Rng::keyed(seed, &[THIN_STREAM, class])`) and kept in that order until the
    /// kept samples reach `fraction` of the class's training samples (rounded to the nearest,
    /// at least one group). Because the order does not depend on `fraction`, a smaller fraction
    /// keeps a subset of what a larger one keeps: the points of a learning curve are nested.
    ///
    /// # Errors
    /// [`AugmentError::BadParameter`] unless `0 < fraction ≤ 1`.
    pub fn thin_train(&self, ds: &Dataset, fraction: f32, seed: u64) -> Result<Self, AugmentError> {
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(AugmentError::bad(
                "Split::thin_train",
                format!("fraction {fraction} must be in (0, 1]"),
            ));
        }
        if fraction == 1.0 {
            return Ok(self.clone());
        }
        let mut train = Vec::new();
        for (class, mut members) in
            groups_by_class(ds, self.train.iter().copied()).into_iter().enumerate()
        {
            Rng::keyed(seed, &[THIN_STREAM, class as u64]).shuffle(&mut members);
            let total: usize = members.iter().map(|m| m.len()).sum();
            let wanted = (fraction * total as f32).round().max(1.0) as usize;
            let mut kept = 0;
            for m in members {
                if kept >= wanted {
                    break;
                }
                kept += m.len();
                train.extend(&m);
            }
        }
        train.sort_unstable();
        Ok(Self { train, val: self.val.clone(), test: self.test.clone() })
    }

    /// The indices of one part.
    pub fn part(&self, part: Part) -> &[usize] {
        match part {
            Part::Train => &self.train,
            Part::Val => &self.val,
            Part::Test => &self.test,
        }
    }

    fn part_mut(&mut self, part: Part) -> &mut Vec<usize> {
        match part {
            Part::Train => &mut self.train,
            Part::Val => &mut self.val,
            Part::Test => &mut self.test,
        }
    }
}

/// The given samples gathered into groups, and the groups by class: `result[class]` lists that
/// class's groups in the order of their names, each group as its samples in the order given.
/// A group belongs to the class of its first sample (a group is one object, so one class).
/// All three splits deal out these lists, each after its own seeded shuffle.
fn groups_by_class(ds: &Dataset, samples: impl IntoIterator<Item = usize>) -> Vec<Vec<Vec<usize>>> {
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for i in samples {
        groups.entry(&ds.samples[i].group).or_default().push(i);
    }
    let mut by_class = vec![Vec::new(); ds.classes.len()];
    for members in groups.into_values() {
        by_class[ds.samples[members[0]].class].push(members);
    }
    by_class
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_of_strips_only_short_tile_suffixes() {
        for (stem, want) in [
            ("barnard_loop-3", "barnard_loop"),
            ("sh2-1-2", "sh2-1"),
            ("ic2118_1", "ic2118"),
            ("smc29-12", "smc29"),
            ("m31", "m31"),
            ("ngc_1976", "ngc_1976"),
            ("-1", "-1"),
            ("rho-a1", "rho-a1"),
        ] {
            assert_eq!(group_of(stem), want, "{stem}");
        }
    }
}
