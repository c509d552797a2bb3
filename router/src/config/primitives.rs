//! The values settings are written in, shared by every section: durations (`250ms`, `5s`, `2m`,
//! or a bare number of seconds), switches (`on`/`off`), numbers from the environment, header
//! names, CIDR blocks, and the `${NAME}` references the YAML file may hold.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use axum::http::HeaderName;
use serde::Deserializer;

use super::ConfigError;

/// `250ms`, `5s`, `2m` (any unit `humantime` reads, e.g. `1h 30m`); a bare number is seconds.
/// Zero is refused: this reads timeouts and intervals.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration_or_zero(text)?;
    if duration.is_zero() {
        return Err(format!("`{}`: a timeout must be longer than zero", text.trim()));
    }
    Ok(duration)
}

/// A duration that may be zero (`0` turns the feature off).
pub fn parse_duration_or_zero(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let seconds = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    let parsed =
        if seconds { text.parse().map(Duration::from_secs).ok() } else { humantime::parse_duration(text).ok() };
    parsed.ok_or_else(|| format!("`{text}` is not a duration such as 500ms, 5s or 2m"))
}

/// Deserializes a duration as [`parse_duration`] reads it, from a string or a bare number of
/// seconds (`${INTERVAL}` expanded to `5` is a number): `#[serde(deserialize_with = "...")]`.
pub fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    struct Visitor;
    impl serde::de::Visitor<'_> for Visitor {
        type Value = Duration;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration such as 500ms, 5s or 2m")
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Duration, E> {
            parse_duration(text).map_err(E::custom)
        }
        fn visit_u64<E: serde::de::Error>(self, seconds: u64) -> Result<Duration, E> {
            self.visit_str(&seconds.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, seconds: i64) -> Result<Duration, E> {
            self.visit_str(&seconds.to_string())
        }
    }
    deserializer.deserialize_any(Visitor)
}

/// A switch from the environment: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`.
pub fn parse_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError(format!("{name}: `{value}` is not true or false (on or off)"))),
    }
}

/// A count or a size from the environment variable `name`, where `0` turns the limit off.
pub fn parse_limit<T: FromStr>(name: &str, value: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError(format!("{name}: `{value}` is not a number (0: no limit)")))
}

/// A count or a size from the environment variable `name` that must be positive (an unsigned
/// type, whose default is zero).
pub fn parse_positive<T: FromStr + Default + PartialEq>(name: &str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .ok()
        .filter(|n| *n != T::default())
        .ok_or_else(|| ConfigError(format!("{name}: `{value}` is not a positive number")))
}

/// Header names as settings list them: trimmed, empty entries skipped, lower-cased, validated,
/// each kept once. Sections refuse the names that make no sense for them.
pub fn header_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<HeaderName>, String> {
    let mut out = Vec::new();
    for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
        let parsed = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        if !out.contains(&parsed) {
            out.push(parsed);
        }
    }
    Ok(out)
}

/// A block of addresses, `10.0.0.0/8` or `fd00::/8`; a bare address is a block of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `address[/prefix]`; host bits after the prefix are ignored.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let invalid = || format!("`{text}` is not an address or a block such as 10.0.0.0/8 or fd00::/8");
        let network: IpAddr = address.parse().map_err(|_| invalid())?;
        let network = network.to_canonical();
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= bits).ok_or_else(invalid)?,
            None => bits,
        };
        Ok(Self { network, prefix })
    }

    /// Parses a list, skipping empty entries (`a, b,` from an environment variable).
    pub fn parse_list<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<Vec<Self>, String> {
        texts.into_iter().filter(|t| !t.trim().is_empty()).map(Self::parse).collect()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Expands `${NAME}` references in every string of a parsed YAML file (so comments and keys are
/// left alone); a string that is exactly one reference becomes the number or boolean the
/// variable holds.
pub(crate) fn expand_strings(
    value: &mut yaml_serde::Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    match value {
        yaml_serde::Value::String(s) if s.contains('$') => {
            let expanded = expand_env(s, env)?;
            // `body_bytes: ${LIMIT}` becomes the number (or boolean) the variable holds.
            *value = match yaml_serde::from_str::<yaml_serde::Value>(&expanded) {
                Ok(scalar @ (yaml_serde::Value::Number(_) | yaml_serde::Value::Bool(_)))
                    if s.trim().starts_with("${") =>
                {
                    scalar
                }
                _ => yaml_serde::Value::String(expanded),
            };
        }
        yaml_serde::Value::Sequence(items) => {
            for item in items {
                expand_strings(item, env)?;
            }
        }
        yaml_serde::Value::Mapping(map) => {
            for (_, item) in map.iter_mut() {
                expand_strings(item, env)?;
            }
        }
        yaml_serde::Value::Tagged(tagged) => expand_strings(&mut tagged.value, env)?,
        _ => {}
    }
    Ok(())
}

/// Replaces `${NAME}` and `${NAME:-default}`; `$$` is a literal `$`. A reference to an unset
/// variable without a default is an error naming it.
pub(crate) fn expand_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').ok_or_else(|| ConfigError("an unclosed `${` in the router config".into()))?;
            let reference = &inner[..end];
            let (name, default) = match reference.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (reference, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ConfigError(format!("`${{{reference}}}` is not a variable reference")));
            }
            match (env(name).filter(|v| !v.is_empty()), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    return Err(ConfigError(format!("the router config uses ${{{name}}}, which is not set")));
                }
            }
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn durations_keep_their_units_and_a_bare_number_is_seconds() {
        for (text, expected) in [
            ("5", Duration::from_secs(5)),
            (" 5 ", Duration::from_secs(5)),
            ("250ms", Duration::from_millis(250)),
            ("5s", Duration::from_secs(5)),
            ("5 s", Duration::from_secs(5)),
            ("2m", Duration::from_secs(120)),
            ("1h 30m", Duration::from_secs(5400)),
        ] {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
        for zero in ["0", "0s", "0ms", "0m"] {
            assert!(parse_duration(zero).expect_err(zero).contains("longer than zero"), "{zero}");
            assert_eq!(parse_duration_or_zero(zero), Ok(Duration::ZERO), "{zero}");
        }
        for bad in ["", "soon", "5x", "-5", "5S", "ms"] {
            assert!(parse_duration(bad).expect_err(bad).contains("not a duration such as"), "{bad}");
            assert!(parse_duration_or_zero(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn switches_and_numbers_from_the_environment() {
        assert_eq!(parse_bool("X", " On "), Ok(true));
        assert_eq!(parse_bool("X", "0"), Ok(false));
        assert!(parse_bool("X", "maybe").expect_err("maybe").0.starts_with("X: "));
        assert_eq!(parse_limit::<usize>("X", " 0 "), Ok(0));
        assert!(parse_limit::<usize>("X", "many").expect_err("many").0.contains("0: no limit"));
        assert_eq!(parse_positive::<u32>("X", "7"), Ok(7));
        for bad in ["0", "-1", "big"] {
            assert!(parse_positive::<usize>("X", bad).expect_err(bad).0.contains("not a positive number"));
        }
    }

    #[test]
    fn header_names_are_lower_cased_and_kept_once() {
        let names = header_names(["X-One", " x-one ", "", "x-two"]).expect("valid");
        assert_eq!(names, [HeaderName::from_static("x-one"), HeaderName::from_static("x-two")]);
        assert!(header_names(["bad header"]).expect_err("space").contains("not a valid header name"));
    }

    #[test]
    fn blocks_are_parsed_and_matched() {
        let block = Cidr::parse("10.0.0.0/8").expect("valid");
        assert!(block.contains(ip("10.200.3.4")) && !block.contains(ip("11.0.0.1")));
        assert!(block.contains(ip("::ffff:10.1.1.1")), "IPv4-mapped addresses are IPv4");
        assert!(!block.contains(ip("::1")));
        let one = Cidr::parse(" 192.168.1.7 ").expect("valid");
        assert!(one.contains(ip("192.168.1.7")) && !one.contains(ip("192.168.1.8")));
        assert_eq!(one.to_string(), "192.168.1.7/32");
        let v6 = Cidr::parse("fd00::/8").expect("valid");
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(Cidr::parse("0.0.0.0/0").expect("everything").contains(ip("8.8.8.8")));
        assert!(Cidr::parse("::/0").expect("everything").contains(ip("2001:db8::1")));
        for bad in ["10.0.0.0/33", "::/129", "proxy.local", "10.0.0.0/", "10.0.0/8", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Cidr::parse_list("10.0.0.0/8, ,::1".split(',')).expect("valid").len(), 2);
    }
}
