//! Seeds: one master seed per run, one random stream per component, derived by name.
//!
//! Deriving by name (not by creation order) means adding a component never shifts another
//! component's stream, so a scenario keeps its results when an unrelated part changes.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The RNG every engine component uses: fast, portable, and stable across platforms and
/// releases of rand_chacha 0.9.
pub type Rng = ChaCha8Rng;

/// A stream for the component called `name`, derived from the master seed.
pub fn stream(master: u64, name: &str) -> Rng {
    Rng::seed_from_u64(derive(master, name))
}

/// A 64-bit child seed: FNV-1a over the name, mixed with the master seed by splitmix64.
/// Written out here rather than taken from `std::hash`, whose output may change between Rust
/// releases.
pub fn derive(master: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    splitmix64(master ^ splitmix64(h))
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    const PINNED: u64 = 4_035_186_469_585_434_416;

    #[test]
    fn streams_are_stable_and_independent() {
        // Pinned values: a change here changes every simulation's results.
        assert_eq!(derive(42, "order-v1/lb"), derive(42, "order-v1/lb"));
        assert_ne!(derive(42, "order-v1/lb"), derive(42, "order-v2/lb"));
        assert_ne!(derive(42, "order-v1/lb"), derive(43, "order-v1/lb"));
        let a: Vec<u32> = (0..4).map(|_| stream(7, "x").random()).collect();
        let b: Vec<u32> = (0..4).map(|_| stream(7, "x").random()).collect();
        assert_eq!(a[0], b[0]);
        assert_eq!(derive(42, "order-v1/lb"), PINNED);
    }
}
