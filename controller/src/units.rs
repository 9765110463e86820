//! Durations and sizes as written on the command line: `500ms`, `2s`, `64M`, `65536K`.
//!
//! Every parse is exact and checked: a value that overflows `u64` (microseconds, bytes), a
//! fraction finer than one microsecond or one byte, or a malformed number is an error, never a
//! wrap or a rounding.
//!
//! [`Size`], [`Span`] and [`Count`] are such values within bounds of their type's own
//! (`Size<MIN_MEMORY, MAX_MEMORY>` is a memory limit: the spec module names them). Each is
//! made in one place, its `new`, which checks the bounds; its [`FromStr`] (the command line)
//! and its [`Deserialize`] (batch lines, profiles) read the same text through it, so every
//! entry takes the same values and refuses the others with the same words.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The most decimal places a number may have (trailing zeros aside): enough for any exact
/// value of the units below, and small enough for exact integer arithmetic.
pub const MAX_DECIMALS: usize = 18;

/// The duration units, largest first, in microseconds.
const DURATION_UNITS: [(&str, u64); 4] = [
    ("m", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
    ("us", 1),
];

/// The size units, largest first, in bytes. `B` or `iB` may follow any of them (`64MiB`),
/// and case does not matter.
const SIZE_UNITS: [(&str, u64); 5] = [
    ("T", 1 << 40),
    ("G", 1 << 30),
    ("M", 1 << 20),
    ("K", 1 << 10),
    ("", 1),
];

/// A value that must be one of a few names: `"lax" is not one of default, strict, none`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not one of {choices}")]
pub struct NotOneOf {
    /// The value as given.
    pub value: String,
    /// The names it may be, comma-separated.
    pub choices: String,
}

impl NotOneOf {
    /// `value`, refused: it is none of `choices`.
    pub fn new(value: &str, choices: impl Into<String>) -> NotOneOf {
        NotOneOf {
            value: value.to_string(),
            choices: choices.into(),
        }
    }
}

/// A count, duration or size that does not parse: the text as given, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?}: {why}")]
pub struct ParseError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub why: Why,
}

/// What is wrong with a count, duration or size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Why {
    /// A count with something else than decimal digits (a sign, a space).
    #[error("not a count (decimal digits only)")]
    NotACount,
    /// A count past `u64`.
    #[error("too large a count")]
    CountTooLarge,
    /// A duration without its unit.
    #[error("a duration needs a unit (us, ms, s, m), e.g. 500ms")]
    NoDurationUnit,
    /// A duration unit runbox does not know.
    #[error("unknown duration unit {0:?} (us, ms, s, m)")]
    DurationUnit(String),
    /// Not `DIGITS[.DIGITS]` before a duration unit.
    #[error("not a duration")]
    NotADuration,
    /// A part of a microsecond.
    #[error("finer than 1us")]
    FinerThanMicrosecond,
    /// A size unit runbox does not know.
    #[error("unknown size unit {0:?} (K, M, G, T; B or iB optional)")]
    SizeUnit(String),
    /// Not `DIGITS[.DIGITS]` before a size unit.
    #[error("not a size")]
    NotASize,
    /// A part of a byte.
    #[error("not a whole number of bytes")]
    PartOfAByte,
    /// More significant decimal places than any unit needs.
    #[error("more than {MAX_DECIMALS} decimal places")]
    TooManyDecimals,
    /// A duration past `u64` microseconds.
    #[error("too long a duration")]
    TooLong,
    /// A size past `u64` bytes.
    #[error("too large a size")]
    TooLarge,
}

fn refuse<T>(text: &str, why: Why) -> Result<T, ParseError> {
    Err(ParseError {
        text: text.to_string(),
        why,
    })
}

/// Parses a count: decimal digits only (no sign, no spaces), e.g. `64`.
pub fn parse_count(text: &str) -> Result<u64, ParseError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return refuse(text, Why::NotACount);
    }
    text.parse().or_else(|_| refuse(text, Why::CountTooLarge))
}

/// Parses `N[.F](us|ms|s|m)`, e.g. `500ms`, `1.5s`, `2m`. A unit is required.
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let (number, unit) = split_number(text);
    let Some(&(_, micros_per_unit)) = DURATION_UNITS.iter().find(|(name, _)| *name == unit) else {
        return refuse(
            text,
            match unit {
                "" => Why::NoDurationUnit,
                _ => Why::DurationUnit(unit.to_string()),
            },
        );
    };
    match scaled(number, micros_per_unit) {
        Ok(micros) => Ok(Duration::from_micros(micros)),
        Err(Scale::Malformed) => refuse(text, Why::NotADuration),
        Err(Scale::TooFine) => refuse(text, Why::FinerThanMicrosecond),
        Err(Scale::TooManyDecimals) => refuse(text, Why::TooManyDecimals),
        Err(Scale::Overflow) => refuse(text, Why::TooLong),
    }
}

/// Parses `N[.F][K|M|G|T][B|iB]` in bytes, binary units: `64M`, `65536K`, `1G`, `4096`.
pub fn parse_size(text: &str) -> Result<u64, ParseError> {
    let (number, unit) = split_number(text);
    let upper = unit.to_ascii_uppercase();
    let base = match upper.strip_suffix("IB") {
        // `iB` alone is no unit: `KiB`, `MiB`..., never a bare `1iB`.
        Some("") => None,
        Some(base) => Some(base),
        None => Some(upper.strip_suffix('B').unwrap_or(&upper)),
    };
    let multiplier = base.and_then(|base| {
        SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == base)
            .map(|&(_, m)| m)
    });
    let Some(multiplier) = multiplier else {
        return refuse(text, Why::SizeUnit(unit.to_string()));
    };
    match scaled(number, multiplier) {
        Ok(bytes) => Ok(bytes),
        Err(Scale::Malformed) => refuse(text, Why::NotASize),
        Err(Scale::TooFine) => refuse(text, Why::PartOfAByte),
        Err(Scale::TooManyDecimals) => refuse(text, Why::TooManyDecimals),
        Err(Scale::Overflow) => refuse(text, Why::TooLarge),
    }
}

/// Writes `d` as [`parse_duration`] reads it, in the largest unit that holds it exactly
/// (`1500ms`, `2s`, `3m`). Below a microsecond is dropped: no limit is finer.
pub fn format_duration(d: Duration) -> String {
    let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let (name, per) = DURATION_UNITS
        .iter()
        .find(|(_, per)| micros.is_multiple_of(*per) && micros != 0)
        .copied()
        .unwrap_or(("s", 1_000_000));
    format!("{}{name}", micros / per)
}

/// Writes `bytes` as [`parse_size`] reads it, in the largest unit that holds it exactly
/// (`64M`, `1536K`, `4097`).
pub fn format_size(bytes: u64) -> String {
    let (name, per) = SIZE_UNITS
        .iter()
        .find(|(_, per)| bytes.is_multiple_of(*per) && bytes != 0)
        .copied()
        .unwrap_or(("", 1));
    format!("{}{name}", bytes / per)
}

/// A value past the bounds of its type: `must be at most 1T (1099511627776 bytes)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutOfBounds {
    /// Zero, where the least is the smallest unit above it.
    #[error("must be more than zero")]
    Zero,
    /// Below the least, written out (`1048576 bytes`).
    #[error("must be at least {0}")]
    Below(String),
    /// Above the most, written out (`1440m (24 hours)`).
    #[error("must be at most {0}")]
    Above(String),
}

/// A size, duration or count that does not parse, or is past its type's bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadValue {
    /// It does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// It parses, past the bounds.
    #[error(transparent)]
    Bounds(#[from] OutOfBounds),
}

/// A value from `LEAST` to `MOST` steps of its unit `U`, made only by [`Bounded::new`]: the
/// one place its bounds are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bounded<U: Unit, const LEAST: u64, const MOST: u64>(U::Value);

/// A size in bytes, from `LEAST` to `MOST`, written as [`parse_size`] reads it (`64M`).
pub type Size<const LEAST: u64, const MOST: u64> = Bounded<Bytes, LEAST, MOST>;
/// A duration from `LEAST` to `MOST` microseconds, written as [`parse_duration`] reads it
/// (`500ms`).
pub type Span<const LEAST: u64, const MOST: u64> = Bounded<Micros, LEAST, MOST>;
/// A count from `LEAST` to `MOST`, written in decimal digits (`64`); in a batch line or a
/// profile, a number.
pub type Count<const LEAST: u64, const MOST: u64> = Bounded<Ones, LEAST, MOST>;

/// What a [`Bounded`] value counts in: how it is read, and how its bounds read.
pub trait Unit {
    /// The value: bytes, a duration, a count.
    type Value: Copy + fmt::Debug + Eq + Ord + std::hash::Hash;
    /// Reads the text of the command line.
    const PARSE: fn(&str) -> Result<Self::Value, ParseError>;
    /// What a batch line or a profile holds, as serde's errors say it.
    const EXPECTING: &'static str;
    /// `n` steps of the unit (bytes, microseconds, ones).
    fn steps(n: u64) -> Self::Value;
    /// Reads a batch line's or a profile's value: a string, read as the command line's,
    /// unless the unit says otherwise. `least` and `most` are for its messages.
    fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
        least: u64,
        most: u64,
    ) -> Result<Self::Value, D::Error> {
        let _ = (least, most);
        d.deserialize_str(Text(Self::PARSE, Self::EXPECTING))
    }
    /// The bound of `n` steps, written out: `1T (1099511627776 bytes)`, `1440m (24 hours)`.
    fn bound(n: u64) -> String;
    /// Why a value below the least bound, `n` steps, is refused.
    fn below(n: u64) -> OutOfBounds {
        OutOfBounds::Below(Self::bound(n))
    }
}

impl<U: Unit, const LEAST: u64, const MOST: u64> Bounded<U, LEAST, MOST> {
    /// `value`, if within the bounds.
    pub fn new(value: U::Value) -> Result<Self, OutOfBounds> {
        if value < U::steps(LEAST) {
            Err(U::below(LEAST))
        } else if value > U::steps(MOST) {
            Err(OutOfBounds::Above(U::bound(MOST)))
        } else {
            Ok(Bounded(value))
        }
    }

    /// `value`, or the bound it is past (for an entry whose own bounds are wider, such as
    /// go-judge's, which takes any 64-bit value).
    pub fn clamped(value: U::Value) -> Self {
        Bounded(value.clamp(U::steps(LEAST), U::steps(MOST)))
    }

    /// The value.
    pub fn get(self) -> U::Value {
        self.0
    }
}

impl<U: Unit, const LEAST: u64, const MOST: u64> FromStr for Bounded<U, LEAST, MOST> {
    type Err = BadValue;

    fn from_str(text: &str) -> Result<Self, BadValue> {
        Ok(Bounded::new((U::PARSE)(text)?)?)
    }
}

impl<'de, U: Unit, const LEAST: u64, const MOST: u64> Deserialize<'de> for Bounded<U, LEAST, MOST> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Bounded::new(U::deserialize(d, LEAST, MOST)?).map_err(de::Error::custom)
    }
}

/// Sizes, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes;

impl Unit for Bytes {
    type Value = u64;
    const PARSE: fn(&str) -> Result<u64, ParseError> = parse_size;
    const EXPECTING: &'static str = "a size such as \"64M\"";

    fn steps(n: u64) -> u64 {
        n
    }

    fn bound(n: u64) -> String {
        format!("{} ({n} bytes)", format_size(n))
    }

    fn below(n: u64) -> OutOfBounds {
        OutOfBounds::Below(format!("{n} bytes"))
    }
}

/// Durations, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Micros;

impl Unit for Micros {
    type Value = Duration;
    const PARSE: fn(&str) -> Result<Duration, ParseError> = parse_duration;
    const EXPECTING: &'static str = "a duration such as \"500ms\"";

    fn steps(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    fn bound(n: u64) -> String {
        const HOUR: u64 = 3_600_000_000;
        match n.is_multiple_of(HOUR) && n != 0 {
            true => format!("{} ({} hours)", format_duration(Self::steps(n)), n / HOUR),
            false => format_duration(Self::steps(n)),
        }
    }

    fn below(n: u64) -> OutOfBounds {
        match n {
            1 => OutOfBounds::Zero,
            _ => OutOfBounds::Below(Self::bound(n)),
        }
    }
}

/// Counts, in ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ones;

impl Unit for Ones {
    type Value = u64;
    const PARSE: fn(&str) -> Result<u64, ParseError> = parse_count;
    const EXPECTING: &'static str = "a whole number";

    fn steps(n: u64) -> u64 {
        n
    }

    /// A number, not a string: anything else is named as written (`-1`, `2.5`, `"4"`).
    fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
        least: u64,
        most: u64,
    ) -> Result<u64, D::Error> {
        d.deserialize_any(Whole { least, most })
    }

    fn bound(n: u64) -> String {
        n.to_string()
    }
}

/// Reads a string with `.0`: a size or a duration as on the command line.
struct Text<T>(fn(&str) -> Result<T, ParseError>, &'static str);

impl<T> Visitor<'_> for Text<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        (self.0)(text).map_err(E::custom)
    }
}

/// Reads a whole number, in `least..=most` or not (its bounds are [`Bounded::new`]'s).
struct Whole {
    least: u64,
    most: u64,
}

impl Whole {
    fn refuse<E: de::Error>(&self, shown: impl fmt::Display) -> E {
        let (least, most) = (self.least, self.most);
        E::custom(format!(
            "{shown} is not a whole number from {least} to {most}"
        ))
    }
}

impl Visitor<'_> for Whole {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a whole number from {} to {}", self.least, self.most)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<u64, E> {
        Ok(n)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<u64, E> {
        u64::try_from(n).map_err(|_| self.refuse(n))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<u64, E> {
        // As JSON writes it: `1.8446744073709552e+19`, `2.5`.
        match serde_json::Number::from_f64(n) {
            Some(n) => Err(self.refuse(n)),
            None => Err(self.refuse(n)),
        }
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<u64, E> {
        Err(self.refuse(b))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
        Err(self.refuse(format_args!("{text:?}")))
    }
}

/// `text` cut where the number (digits and dots) ends.
fn split_number(text: &str) -> (&str, &str) {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    text.split_at(split)
}

/// Why a number could not be scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scale {
    /// Not `DIGITS[.DIGITS]`.
    Malformed,
    /// It has a part smaller than the smallest unit (1us, 1 byte).
    TooFine,
    /// More than [`MAX_DECIMALS`] significant decimal places.
    TooManyDecimals,
    /// The value does not fit in a `u64`.
    Overflow,
}

/// `number * multiplier` for a decimal `number` with an optional fraction, exactly.
fn scaled(number: &str, multiplier: u64) -> Result<u64, Scale> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || number.ends_with('.') {
        return Err(Scale::Malformed);
    }
    // Leading zeros never overflow `u64::from_str`; only the value can.
    let whole = whole.parse::<u64>().map_err(|_| Scale::Overflow)?;
    let value = whole.checked_mul(multiplier).ok_or(Scale::Overflow)?;
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        return Ok(value);
    }
    if fraction.len() > MAX_DECIMALS {
        return Err(Scale::TooManyDecimals);
    }
    // Below 10^18 and times at most 2^40: both fit in a u128.
    let numerator =
        u128::from(fraction.parse::<u64>().map_err(|_| Scale::Malformed)?) * u128::from(multiplier);
    let denominator = 10u128.pow(fraction.len() as u32);
    if !numerator.is_multiple_of(denominator) {
        return Err(Scale::TooFine);
    }
    // numerator / denominator < multiplier: it fits.
    let part = u64::try_from(numerator / denominator).map_err(|_| Scale::Overflow)?;
    value.checked_add(part).ok_or(Scale::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_are_digits_only() {
        assert_eq!(parse_count("64"), Ok(64));
        assert_eq!(parse_count("0"), Ok(0));
        for bad in [
            "+5",
            "-1",
            " 5",
            "5 ",
            "",
            "0x10",
            "1e3",
            "18446744073709551616",
        ] {
            assert!(parse_count(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1.500000s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("007s"), Ok(Duration::from_secs(7)));
        for bad in [
            "",
            "5",
            "ms",
            "1.s",
            ".5s",
            "-1s",
            "+1s",
            "1h",
            "1.5us",
            "1..5s",
            "1.2.3s",
            "99999999999999999999s",
            "1 s",
            " 1s",
            "1e30s",
            "1E3ms",
            "inf s",
            "NaNs",
            "1s ",
            "1S",
            "1sec",
            "١s", // an Arabic-Indic digit: not ASCII
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn durations_at_the_edge_of_u64_are_checked_not_wrapped() {
        // u64::MAX microseconds, exactly.
        assert_eq!(
            parse_duration("18446744073709551615us"),
            Ok(Duration::from_micros(u64::MAX))
        );
        for (text, says) in [
            ("18446744073709551616us", "too long a duration"), // 2^64
            ("18446744073709.551616s", "too long a duration"), // 2^64 us, in s
            ("18446744073709551615s", "too long a duration"),
            ("18446744073709551616s", "too long a duration"), // 2^64 s
            ("18446744073709551615m", "too long a duration"),
            ("307445734561.87m", "too long a duration"), // the fraction tips it over
            ("99999999999999999999999999999s", "too long a duration"),
            ("0.0000001s", "finer than 1us"),
            ("1.0000001s", "finer than 1us"),
            ("1.0000000000000000001s", "more than 18 decimal places"),
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.to_string().ends_with(says), "{text}: {err}");
        }
        assert_eq!(
            parse_duration("18446744073709.551615s"),
            Ok(Duration::from_micros(u64::MAX))
        );
        // Zeros past the last significant place cost nothing.
        assert_eq!(
            parse_duration("1.000000000000000000000000000000s"),
            Ok(Duration::from_secs(1))
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("65536K"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("1gib"), Ok(1 << 30));
        assert_eq!(parse_size("512kb"), Ok(512 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4096B"), Ok(4096));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in [
            "",
            "M",
            "12Q",
            "1.5",
            "1.25B",
            "-1M",
            "99999999999999999999G",
            "1 M",
            "1iB",
            "1KIBIB",
            "1KBB",
            "1P",
            "1e9",
            "0x10",
            "1_000",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn sizes_at_the_edge_of_u64_are_checked_not_wrapped() {
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        for (text, says) in [
            ("18446744073709551616", "too large a size"), // 2^64
            ("18446744073709551615K", "too large a size"),
            ("18014398509481984K", "too large a size"), // 2^54 K = 2^64
            ("16777216T", "too large a size"),          // 2^24 T = 2^64
            ("16777215.9999999999T", "not a whole number of bytes"),
            ("0.1", "not a whole number of bytes"),
        ] {
            let err = parse_size(text).unwrap_err();
            assert!(err.to_string().ends_with(says), "{text}: {err}");
        }
        // The largest whole number of K below 2^64.
        assert_eq!(parse_size("18014398509481983K"), Ok(u64::MAX - 1023));
    }

    #[test]
    fn formats_use_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(86400)), "1440m");
        assert_eq!(format_duration(Duration::from_secs(2)), "2s");
        assert_eq!(format_duration(Duration::from_micros(7)), "7us");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_size(64 << 20), "64M");
        assert_eq!(format_size(1536), "1536");
        assert_eq!(format_size(1 << 40), "1T");
        assert_eq!(format_size(0), "0");
    }

    #[test]
    fn bounded_values_are_made_only_within_their_bounds() {
        type Mem = Size<1024, 4096>;
        assert_eq!("2K".parse::<Mem>().map(Size::get), Ok(2048));
        assert_eq!("1K".parse::<Mem>().map(Size::get), Ok(1024));
        assert_eq!("4K".parse::<Mem>().map(Size::get), Ok(4096));
        for (text, says) in [
            ("1023", "must be at least 1024 bytes"),
            ("4097", "must be at most 4K (4096 bytes)"),
            (
                "4Q",
                "\"4Q\": unknown size unit \"Q\" (K, M, G, T; B or iB optional)",
            ),
        ] {
            assert_eq!(text.parse::<Mem>().unwrap_err().to_string(), says, "{text}");
        }
        type Day = Span<1, 86_400_000_000>;
        assert_eq!(
            "0s".parse::<Day>().unwrap_err().to_string(),
            "must be more than zero"
        );
        assert_eq!(
            "1441m".parse::<Day>().unwrap_err().to_string(),
            "must be at most 1440m (24 hours)"
        );
        assert_eq!(
            "500us".parse::<Span<1000, 1500>>().unwrap_err().to_string(),
            "must be at least 1ms"
        );
        assert_eq!(
            "2ms".parse::<Span<1000, 1500>>().unwrap_err().to_string(),
            "must be at most 1500us"
        );
        type Few = Count<1, 8>;
        assert_eq!("8".parse::<Few>().map(Count::get), Ok(8));
        assert_eq!(
            "0".parse::<Few>().unwrap_err().to_string(),
            "must be at least 1"
        );
        assert_eq!(
            "9".parse::<Few>().unwrap_err().to_string(),
            "must be at most 8"
        );
        assert!("+8".parse::<Few>().is_err());
    }

    #[test]
    fn serde_reads_the_same_text_and_numbers_as_written() {
        type Mem = Size<1024, 4096>;
        type Few = Count<1, 8>;
        let read = |json: &str| serde_json::from_str::<Mem>(json).map_err(|e| e.to_string());
        assert_eq!(read("\"4K\"").map(Size::get), Ok(4096));
        assert!(read("\"5K\"")
            .unwrap_err()
            .starts_with("must be at most 4K"));
        assert!(read("4096")
            .unwrap_err()
            .contains("expected a size such as \"64M\""));
        let count = |json: &str| serde_json::from_str::<Few>(json).map_err(|e| e.to_string());
        assert_eq!(count("8").map(Count::get), Ok(8));
        for (json, says) in [
            ("9", "must be at most 8"),
            ("-1", "-1 is not a whole number from 1 to 8"),
            ("2.5", "2.5 is not a whole number from 1 to 8"),
            ("\"4\"", "\"4\" is not a whole number from 1 to 8"),
            ("true", "true is not a whole number from 1 to 8"),
        ] {
            let err = count(json).unwrap_err();
            assert!(err.starts_with(says), "{json}: {err}");
        }
        // TOML's integers are signed: a count is read from them as well.
        #[derive(serde::Deserialize)]
        struct T {
            n: Few,
        }
        assert_eq!(toml::from_str::<T>("n = 3").map(|t| t.n.get()), Ok(3));
        assert!(toml::from_str::<T>("n = -3").is_err());
    }

    /// `WHOLE.FRACTION * per` in plain u128 arithmetic, if it is a whole number within u64.
    fn reference(whole: &str, fraction: Option<&str>, per: u64) -> Option<u64> {
        let fraction = fraction.unwrap_or("");
        let scale = 10u128.pow(fraction.len() as u32);
        let number = whole.parse::<u128>().unwrap() * scale + fraction.parse::<u128>().unwrap_or(0);
        let total = number * u128::from(per);
        total
            .is_multiple_of(scale)
            .then(|| u64::try_from(total / scale).ok())
            .flatten()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_text_parses_or_is_refused_without_a_panic(text in "\\PC{0,40}") {
            let _ = parse_duration(&text);
            let _ = parse_size(&text);
        }

        #[test]
        fn a_number_with_a_unit_is_exact_or_refused(
            whole in "[0-9]{1,20}",
            fraction in proptest::option::of("[0-9]{0,6}"),
            duration_unit in 0..DURATION_UNITS.len(),
            size_unit in 0..SIZE_UNITS.len(),
        ) {
            let number = match &fraction {
                Some(f) => format!("{whole}.{f}"),
                None => whole.clone(),
            };
            let (d_name, d_per) = DURATION_UNITS[duration_unit];
            let (s_name, s_per) = SIZE_UNITS[size_unit];
            let d = parse_duration(&format!("{number}{d_name}"));
            let s = parse_size(&format!("{number}{s_name}"));
            if fraction.as_deref() == Some("") {
                // "1." is malformed.
                prop_assert!(d.is_err() && s.is_err());
            } else {
                let d = d.map(|d| d.as_micros() as u64);
                prop_assert_eq!(d.ok(), reference(&whole, fraction.as_deref(), d_per));
                prop_assert_eq!(s.ok(), reference(&whole, fraction.as_deref(), s_per));
            }
        }

        #[test]
        fn a_formatted_duration_parses_back(micros in any::<u64>()) {
            let d = Duration::from_micros(micros);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn a_formatted_size_parses_back(bytes in any::<u64>()) {
            prop_assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
        }

        #[test]
        fn a_fraction_is_exact(whole in 0u64..1_000_000, millis in 0u64..1000) {
            let text = format!("{whole}.{millis:03}s");
            prop_assert_eq!(
                parse_duration(&text),
                Ok(Duration::from_millis(whole * 1000 + millis))
            );
            let text = format!("{whole}.{millis:03}K");
            let exact = (whole * 1000 + millis) * 1024;
            match exact % 1000 {
                0 => prop_assert_eq!(parse_size(&text), Ok(exact / 1000)),
                _ => prop_assert!(parse_size(&text).is_err()),
            }
        }
    }
}
