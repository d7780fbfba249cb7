//! PostgreSQL's binary `numeric` format to and from decimal text (the `numeric` of the WIT):
//! `ndigits`, `weight`, `sign`, `dscale` (big-endian 16-bit), then `ndigits` base-10000 digits.

use std::fmt::Write as _;

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;
const NAN: u16 = 0xC000;
const POSITIVE_INFINITY: u16 = 0xD000;
const NEGATIVE_INFINITY: u16 = 0xF000;

/// Decimal text of a binary `numeric`.
pub(crate) fn to_text(raw: &[u8]) -> Result<String, String> {
    let word = |i: usize| raw.get(2 * i..2 * i + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or("a truncated numeric");
    let (ndigits, weight, sign, dscale) = (usize::from(word(0)?), word(1)?.cast_signed(), word(2)?, usize::from(word(3)?));
    let digits = (0..ndigits).map(|i| word(4 + i)).collect::<Result<Vec<u16>, _>>()?;
    let mut text = String::new();
    match sign {
        NAN => return Ok("NaN".into()),
        POSITIVE_INFINITY => return Ok("Infinity".into()),
        NEGATIVE_INFINITY => return Ok("-Infinity".into()),
        NEGATIVE => text.push('-'),
        _ => {}
    }
    let digit = |group: i32| usize::try_from(group).ok().and_then(|g| digits.get(g)).copied().unwrap_or(0);
    if weight < 0 {
        text.push('0');
    } else {
        for group in 0..=i32::from(weight) {
            let _ = if group == 0 { write!(text, "{}", digit(group)) } else { write!(text, "{:04}", digit(group)) };
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut group = i32::from(weight) + 1;
        while fraction.len() < dscale {
            let _ = write!(fraction, "{:04}", digit(group));
            group += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

/// The binary `numeric` of decimal text (`-12.50`, `NaN`, `Infinity`); no exponents.
pub(crate) fn from_text(text: &str) -> Result<Vec<u8>, String> {
    let header = |ndigits: usize, weight: i16, sign: u16, dscale: usize| -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 2 * ndigits);
        for word in [u16::try_from(ndigits).unwrap_or(u16::MAX), weight.cast_unsigned(), sign, u16::try_from(dscale).unwrap_or(u16::MAX)] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        out
    };
    match text.trim() {
        "NaN" => return Ok(header(0, 0, NAN, 0)),
        "Infinity" | "+Infinity" => return Ok(header(0, 0, POSITIVE_INFINITY, 0)),
        "-Infinity" => return Ok(header(0, 0, NEGATIVE_INFINITY, 0)),
        _ => {}
    }
    let bad = || format!("`{text}` is not a decimal number");
    let trimmed = text.trim();
    let (sign, unsigned) = match trimmed.strip_prefix('-') {
        Some(rest) => (NEGATIVE, rest),
        None => (POSITIVE, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let (integer, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if (integer.is_empty() && fraction.is_empty()) || !integer.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let dscale = fraction.len();
    // Whole base-10000 groups: the integer part padded on the left, the fraction on the right.
    let integer = format!("{}{integer}", "0".repeat((4 - integer.len() % 4) % 4));
    let fraction = format!("{fraction}{}", "0".repeat((4 - fraction.len() % 4) % 4));
    let group = |s: &str| s.parse::<u16>().map_err(|_| bad());
    let mut groups = Vec::new();
    for chunk in integer.as_bytes().chunks(4).chain(fraction.as_bytes().chunks(4)) {
        groups.push(group(std::str::from_utf8(chunk).map_err(|_| bad())?)?);
    }
    let mut weight = i16::try_from(integer.len() / 4).map_err(|_| bad())? - 1;
    let leading = groups.iter().take_while(|g| **g == 0).count();
    groups.drain(..leading);
    weight -= i16::try_from(leading).map_err(|_| bad())?;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        return Ok(header(0, 0, POSITIVE, dscale));
    }
    let mut out = header(groups.len(), weight, sign, dscale);
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_survives_the_binary_format() {
        for text in ["0", "1", "-1", "12345.6789", "0.0001", "0.00000001", "10000", "-99999999.5", "3.14", "1.000", "NaN", "Infinity", "-Infinity", "123456789012345678901234567890.12"] {
            assert_eq!(to_text(&from_text(text).unwrap()).unwrap(), text, "{text}");
        }
        assert_eq!(to_text(&from_text("+007.50").unwrap()).unwrap(), "7.50");
        assert_eq!(from_text("1e5").unwrap_err(), "`1e5` is not a decimal number");
        assert!(from_text(".").is_err() && from_text("1.2.3").is_err());
    }

    #[test]
    fn the_server_layout_is_read() {
        // 1234.5 as PostgreSQL sends it: 2 digits, weight 0, positive, scale 1, [1234, 5000].
        let raw = [0, 2, 0, 0, 0, 0, 0, 1, 0x04, 0xD2, 0x13, 0x88];
        assert_eq!(to_text(&raw).unwrap(), "1234.5");
        assert!(to_text(&raw[..5]).is_err());
    }
}
