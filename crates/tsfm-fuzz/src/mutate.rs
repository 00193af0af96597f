//! Mutations of an input, chosen by a seeded generator: byte-level ones (flips, cuts,
//! duplicates, inserted bytes, splices with another corpus input) and ones that know what these
//! inputs are made of (CSV/YAML/JSON fields and lines), which reach the parsers' value handling
//! instead of stopping at the first malformed byte.

/// SplitMix64: tiny, fast, and the same sequence from the same seed on every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Values that break naive parsers: empty, special floats, huge and negative numbers,
/// impossible dates, missing markers, quotes, YAML and JSON syntax, units.
const TOKENS: &[&str] = &[
    "",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "1e308",
    "-1e308",
    "1e-320",
    "0",
    "-1",
    "-0",
    "18446744073709551616",
    "9223372036854775807",
    "4294967296",
    "2147483648",
    "2024-02-30 25:61:00",
    "1970-01-01 00:00:00",
    "9999-12-31 23:59:59",
    "0000-00-00",
    "24:00",
    "-5:00",
    "null",
    "NA",
    "\"",
    "\"\"",
    "mg/dL",
    "mmol/L",
    "~",
    "[]",
    "{}",
    "- ",
    "*a",
    "&a",
    "!!binary",
    "<<: *a",
    ":",
    ",",
    "\n",
    "\r\n",
    "\t",
    "\u{feff}",
    "é",
    "\u{0}",
    "[1e12, 1e12]",
    "[0]",
    "[]",
];

/// Bytes that delimit fields in CSV, YAML, JSON and the Aleppo tables.
fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b',' | b'\n' | b'\r' | b'|' | b':' | b' ' | b'"' | b'[' | b']' | b'{' | b'}' | b'\t'
    )
}

/// One to four stacked mutations of `input` (`others`: the corpus, for splices).
pub fn mutate(input: &[u8], others: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(11) {
            0 => flip_bit(&mut out, rng),
            1 => cut_range(&mut out, rng),
            2 => duplicate_range(&mut out, rng),
            3 => insert_random(&mut out, rng),
            4 => splice(&mut out, others, rng),
            5 | 6 => replace_field(&mut out, rng),
            7 => duplicate_line(&mut out, rng),
            8 => swap_lines(&mut out, rng),
            9 => delete_line(&mut out, rng),
            _ => set_length_prefix(&mut out, rng),
        }
    }
    out
}

fn flip_bit(b: &mut [u8], rng: &mut Rng) {
    if !b.is_empty() {
        let i = rng.below(b.len());
        b[i] ^= 1 << rng.below(8);
    }
}

fn range(len: usize, rng: &mut Rng) -> (usize, usize) {
    let start = rng.below(len + 1);
    let n = rng.below((len - start).min(64) + 1);
    (start, start + n)
}

fn cut_range(b: &mut Vec<u8>, rng: &mut Rng) {
    let (s, e) = range(b.len(), rng);
    b.drain(s..e);
}

fn duplicate_range(b: &mut Vec<u8>, rng: &mut Rng) {
    let (s, e) = range(b.len(), rng);
    let copy = b[s..e].to_vec();
    let at = rng.below(b.len() + 1);
    b.splice(at..at, copy);
}

fn insert_random(b: &mut Vec<u8>, rng: &mut Rng) {
    let at = rng.below(b.len() + 1);
    let n = 1 + rng.below(8);
    let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
    b.splice(at..at, bytes);
}

fn splice(b: &mut Vec<u8>, others: &[Vec<u8>], rng: &mut Rng) {
    if others.is_empty() {
        return;
    }
    let other = &others[rng.below(others.len())];
    let (s, e) = range(other.len(), rng);
    let at = rng.below(b.len() + 1);
    b.splice(at..at, other[s..e].iter().copied());
}

/// Replaces the field around a random position (between delimiters) by a token.
fn replace_field(b: &mut Vec<u8>, rng: &mut Rng) {
    if b.is_empty() {
        return;
    }
    let at = rng.below(b.len());
    let start = b[..at]
        .iter()
        .rposition(|&c| is_delimiter(c))
        .map_or(0, |p| p + 1);
    let end = b[at..]
        .iter()
        .position(|&c| is_delimiter(c))
        .map_or(b.len(), |p| at + p);
    let token = TOKENS[rng.below(TOKENS.len())];
    b.splice(start..end.max(start), token.bytes());
}

fn lines(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < b.len() {
        out.push((start, b.len()));
    }
    out
}

fn duplicate_line(b: &mut Vec<u8>, rng: &mut Rng) {
    let l = lines(b);
    if let Some(&(s, e)) = l.get(rng.below(l.len().max(1))) {
        let copy = b[s..e].to_vec();
        let (at, _) = l[rng.below(l.len())];
        b.splice(at..at, copy);
    }
}

/// Out-of-order rows: the timestamps of time series files are no longer sorted.
fn swap_lines(b: &mut Vec<u8>, rng: &mut Rng) {
    let l = lines(b);
    if l.len() < 2 {
        return;
    }
    let (i, j) = (rng.below(l.len()), rng.below(l.len()));
    let (i, j) = (i.min(j), i.max(j));
    if i == j {
        return;
    }
    let mut out = Vec::with_capacity(b.len());
    for (k, &(s, e)) in l.iter().enumerate() {
        let (s, e) = if k == i {
            l[j]
        } else if k == j {
            l[i]
        } else {
            (s, e)
        };
        out.extend_from_slice(&b[s..e]);
        if !out.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    *b = out;
}

fn delete_line(b: &mut Vec<u8>, rng: &mut Rng) {
    let l = lines(b);
    if !l.is_empty() {
        let (s, e) = l[rng.below(l.len())];
        b.drain(s..e);
    }
}

/// A safetensors file starts with its header's length (u64, little endian): absurd lengths
/// must be refused before anything is allocated for them.
fn set_length_prefix(b: &mut [u8], rng: &mut Rng) {
    if b.len() < 8 {
        return;
    }
    let current = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let values = [
        0,
        1,
        current.wrapping_add(1),
        current.wrapping_sub(1),
        1 << 31,
        2_000_000_000,
        u64::MAX,
        u64::MAX / 2,
        b.len() as u64,
    ];
    let v = values[rng.below(values.len())];
    b[..8].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_mutations() {
        let input = b"id,timestamp,value\na,2024-01-01 00:00,5.5\na,2024-01-01 00:05,5.6\n";
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..50)
                .map(|_| mutate(input, &[], &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        // They do change the input (a few mutations may cancel out, most do not).
        let changed = run(3).iter().filter(|m| m.as_slice() != input).count();
        assert!(changed > 40, "{changed}");
    }

    #[test]
    fn a_field_is_replaced_between_its_delimiters() {
        // Seeds are searched for one that hits the value field and picks "NaN", to show
        // the field boundaries are right.
        let input = b"a,5.5\n";
        let found = (0..10_000u64).any(|seed| {
            let mut b = input.to_vec();
            replace_field(&mut b, &mut Rng::new(seed));
            b == b"a,NaN\n"
        });
        assert!(found);
    }
}
