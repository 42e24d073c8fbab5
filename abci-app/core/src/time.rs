//! Times as CometBFT writes them (RFC 3339, UTC) and back to unix seconds:
//! the genesis time is read with the same arithmetic as every block time.

/// Unix seconds as RFC 3339 (UTC), as CometBFT writes times.
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The unix seconds of an RFC 3339 time (fractions and offsets other than Z ignored).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T')?;
    // Fixed-width fields in their calendar ranges: whatever a caller sends,
    // the arithmetic below cannot overflow.
    let field = |text: &str, width: usize, range: std::ops::RangeInclusive<i64>| {
        (text.len() == width && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<i64>().ok())
            .flatten()
            .filter(|v| range.contains(v))
    };
    let mut d = date.split('-');
    let y = field(d.next()?, 4, 0..=9999)?;
    let m = field(d.next()?, 2, 1..=12)?;
    let day = field(d.next()?, 2, 1..=31)?;
    if d.next().is_some() {
        return None;
    }
    let mut t = time.get(..8)?.split(':');
    let hh = field(t.next()?, 2, 0..=23)?;
    let mm = field(t.next()?, 2, 0..=59)?;
    let ss = field(t.next()?, 2, 0..=60)?;
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        for t in [0, 1_767_225_605, 951_868_799, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2026-01-01T00:00:05.123456789Z"),
            Some(1_767_225_605)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        for absurd in [
            "99999999999999-01-01T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-32T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "-9223372036854775808-01-01T00:00:00Z",
            "2026-1-01T00:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(absurd), None, "{absurd}");
        }
    }

    proptest::proptest! {
        /// Every second from year 1 to 9999 round-trips; any text is a time
        /// or None, never a panic or an overflow.
        #[test]
        fn any_time_round_trips_and_any_text_parses_or_is_refused(
            t in -62_135_596_800i64..253_402_300_799,
            text in ".{0,40}",
        ) {
            proptest::prop_assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
            let _ = parse_rfc3339(&text);
        }
    }
}
