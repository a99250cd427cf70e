//! Wall-clock time as epoch milliseconds, the only representation stored in the database.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch. Always bound from the application, never `now()` in SQL,
/// so both backends see the same instant.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// ISO 8601 UTC with millisecond precision (`2024-01-15T10:30:00.000Z`), the format every SDK parses.
pub fn iso8601(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_millis() {
        assert_eq!(super::iso8601(1_705_314_600_123), "2024-01-15T10:30:00.123Z");
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00.000Z");
    }
}
