//! HdrHistogram's percentile-distribution text (`.hgrm`), byte for byte as the Java
//! library's `outputPercentileDistribution(out, 5, 1000.0)` writes it, so the HdrHistogram
//! plotter, HistogramLogAnalyzer and wrk2-style tooling read our files as their own.
//!
//! The rows come from Java's `PercentileIterator`, re-stated here over the crate's recorded
//! values rather than taken from the crate's `iter_quantiles`: that one steps in quantiles
//! (0..1) where Java steps in percent (0..100), so a level that lands exactly on a count
//! (77.5 % of 50 000 requests) is reached in Java and missed by a rounding error in the
//! crate, and the rows differ. Mean and standard deviation are Java's sums in Java's order
//! for the same reason, and numbers are rounded the way `java.util.Formatter` rounds them.
//! `tests/fixtures/hgrm/` holds Java's own output to hold this to.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::Latencies;

/// Rows per half distance to 100 %, HdrHistogram's default.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Recorded microseconds per printed millisecond.
const SCALE: f64 = 1000.0;

/// The `.hgrm` text of a latency histogram, values in milliseconds (recorded in µs).
pub fn percentile_distribution(latencies: &Latencies) -> String {
    let hist = latencies.histogram();
    // Java prints values with as many decimals as the histogram keeps significant digits.
    let digits = usize::from(hist.sigfig());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    for row in percentile_rows(hist, TICKS_PER_HALF_DISTANCE) {
        let value = java_fixed(row.value as f64 / SCALE, digits);
        let quantile = java_fixed(row.percent / 100.0, 12);
        if row.percent == 100.0 {
            let _ = writeln!(out, "{value:>12} {quantile:>2} {:>10}", row.total);
        } else {
            let inverse = java_fixed(1.0 / (1.0 - row.percent / 100.0), 2);
            let _ = writeln!(
                out,
                "{value:>12} {quantile:>2} {:>10} {inverse:>14}",
                row.total
            );
        }
    }
    let (mean, stdev) = mean_and_stdev(hist);
    let _ = writeln!(
        out,
        "#[Mean    = {:>12}, StdDeviation   = {:>12}]",
        java_fixed(mean / SCALE, digits),
        java_fixed(stdev / SCALE, digits)
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12}, Total count    = {:>12}]",
        java_fixed(hist.max() as f64 / SCALE, digits),
        hist.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        hist.buckets(),
        sub_bucket_count(hist)
    );
    out
}

/// One row of the distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Row {
    /// The highest value equivalent to the bucket's, in recorded units.
    value: u64,
    /// The percentile level reached, 0 to 100.
    percent: f64,
    /// Values at or below `value`.
    total: u64,
}

/// Java's `PercentileIterator`: levels from 0 %, each half of the remaining distance to
/// 100 % cut into `ticks` equal steps; a row each time the values counted so far reach the
/// level (several rows at one value when it covers several levels), then, once every value
/// is counted, one row at the level reached and a last one at 100 %.
fn percentile_rows(hist: &Histogram<u64>, ticks: u32) -> Vec<Row> {
    let total = hist.len();
    let mut rows = Vec::new();
    let mut level = 0.0_f64;
    let mut counted = 0_u64;
    for v in hist.iter_recorded() {
        counted += v.count_at_value();
        let value = hist.highest_equivalent(v.value_iterated_to());
        while 100.0 * counted as f64 / total as f64 >= level {
            rows.push(Row {
                value,
                percent: level,
                total: counted,
            });
            if counted == total {
                rows.push(Row {
                    value,
                    percent: 100.0,
                    total,
                });
                return rows;
            }
            level = next_level(level, ticks);
        }
    }
    rows
}

/// Java's `incrementIterationLevel`: the step is 100 % over `ticks × 2^(halvings + 1)`,
/// where `halvings` is how many times the distance to 100 % has been halved.
fn next_level(level: f64, ticks: u32) -> f64 {
    // Java truncates the logarithm to a long, as `as` does (saturating where Java would
    // overflow, which takes more values than a u64 counts).
    let halvings = ((100.0 / (100.0 - level)).ln() / 2.0_f64.ln()) as i64;
    let exponent = i32::try_from(halvings.saturating_add(1)).unwrap_or(i32::MAX);
    let steps = i64::from(ticks).saturating_mul(2.0_f64.powi(exponent) as i64);
    level + 100.0 / steps as f64
}

/// Java's `getMean` and `getStdDeviation`, in recorded units: the sums over each recorded
/// bucket's median-equivalent value, divided once at the end (the crate divides each term,
/// which can move the last printed digit).
fn mean_and_stdev(hist: &Histogram<u64>) -> (f64, f64) {
    if hist.is_empty() {
        return (0.0, 0.0);
    }
    let total = hist.len() as f64;
    let median = |v: u64| hist.median_equivalent(v) as f64;
    let sum: f64 = hist.iter_recorded().fold(0.0, |s, v| {
        s + median(v.value_iterated_to()) * v.count_at_value() as f64
    });
    let mean = sum / total;
    let squares: f64 = hist.iter_recorded().fold(0.0, |s, v| {
        let deviation = median(v.value_iterated_to()) - mean;
        s + deviation * deviation * v.count_since_last_iteration() as f64
    });
    (mean, (squares / total).sqrt())
}

/// HdrHistogram's sub-bucket count: the slots per bucket, 2048 at three significant digits.
/// The crate keeps it private; its counts array holds `(buckets + 1) × sub-buckets / 2`.
fn sub_bucket_count(hist: &Histogram<u64>) -> usize {
    2 * hist.distinct_values() / (usize::from(hist.buckets()) + 1)
}

/// `x` with `decimals` digits after the point, as Java's `%.<decimals>f` writes it: the
/// shortest decimal digits that read back as `x` (what `Double.toString` gives), rounded
/// half up. Rust's `{:.3}` rounds the exact binary value instead, so `0.0005` (stored as a
/// hair below) gives `0.000` where Java writes `0.001`.
fn java_fixed(x: f64, decimals: usize) -> String {
    if !x.is_finite() {
        return format!("{x}");
    }
    // `{:e}` is the shortest round-trip form: `1.2345e-3` is 0.12345 × 10^(-3 + 1).
    let sci = format!("{:e}", x.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    // How many of the digits lie before the cut after `decimals` places.
    let decimals_i = i64::try_from(decimals).unwrap_or(i64::MAX);
    let keep = exponent.saturating_add(1).saturating_add(decimals_i);
    let keep = usize::try_from(keep.max(0)).unwrap_or(0);
    // The kept digits as one integer in units of 10^-decimals, most significant first.
    let mut units: Vec<u8> = (0..keep)
        .map(|i| digits.get(i).copied().unwrap_or(0))
        .collect();
    if digits.get(keep).is_some_and(|&d| d >= 5) {
        let mut i = units.len();
        loop {
            if i == 0 {
                units.insert(0, 1);
                break;
            }
            i -= 1;
            if units[i] == 9 {
                units[i] = 0;
            } else {
                units[i] += 1;
                break;
            }
        }
    }
    while units.len() < decimals + 1 {
        units.insert(0, 0);
    }
    let point = units.len() - decimals;
    let mut out = String::with_capacity(units.len() + 2);
    if x.is_sign_negative() && units.iter().any(|&d| d != 0) {
        out.push('-');
    }
    for (i, d) in units.iter().enumerate() {
        if i == point {
            out.push('.');
        }
        out.push(char::from(b'0' + d));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Our text for a fixture's values (`micros` or `micros count` per line) against the
    /// one Java HdrHistogram wrote for them (tests/fixtures/hgrm/regenerate.sh), line by line.
    fn matches_java(name: &str) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hgrm/");
        let values = std::fs::read_to_string(format!("{dir}{name}.values")).unwrap();
        let java = std::fs::read_to_string(format!("{dir}{name}.java.hgrm")).unwrap();
        let mut l = Latencies::new();
        for line in values.lines().filter(|v| !v.trim().is_empty()) {
            let mut fields = line.split_whitespace().map(|f| f.parse::<u64>().unwrap());
            let micros = fields.next().unwrap();
            for _ in 0..fields.next().unwrap_or(1) {
                l.record(Duration::from_micros(micros));
            }
        }
        let ours = percentile_distribution(&l);
        for (n, (o, j)) in ours.lines().zip(java.lines()).enumerate() {
            assert_eq!(o, j, "{name}.java.hgrm line {}", n + 1);
        }
        assert_eq!(ours, java, "{name}: the same lines, not the same bytes");
    }

    #[test]
    fn matches_javas_output_for_a_long_tail() {
        // Counts that land exactly on levels (77.5 % is 38 750 of 50 000), and levels past
        // 99.97 % that take 13 decimals, which Java rounds half up.
        matches_java("tail-50000");
        matches_java("lognormal-1000");
    }

    #[test]
    fn matches_javas_output_for_few_values() {
        // Ten values: 30 % is exactly the third; two: a mean of 0.9095 ms Java writes 0.910.
        matches_java("ten");
        matches_java("two");
        matches_java("one");
        matches_java("empty");
    }

    #[test]
    fn footer_states_the_histograms_layout() {
        let text = percentile_distribution(&Latencies::new());
        assert!(
            text.ends_with("#[Buckets =           22, SubBuckets     =         2048]\n"),
            "{text}"
        );
        // Java: 2 × 10^2 = 200 values need 2^8 slots at two significant digits.
        assert_eq!(sub_bucket_count(Latencies::coarse().histogram()), 256);
    }

    #[test]
    fn coarse_histograms_print_two_decimals_as_java_does() {
        let mut l = Latencies::coarse();
        l.record(Duration::from_micros(1500));
        let text = percentile_distribution(&l);
        assert!(text.contains("#[Max     =         1.50, Total count    =            1]"));
        assert!(text.contains("SubBuckets     =          256]"), "{text}");
    }

    #[test]
    fn fixed_point_rounds_half_up_on_the_shortest_digits() {
        assert_eq!(java_fixed(0.0005, 3), "0.001");
        assert_eq!(java_fixed(1.2345, 3), "1.235");
        assert_eq!(java_fixed(0.9997802734375, 12), "0.999780273438");
        assert_eq!(java_fixed(9.9996, 3), "10.000");
        assert_eq!(java_fixed(0.0, 3), "0.000");
        assert_eq!(java_fixed(123_456.0, 2), "123456.00");
        assert_eq!(java_fixed(0.000_04, 3), "0.000");
        assert_eq!(java_fixed(1.0 / 3.0, 12), "0.333333333333");
    }

    #[test]
    fn levels_step_as_javas_iterator_does() {
        let mut level = 0.0;
        let mut levels = Vec::new();
        for _ in 0..12 {
            levels.push(level);
            level = next_level(level, 5);
        }
        assert_eq!(
            levels,
            [
                0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 77.5
            ]
        );
    }
}
