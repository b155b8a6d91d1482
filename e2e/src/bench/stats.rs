//! Summaries of repeated measurements: median, spread, percentiles.
//!
//! Pure arithmetic, no IO. A benchmark never reports a single run: every figure is the
//! median of several, with its minimum, maximum and quartiles next to it.

/// The summary of `n` measurements of one quantity (in its unit: seconds, bytes...).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// First and third quartiles (linear interpolation, like numpy's default).
    pub q1: f64,
    pub q3: f64,
}

impl Summary {
    /// Summarises `values`; `None` when there is nothing to summarise or a value is NaN.
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() || values.iter().any(|v| v.is_nan()) {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        Some(Summary {
            n: v.len(),
            median: quantile(&v, 0.5),
            min: v[0],
            max: v[v.len() - 1],
            q1: quantile(&v, 0.25),
            q3: quantile(&v, 0.75),
        })
    }

    /// The same summary in another unit (`factor` times every statistic).
    pub fn scaled(self, factor: f64) -> Summary {
        Summary {
            median: self.median * factor,
            min: self.min * factor,
            max: self.max * factor,
            q1: self.q1 * factor,
            q3: self.q3 * factor,
            ..self
        }
    }
}

/// The `p` quantile (0..=1) of sorted values, interpolating linearly between neighbours.
/// Panics on an empty slice.
pub fn quantile(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "the quantile of nothing");
    let pos = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn odd_and_even_counts() {
        let s = Summary::of(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.n, s.median, s.min, s.max), (3, 3.0, 1.0, 5.0));
        assert_eq!((s.q1, s.q3), (2.0, 4.0));
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert_eq!((s.q1, s.q3), (1.75, 3.25));
    }

    #[test]
    fn nothing_or_nan_has_no_summary() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn percentiles_of_a_hundred() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert!((quantile(&v, 0.99) - 99.01).abs() < 1e-9);
        assert_eq!(quantile(&v, 0.5), 50.5);
    }

    #[test]
    fn scaling_keeps_the_count() {
        let s = Summary::of(&[0.001, 0.003]).unwrap().scaled(1000.0);
        assert_eq!(s.n, 2);
        assert!((s.median - 2.0).abs() < 1e-9);
    }

    proptest! {
        #[test]
        fn statistics_are_ordered_and_within_the_values(v in prop::collection::vec(-1e6f64..1e6, 1..50)) {
            let s = Summary::of(&v).unwrap();
            prop_assert!(s.min <= s.q1 && s.q1 <= s.median && s.median <= s.q3 && s.q3 <= s.max);
            prop_assert!(v.contains(&s.min) && v.contains(&s.max));
            // Half the values at least are on each side of the median.
            let below = v.iter().filter(|x| **x <= s.median).count();
            let above = v.iter().filter(|x| **x >= s.median).count();
            prop_assert!(2 * below >= v.len() && 2 * above >= v.len());
        }
    }
}
