//! HdrHistogram's percentile-distribution text (`.hgrm`), as `outputPercentileDistribution`
//! writes it, so the HdrHistogram plotter and wrk2-style tooling read our files.

use std::fmt::Write as _;

use super::Latencies;

/// The `.hgrm` text of a latency histogram, values in milliseconds (recorded in µs),
/// with HdrHistogram's default five ticks per half distance.
pub fn percentile_distribution(latencies: &Latencies) -> String {
    let hist = latencies.histogram();
    let scale = 1000.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    if !hist.is_empty() {
        for v in hist.iter_quantiles(5) {
            total += v.count_since_last_iteration();
            let q = v.quantile_iterated_to();
            let value = v.value_iterated_to() as f64 / scale;
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:12.3} {q:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
            }
        }
    }
    let mean = if hist.is_empty() {
        0.0
    } else {
        hist.mean() / scale
    };
    let stdev = if hist.is_empty() {
        0.0
    } else {
        hist.stdev() / scale
    };
    let max = hist.max() as f64 / scale;
    let _ = writeln!(
        out,
        "#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]"
    );
    let _ = writeln!(
        out,
        "#[Max     = {max:12.3}, Total count    = {:12}]",
        hist.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        hist.buckets(),
        hist.distinct_values()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn hgrm_lists_ascending_percentiles_and_footers() {
        let mut l = Latencies::new();
        for ms in 1..=100u64 {
            l.record(Duration::from_millis(ms));
        }
        let text = percentile_distribution(&l);
        let rows: Vec<(f64, f64, u64)> = text
            .lines()
            .filter(|line| {
                !line.starts_with('#') && !line.trim().is_empty() && !line.contains("Value")
            })
            .map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                (
                    cols[0].parse().unwrap_or(-1.0),
                    cols[1].parse().unwrap_or(-1.0),
                    cols[2].parse().unwrap_or(0),
                )
            })
            .collect();
        assert!(rows.len() > 10);
        assert!(
            rows.windows(2)
                .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1 && w[0].2 <= w[1].2)
        );
        let last = rows.last().copied().unwrap_or_default();
        assert_eq!((last.1, last.2), (1.0, 100));
        assert!((last.0 - 100.0).abs() < 0.1, "max row {last:?}");
        assert!(text.contains("Total count    =          100]"), "{text}");
    }
}
