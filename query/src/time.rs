//! Time arguments: RFC 3339, local date-times, `15m` / `2h ago`, `today`, `yesterday`, `now`.

use anyhow::{Context, Result, bail};
use jiff::{Timestamp, Zoned, civil, tz::TimeZone};

/// Wall-clock nanoseconds since the Unix epoch, the store's unit.
pub type Nanos = u64;

/// The store counts nanoseconds since 1970 in a u64 (to the year 2554): an instant outside
/// that range is still a valid bound, the earliest or the latest one can store.
fn to_nanos(ts: Timestamp) -> Result<Nanos> {
    Ok(clamp(ts.as_nanosecond()))
}

fn clamp(ns: i128) -> Nanos {
    ns.clamp(0, i128::from(u64::MAX)) as u64
}

/// An RFC 3339 instant that jiff cannot represent (its timestamps end just before the year
/// 10000 in every time zone, so `9999-12-31T23:59:59Z` is one): past every stored time, or
/// before all of them.
fn rfc3339_out_of_range(t: &str) -> Option<Nanos> {
    let pieces = jiff::fmt::temporal::Pieces::parse(t).ok()?;
    pieces.offset()?;
    let year = pieces.date().year();
    pieces.time()?;
    Some(if year >= 1970 { u64::MAX } else { 0 })
}

/// Parses a time argument relative to `now`.
pub fn parse_at(s: &str, now: &Zoned) -> Result<Nanos> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    match lower.as_str() {
        "now" => return to_nanos(now.timestamp()),
        "today" => return to_nanos(now.start_of_day()?.timestamp()),
        "yesterday" => return to_nanos(now.start_of_day()?.yesterday()?.timestamp()),
        _ => {}
    }
    if let Ok(ts) = t.parse::<Timestamp>() {
        return to_nanos(ts);
    }
    if let Some(ns) = rfc3339_out_of_range(t) {
        return Ok(ns);
    }
    if let Ok(dt) = t.parse::<civil::DateTime>() {
        let z = dt.to_zoned(now.time_zone().clone()).with_context(|| format!("{t:?} in the local time zone"))?;
        return to_nanos(z.timestamp());
    }
    // A bare time of day is today's (`14:03`, `14:03:30`).
    if let Ok(tod) = t.parse::<civil::Time>() {
        let z = now.date().to_datetime(tod).to_zoned(now.time_zone().clone())?;
        return to_nanos(z.timestamp());
    }
    if let Ok(d) = t.parse::<civil::Date>() {
        let z = d.to_zoned(now.time_zone().clone())?;
        return to_nanos(z.timestamp());
    }
    let span_text = lower.strip_suffix("ago").map(str::trim_end).unwrap_or(&lower);
    if span_text.starts_with(['+', '-']) {
        bail!("{t:?}: a duration takes no sign (`15m` means fifteen minutes ago)");
    }
    if let Ok(span) = span_text.parse::<jiff::Span>() {
        let then = now.checked_sub(span.abs()).with_context(|| format!("{t:?} reaches too far back"))?;
        return to_nanos(then.timestamp());
    }
    bail!(
        "cannot read {t:?} as a time: use RFC 3339 (2026-11-29T14:00:00Z), a local date-time \
         (2026-11-29 14:00), a time today (14:00), a duration ago (15m, 2h ago), today, yesterday or now"
    )
}

/// The `[since, until)` window of a query; `until` before `since` is an error.
pub fn window(since: Option<&str>, until: Option<&str>) -> Result<(Nanos, Nanos)> {
    let now = Zoned::now().with_time_zone(TimeZone::system());
    let lo = since.map(|s| parse_at(s, &now).context("--since")).transpose()?.unwrap_or(0);
    let hi = until
        .map(|s| parse_at(s, &now).context("--until"))
        .transpose()?
        .map(|h| h.saturating_add(1))
        .unwrap_or(u64::MAX);
    if until.is_some() && since.is_some() && hi <= lo {
        bail!("--until is before --since: nothing can match an empty time window");
    }
    Ok((lo, hi))
}

/// A single moment (`--at`); now when absent.
pub fn moment(at: Option<&str>) -> Result<Nanos> {
    let now = Zoned::now().with_time_zone(TimeZone::system());
    match at {
        Some(s) => parse_at(s, &now).context("--at"),
        None => to_nanos(now.timestamp()),
    }
}

static SHOW_UTC: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `--utc`: tables and text show UTC instead of local time.
pub fn show_utc(on: bool) {
    SHOW_UTC.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// A time as a person reads it in a table or text: local time to the second
/// (`2026-12-02 15:04:05`), or UTC with `--utc` (`2026-12-02 14:04:05Z`). JSON and CSV keep
/// [`rfc3339`] with nanoseconds.
pub fn shown(ns: Nanos) -> String {
    let Ok(ts) = Timestamp::from_second((ns / 1_000_000_000) as i64) else { return format!("@{ns}") };
    if SHOW_UTC.load(std::sync::atomic::Ordering::Relaxed) {
        return ts.strftime("%Y-%m-%d %H:%M:%SZ").to_string();
    }
    ts.to_zoned(TimeZone::system()).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// RFC 3339 in UTC with nanoseconds: the wire format's only time shape.
pub fn rfc3339(ns: Nanos) -> String {
    let mut s = String::with_capacity(30);
    rfc3339_into(ns, &mut s);
    s
}

/// Appends [`rfc3339`] of `ns` to `out`.
pub fn rfc3339_into(ns: Nanos, out: &mut String) {
    thread_local! {
        // Exports format millions of times that share their second: format it once.
        static LAST: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let secs = (ns / 1_000_000_000) as i64;
    let frac = ns % 1_000_000_000;
    use std::fmt::Write as _;
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != secs {
            match Timestamp::from_second(secs) {
                Ok(ts) => *last = (secs, ts.strftime("%Y-%m-%dT%H:%M:%S").to_string()),
                Err(_) => {
                    let _ = write!(out, "@{ns}");
                    return;
                }
            }
        }
        let _ = write!(out, "{}.{frac:09}Z", last.1);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Zoned {
        "2026-11-29T15:30:00+00:00[UTC]".parse().unwrap()
    }

    #[test]
    fn forms() {
        let n = now();
        let at = |s| parse_at(s, &n).unwrap();
        assert_eq!(at("2026-11-29T14:00:00Z"), 1_795_960_800_000_000_000);
        assert_eq!(at("2026-11-29 14:00"), at("2026-11-29T14:00:00Z"));
        assert_eq!(at("90m"), at("2026-11-29T14:00:00Z"));
        assert_eq!(at("90m ago"), at("90m"));
        assert_eq!(at("today"), at("2026-11-29T00:00:00Z"));
        assert_eq!(at("yesterday"), at("2026-11-28T00:00:00Z"));
        assert_eq!(at("now"), at("2026-11-29T15:30:00Z"));
        assert_eq!(at("14:00"), at("2026-11-29T14:00:00Z"));
        assert!(parse_at("half past nine", &n).is_err());
    }

    #[test]
    fn every_rfc3339_instant_is_a_bound_and_durations_take_no_sign() {
        let n = now();
        assert_eq!(parse_at("9999-12-31T23:59:59Z", &n).unwrap(), u64::MAX);
        assert_eq!(parse_at("9999-12-31T23:59:59.999999999+00:00", &n).unwrap(), u64::MAX);
        assert_eq!(parse_at("3000-01-01T00:00:00Z", &n).unwrap(), u64::MAX);
        assert_eq!(parse_at("1900-01-01T00:00:00Z", &n).unwrap(), 0);
        assert_eq!(parse_at("0001-01-01T00:00:00Z", &n).unwrap(), 0);
        assert!(parse_at("2026-11-29T24:61:00Z", &n).is_err());
        for signed in ["-5m", "+5m", "-5m ago", "+2h"] {
            let e = parse_at(signed, &n).unwrap_err().to_string();
            assert!(e.contains("no sign"), "{signed}: {e}");
        }
    }

    #[test]
    fn formats_with_nanoseconds() {
        assert_eq!(rfc3339(1_795_960_800_000_000_042), "2026-11-29T14:00:00.000000042Z");
    }
}
