#![no_main]
//! ETF: the crate's own promises on arbitrary bytes (`discord_gateway::fuzzing::etf`), then a
//! differential check against `eetf`, an independent decoder: on input our reader accepts, eetf
//! reads the same tree, and its canonical re-encoding reads back the same with ours too.
//!
//! eetf only gets input our reader accepted: it reserves memory for a list's claimed length
//! before reading it, so a hostile count makes it run out of memory. That eetf's terms are never
//! refused by our reader is checked in the core's unit tests, on generated terms.

use discord_gateway::codec::etf::{Reader, Term};
use eetf::Term as E;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    discord_gateway::fuzzing::etf(data);
    let Ok(mut reader) = Reader::message(data) else {
        return;
    };
    let Ok(direct) = read(&mut reader, 0) else {
        return;
    };
    if reader.finish().is_err() || eetf_differs_by_design(data) || has_duplicate_keys(&direct) {
        return;
    }
    let term = E::decode(data).unwrap_or_else(|e| panic!("eetf refused what we read: {e}"));
    let Some(expected) = tree(&term, 0) else {
        return; // pids, refs, funs, bit strings or integers past 64 bits: not Discord's terms
    };
    let mut bytes = Vec::new();
    if term.encode(&mut bytes).is_err() {
        return;
    }
    let mut reader = Reader::message(&bytes).expect("eetf writes the version byte");
    let ours = read(&mut reader, 0).unwrap_or_else(|e| panic!("eetf's {term} failed: {e}"));
    reader.finish().expect("one term");
    assert_eq!(ours, expected, "{term}");
    assert_eq!(direct, expected, "{term}");
});

/// Whether the terms hold what eetf reads otherwise than Erlang: a legacy `FLOAT_EXT` (tag 99),
/// whose text eetf parses as an `f32` (ours, as Erlang, an `f64`), or a Latin-1 atom with
/// non-ASCII characters, which eetf reads as UTF-8 (and refuses).
fn eetf_differs_by_design(data: &[u8]) -> bool {
    let mut reader = Reader::message(data).expect("read once already");
    let mut due: u64 = 1;
    while due > 0 {
        due -= 1;
        if reader.bytes().get(reader.position()) == Some(&99) {
            return true;
        }
        due += match reader.next().expect("read once already") {
            Term::Atom(atom) if atom.is_latin1() && !atom.as_bytes().is_ascii() => return true,
            Term::List(len) => u64::from(len) + 1,
            Term::Tuple(arity) => u64::from(arity),
            Term::Map(arity) => 2 * u64::from(arity),
            _ => 0,
        };
    }
    false
}

/// Whether a map repeats a key: ours keeps every entry as sent, eetf (a hash map) only one.
fn has_duplicate_keys(tree: &Tree) -> bool {
    match tree {
        Tree::Map(pairs) => {
            pairs.windows(2).any(|w| w[0].0 == w[1].0)
                || pairs
                    .iter()
                    .any(|(k, v)| has_duplicate_keys(k) || has_duplicate_keys(v))
        }
        Tree::List(items, tail) => items.iter().any(has_duplicate_keys) || has_duplicate_keys(tail),
        Tree::Tuple(items) => items.iter().any(has_duplicate_keys),
        _ => false,
    }
}

#[derive(Debug, PartialEq)]
enum Tree {
    Int(i128),
    Float(u64),
    Atom(String),
    Bin(Vec<u8>),
    List(Vec<Tree>, Box<Tree>),
    Nil,
    Tuple(Vec<Tree>),
    Map(Vec<(Tree, Tree)>),
}

/// Map entries sorted by their debug text: order is not part of a map.
fn entries(mut pairs: Vec<(Tree, Tree)>) -> Tree {
    pairs.sort_by_cached_key(|pair| format!("{pair:?}"));
    Tree::Map(pairs)
}

fn read(
    reader: &mut Reader<'_>,
    depth: usize,
) -> Result<Tree, discord_gateway::codec::etf::EtfError> {
    Ok(match reader.next()? {
        Term::Integer(value) => Tree::Int(value),
        Term::Float(value) => Tree::Float(value.to_bits()),
        Term::Atom(atom) => Tree::Atom(atom.chars().collect()),
        Term::Binary(bytes) => Tree::Bin(bytes.to_vec()),
        Term::ByteList(bytes) => Tree::List(
            bytes.iter().map(|&b| Tree::Int(b.into())).collect(),
            Box::new(Tree::Nil),
        ),
        Term::Nil => Tree::Nil,
        Term::List(len) => {
            let items: Vec<Tree> = (0..len)
                .map(|_| read(reader, depth + 1))
                .collect::<Result<_, _>>()?;
            match read(reader, depth + 1)? {
                // A LIST_EXT of no elements ending in NIL is `[]`, as NIL_EXT is: Erlang and
                // eetf read both as the empty list (found by this target in CI).
                Tree::Nil if items.is_empty() => Tree::Nil,
                tail => Tree::List(items, Box::new(tail)),
            }
        }
        Term::Tuple(arity) => Tree::Tuple(
            (0..arity)
                .map(|_| read(reader, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Term::Map(arity) => entries(
            (0..arity)
                .map(|_| Ok((read(reader, depth + 1)?, read(reader, depth + 1)?)))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// eetf's term as a tree, or `None` for anything outside the terms Discord sends (or nested
/// past the bound, which our reader refuses by design and is checked on its own).
fn tree(term: &E, depth: usize) -> Option<Tree> {
    if depth > 100 {
        return None;
    }
    let all = |items: &[E]| {
        items
            .iter()
            .map(|t| tree(t, depth + 1))
            .collect::<Option<Vec<_>>>()
    };
    Some(match term {
        E::Atom(atom) => Tree::Atom(atom.name.clone()),
        E::FixInteger(int) => Tree::Int(int.value.into()),
        E::BigInteger(big) => {
            let value = i128::try_from(&big.value).ok()?;
            if value.unsigned_abs() > u128::from(u64::MAX) {
                return None;
            }
            Tree::Int(value)
        }
        E::Float(float) => Tree::Float(float.value.to_bits()),
        E::Binary(binary) => Tree::Bin(binary.bytes.clone()),
        E::ByteList(list) => Tree::List(
            list.bytes.iter().map(|&b| Tree::Int(b.into())).collect(),
            Box::new(Tree::Nil),
        ),
        E::List(list) if list.elements.is_empty() => Tree::Nil,
        E::List(list) => {
            // eetf packs a list of integers below 256 as STRING_EXT without checking for
            // negatives (it writes -1 as 255): such lists do not round-trip through it.
            let small = |e: &E| matches!(e, E::FixInteger(i) if i.value < 0x100);
            if list.elements.iter().all(small)
                && list
                    .elements
                    .iter()
                    .any(|e| matches!(e, E::FixInteger(i) if i.value < 0))
            {
                return None;
            }
            Tree::List(all(&list.elements)?, Box::new(Tree::Nil))
        }
        E::ImproperList(list) => {
            Tree::List(all(&list.elements)?, Box::new(tree(&list.last, depth + 1)?))
        }
        E::Tuple(tuple) => Tree::Tuple(all(&tuple.elements)?),
        E::Map(map) => entries(
            map.map
                .iter()
                .map(|(k, v)| Some((tree(k, depth + 1)?, tree(v, depth + 1)?)))
                .collect::<Option<Vec<_>>>()?,
        ),
        _ => return None,
    })
}
