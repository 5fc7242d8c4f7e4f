//! Random inputs: edits of corpus seeds and text over a target's dictionary.

use proptest::prelude::*;

use super::harness::corpus;

/// One edit of a byte string; positions wrap around its length.
#[derive(Debug, Clone)]
pub(super) enum Edit {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Repeat(usize, usize, usize),
}

pub(super) fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Set(p, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(p, b)| Edit::Insert(p, b)),
        (any::<usize>(), 1usize..64).prop_map(|(p, n)| Edit::Delete(p, n)),
        (any::<usize>(), 1usize..16, 1usize..64).prop_map(|(p, n, k)| Edit::Repeat(p, n, k)),
    ]
}

/// Applies edits to `bytes`, with `tokens` as extra insertions.
pub(super) fn apply(mut bytes: Vec<u8>, edits: &[Edit], tokens: &[&[u8]]) -> Vec<u8> {
    for e in edits {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match e {
            Edit::Set(p, b) if !bytes.is_empty() => {
                let i = p % bytes.len();
                bytes[i] = *b;
            }
            Edit::Set(..) => {}
            Edit::Insert(p, b) => {
                let i = at(*p, bytes.len());
                // Half the insertions are dictionary tokens, which reach
                // deeper than random bytes.
                let ins: &[u8] = if b[0] % 2 == 0 && !tokens.is_empty() {
                    tokens[usize::from(b[0]) % tokens.len()]
                } else {
                    b
                };
                bytes.splice(i..i, ins.iter().copied());
            }
            Edit::Delete(p, n) => {
                let i = at(*p, bytes.len());
                let end = (i + n).min(bytes.len());
                bytes.drain(i..end);
            }
            Edit::Repeat(p, n, k) => {
                let i = at(*p, bytes.len());
                let end = (i + n).min(bytes.len());
                let chunk: Vec<u8> = bytes[i..end].to_vec();
                for _ in 0..*k {
                    bytes.splice(end..end, chunk.iter().copied());
                }
            }
        }
    }
    bytes
}

/// A seed of `target` with random edits.
pub(super) fn mutated(
    target: &str,
    tokens: &'static [&'static [u8]],
) -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<Vec<u8>> = corpus(target).into_iter().map(|(_, b)| b).collect();
    (
        prop::sample::select(seeds),
        prop::collection::vec(edit(), 1..12),
    )
        .prop_map(move |(seed, edits)| apply(seed, &edits, tokens))
}

/// Text made of dictionary tokens and random characters.
pub(super) fn token_text(
    tokens: &'static [&'static [u8]],
    max: usize,
) -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => prop::sample::select(tokens).prop_map(<[u8]>::to_vec),
        1 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
    ];
    prop::collection::vec(piece, 0..max).prop_map(|v| v.concat())
}
