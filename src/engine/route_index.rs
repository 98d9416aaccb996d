//! An index over route path literals, so selection checks only routes that can match.
//!
//! A byte trie holds each route's literal path prefix (its `prefix`, or its exact `path`).
//! Walking the request path through the trie collects the routes whose literal the path
//! starts with; routes without a literal (regex paths, gRPC, TCP, port-only matches) are
//! always candidates. Candidates are a bitmask over evaluation order, so iterating set bits
//! keeps first-match-wins. Tables larger than the mask fall back to a linear scan.

/// Route positions as bits; 256 routes is five times App Mesh's default quota per router.
const MASK_WORDS: usize = 4;
const MAX_ROUTES: usize = MASK_WORDS * 64;

/// A set of route positions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Candidates([u64; MASK_WORDS]);

impl Candidates {
    fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn union(&mut self, other: &Candidates) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }
}

impl IntoIterator for Candidates {
    type Item = usize;
    type IntoIter = CandidateIter;
    fn into_iter(self) -> CandidateIter {
        CandidateIter {
            words: self.0,
            word: 0,
        }
    }
}

/// Set positions in ascending order.
#[derive(Debug)]
pub(crate) struct CandidateIter {
    words: [u64; MASK_WORDS],
    word: usize,
}

impl Iterator for CandidateIter {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        while self.word < MASK_WORDS {
            let w = self.words[self.word];
            if w != 0 {
                let bit = w.trailing_zeros() as usize;
                self.words[self.word] &= w - 1;
                return Some(self.word * 64 + bit);
            }
            self.word += 1;
        }
        None
    }
}

#[derive(Clone, Debug, Default)]
struct TrieNode {
    /// Children by next byte, sorted.
    children: Vec<(u8, u32)>,
    /// Routes whose literal ends here.
    ending: Candidates,
}

/// A node of the compressed (radix) trie: chains of single-child nodes become one edge
/// label, compared with one `starts_with`.
#[derive(Clone, Debug, Default)]
struct RadixNode {
    /// Children: (first byte of the label, the whole label, node).
    children: Vec<(u8, Box<[u8]>, u32)>,
    ending: Candidates,
    has_ending: bool,
}

/// The trie and the routes without a literal.
#[derive(Clone, Debug, Default)]
pub(crate) struct RouteIndex {
    nodes: Vec<RadixNode>,
    always: Candidates,
    enabled: bool,
}

impl RouteIndex {
    /// Builds the index from each route's literal, in evaluation order.
    pub(crate) fn build(literals: &[Option<&str>]) -> RouteIndex {
        let mut index = RouteIndex {
            nodes: vec![RadixNode::default()],
            always: Candidates::default(),
            enabled: literals.len() <= MAX_ROUTES,
        };
        if !index.enabled {
            return index;
        }
        let mut trie = vec![TrieNode::default()];
        for (i, literal) in literals.iter().enumerate() {
            match literal {
                None => index.always.insert(i),
                Some(lit) => {
                    let mut node = 0usize;
                    for b in lit.bytes() {
                        node = match trie[node].children.binary_search_by_key(&b, |c| c.0) {
                            Ok(k) => trie[node].children[k].1 as usize,
                            Err(k) => {
                                let id = trie.len();
                                trie.push(TrieNode::default());
                                trie[node].children.insert(k, (b, id as u32));
                                id
                            }
                        };
                    }
                    trie[node].ending.insert(i);
                }
            }
        }
        index.nodes[0].ending = trie[0].ending;
        index.nodes[0].has_ending = trie[0].ending != Candidates::default();
        index.compress(&trie, 0, 0);
        index
    }

    /// Copies trie node `from`'s subtree under radix node `to`, merging chains.
    fn compress(&mut self, trie: &[TrieNode], from: usize, to: usize) {
        for &(first, child) in &trie[from].children {
            let mut label = vec![first];
            let mut end = child as usize;
            while trie[end].children.len() == 1 && trie[end].ending == Candidates::default() {
                let (b, next) = trie[end].children[0];
                label.push(b);
                end = next as usize;
            }
            let id = self.nodes.len();
            self.nodes.push(RadixNode {
                children: Vec::new(),
                ending: trie[end].ending,
                has_ending: trie[end].ending != Candidates::default(),
            });
            self.nodes[to]
                .children
                .push((first, label.into_boxed_slice(), id as u32));
            self.compress(trie, end, id);
        }
    }

    /// The routes that can match `path`, or `None` when the index is off (scan them all).
    pub(crate) fn candidates(&self, path: &str) -> Option<Candidates> {
        if !self.enabled {
            return None;
        }
        let mut set = self.always;
        let mut node = &self.nodes[0];
        if node.has_ending {
            set.union(&node.ending);
        }
        let mut rest = path.as_bytes();
        while let Some(&first) = rest.first() {
            let Some((_, label, next)) = node.children.iter().find(|c| c.0 == first) else {
                break;
            };
            if !rest.starts_with(label) {
                break;
            }
            rest = &rest[label.len()..];
            node = &self.nodes[*next as usize];
            if node.has_ending {
                set.union(&node.ending);
            }
        }
        Some(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_the_routes_whose_literal_prefixes_the_path() {
        let index =
            RouteIndex::build(&[Some("/api/a/"), None, Some("/api/"), Some("/b"), Some("/")]);
        let got: Vec<usize> = index
            .candidates("/api/a/x")
            .expect("enabled")
            .into_iter()
            .collect();
        assert_eq!(got, vec![0, 1, 2, 4]);
        let got: Vec<usize> = index
            .candidates("/c")
            .expect("enabled")
            .into_iter()
            .collect();
        assert_eq!(got, vec![1, 4]);
    }

    #[test]
    fn large_tables_fall_back_to_a_scan() {
        let literals = vec![Some("/x"); MAX_ROUTES + 1];
        assert!(RouteIndex::build(&literals).candidates("/x").is_none());
        let bits: Vec<usize> = RouteIndex::build(&vec![Some("/x"); MAX_ROUTES])
            .candidates("/x")
            .expect("enabled")
            .into_iter()
            .collect();
        assert_eq!(bits.len(), MAX_ROUTES);
        assert_eq!(bits.last(), Some(&(MAX_ROUTES - 1)));
    }
}
