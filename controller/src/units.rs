//! Durations and sizes as written on the command line: `500ms`, `2s`, `64M`, `65536K`.

use std::time::Duration;

/// Parses `N[.F](us|ms|s|m)`, e.g. `500ms`, `1.5s`, `2m`. A unit is required.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let micros_per_unit: u64 = match unit {
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "" => {
            return Err(format!(
                "{text:?}: a duration needs a unit (us, ms, s, m), e.g. 500ms"
            ))
        }
        _ => {
            return Err(format!(
                "{text:?}: unknown duration unit {unit:?} (us, ms, s, m)"
            ))
        }
    };
    let micros =
        scaled(number, micros_per_unit).ok_or_else(|| format!("{text:?}: not a duration"))?;
    Ok(Duration::from_micros(micros))
}

/// Parses `N[K|M|G][B|iB]` in bytes, binary units: `64M`, `65536K`, `1G`, `4096`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.to_ascii_uppercase();
    let base = unit.trim_end_matches("IB").trim_end_matches('B');
    let multiplier: u64 = match base {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("{text:?}: unknown size unit (K, M, G)")),
    };
    scaled(number, multiplier).ok_or_else(|| format!("{text:?}: not a size"))
}

/// `number * multiplier` for a decimal `number` with an optional fraction, exactly, or
/// `None` when it is malformed, has more precision than one unit, or overflows.
fn scaled(number: &str, multiplier: u64) -> Option<u64> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if number.ends_with('.') {
        return None;
    }
    let value = whole.parse::<u64>().ok()?.checked_mul(multiplier)?;
    if fraction.is_empty() {
        return Some(value);
    }
    let numerator = u128::from(fraction.parse::<u64>().ok()?) * u128::from(multiplier);
    let denominator = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
    if numerator % denominator != 0 {
        return None; // finer than the smallest unit
    }
    value.checked_add(u64::try_from(numerator / denominator).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        for bad in [
            "",
            "5",
            "ms",
            "1.s",
            "-1s",
            "1h",
            "1.5us",
            "1..5s",
            "99999999999999999999s",
            "1 s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("65536K"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512kb"), Ok(512 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        for bad in [
            "",
            "M",
            "12Q",
            "1.5",
            "1.25B",
            "-1M",
            "99999999999999999999G",
            "1 M",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} parsed");
        }
    }
}
