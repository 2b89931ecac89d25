//! Percentiles and medians of the samples a measurement collects.

/// The `p`-th percentile (0 to 100) of `samples` by the nearest-rank method: the smallest
/// sample such that at least `p` % of the samples are at most it. Sorts `samples` in place;
/// `None` when there are none.
///
/// # References
/// - NIST/SEMATECH e-Handbook of Statistical Methods, 7.2.6.2 "Percentiles"; the
///   nearest-rank definition as in Wikipedia's "Percentile".
pub(crate) fn percentile(samples: &mut [u64], p: f64) -> Option<u64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let n = samples.len();
    // rank = ceil(p/100 * n), clamped to 1..=n.
    let rank = ((p.clamp(0.0, 100.0) / 100.0) * n as f64).ceil() as usize;
    Some(samples[rank.clamp(1, n) - 1])
}

/// The median of `values` (the mean of the two middle ones for an even count); `None` when
/// there are none. NaNs sort last.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    Some(if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::{median, percentile};

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(percentile(&mut v, 50.0), Some(50));
        assert_eq!(percentile(&mut v, 99.0), Some(99));
        assert_eq!(percentile(&mut v, 100.0), Some(100));
        assert_eq!(percentile(&mut v, 0.0), Some(1));
        assert_eq!(v, (1..=100).collect::<Vec<u64>>(), "sorted in place");

        let mut one = vec![7];
        assert_eq!(percentile(&mut one, 50.0), Some(7));
        assert_eq!(percentile(&mut one, 99.0), Some(7));

        // 1..=10: the 50th percentile is the 5th value, the 99th is the 10th.
        let mut ten: Vec<u64> = vec![10, 3, 5, 1, 2, 4, 6, 7, 8, 9];
        assert_eq!(percentile(&mut ten, 50.0), Some(5));
        assert_eq!(percentile(&mut ten, 90.0), Some(9));
        assert_eq!(percentile(&mut ten, 99.0), Some(10));
        assert_eq!(percentile(&mut [], 50.0), None);
    }

    #[test]
    fn p50_never_exceeds_p99() {
        let mut v: Vec<u64> = (0..1000u64).map(|i| (i * 7919) % 1013).collect();
        let p50 = percentile(&mut v, 50.0).unwrap();
        let p99 = percentile(&mut v, 99.0).unwrap();
        assert!(p50 <= p99);
        assert_eq!(p99, v[989]);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[5.0]), Some(5.0));
        assert_eq!(median(&[]), None);
    }
}
