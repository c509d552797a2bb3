//! `authentication:`: the JWKS the router checks bearer tokens against (`edge::auth`);
//! absent, tokens are only forwarded. `ROUTER_JWKS_URL`, `ROUTER_JWT_ISSUER` and
//! `ROUTER_JWT_AUDIENCE` describe (or override) the first JWKS entry.
//!
//! ```yaml
//! authentication:
//!   jwks:
//!     - url: http://identity:8001/.well-known/jwks.json
//!       issuer: edustream-identity
//!       audiences: [edustream]
//!       algorithms: [EdDSA]          # default: every asymmetric algorithm
//!   header: authorization            # default
//!   prefix: Bearer                   # default; "" for a bare token
//!   leeway: 60s                      # clock skew allowed on exp/nbf
//!   ttl: 5m                          # the key set is refetched when older
//!   min_refresh: 10s                 # at most one refetch per this, for unknown kids
//! ```

use std::str::FromStr;
use std::time::Duration;

use axum::http::HeaderName;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::ConfigError;
use super::primitives::parse_duration_or_zero;

/// The algorithms accepted when a JWKS entry names none: every asymmetric one. HMAC is never
/// accepted: its secret would have to be shared with the router, and a JWKS publishes keys.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// One trusted token issuer: where its keys are and what its tokens must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSettings {
    pub url: String,
    /// The `iss` every token must carry.
    pub issuer: String,
    /// A token's `aud` must name at least one of these.
    pub audiences: Vec<String>,
    /// The `alg` values accepted; anything else is refused before a key is looked up.
    pub algorithms: Vec<Algorithm>,
}

/// Token checking settings (`ROUTER_JWKS_URL`, `ROUTER_JWT_ISSUER` and `ROUTER_JWT_AUDIENCE`
/// override them, see [`AuthSettings::apply_env`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Section")]
pub struct AuthSettings {
    pub jwks: Vec<JwksSettings>,
    /// The request header holding the token (lower case).
    pub header: String,
    /// The scheme before the token (`Bearer`, compared case-insensitively); empty: the header is
    /// the bare token.
    pub prefix: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// Age after which a key set is refetched.
    pub ttl: Duration,
    /// Shortest time between two refetches forced by tokens naming an unknown `kid`.
    pub min_refresh: Duration,
}

impl AuthSettings {
    /// Settings for these JWKS with the defaults for everything else.
    pub fn new(jwks: Vec<JwksSettings>) -> Self {
        Self {
            jwks,
            header: "authorization".into(),
            prefix: "Bearer".into(),
            leeway: Duration::from_secs(60),
            ttl: Duration::from_secs(300),
            min_refresh: Duration::from_secs(10),
        }
    }

    /// Applies `ROUTER_JWKS_URL`, `ROUTER_JWT_ISSUER` and `ROUTER_JWT_AUDIENCE` (comma-separated)
    /// over the file's section. They describe the first (usually the only) JWKS entry;
    /// `ROUTER_JWKS_URL` alone turns authentication on when the file has no section, and then
    /// the issuer and audience must be given too.
    pub fn apply_env(
        settings: Option<Self>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ConfigError> {
        let var = |name: &str| env(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let (url, issuer, audiences) = (var("ROUTER_JWKS_URL"), var("ROUTER_JWT_ISSUER"), var("ROUTER_JWT_AUDIENCE"));
        if url.is_none() && issuer.is_none() && audiences.is_none() {
            return Ok(settings);
        }
        let mut settings = match (settings, &url) {
            (Some(settings), _) if !settings.jwks.is_empty() => settings,
            (_, Some(url)) => Self::new(vec![JwksSettings {
                url: url.clone(),
                issuer: String::new(),
                audiences: Vec::new(),
                algorithms: ASYMMETRIC.to_vec(),
            }]),
            _ => {
                return Err(ConfigError(
                    "ROUTER_JWT_ISSUER / ROUTER_JWT_AUDIENCE need a JWKS: set ROUTER_JWKS_URL or `authentication.jwks`"
                        .into(),
                ));
            }
        };
        let first = &mut settings.jwks[0];
        if let Some(url) = url {
            first.url = url;
        }
        if let Some(issuer) = issuer {
            first.issuer = issuer;
        }
        if let Some(audiences) = audiences {
            first.audiences =
                audiences.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_owned).collect();
        }
        check_jwks(first).map_err(|e| ConfigError(format!("authentication (from the environment): {e}")))?;
        Ok(Some(settings))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    jwks: Vec<JwksSection>,
    header: Option<String>,
    prefix: Option<String>,
    leeway: Option<String>,
    ttl: Option<String>,
    min_refresh: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JwksSection {
    url: String,
    issuer: String,
    audiences: Vec<String>,
    algorithms: Option<Vec<String>>,
}

impl TryFrom<Section> for AuthSettings {
    type Error = String;

    fn try_from(section: Section) -> Result<Self, String> {
        if section.jwks.is_empty() {
            return Err("authentication.jwks: list at least one JWKS".into());
        }
        let jwks = section.jwks.into_iter().map(JwksSettings::try_from).collect::<Result<Vec<_>, _>>()?;
        let mut settings = Self::new(jwks);
        if let Some(header) = section.header {
            HeaderName::from_str(&header)
                .map_err(|_| format!("authentication.header: `{header}` is not a header name"))?;
            settings.header = header.to_ascii_lowercase();
        }
        if let Some(prefix) = section.prefix {
            settings.prefix = prefix.trim().to_owned();
        }
        let duration = |key: &str, text: Option<String>, default: Duration| match text {
            Some(text) => parse_duration_or_zero(&text).map_err(|e| format!("authentication.{key}: {e}")),
            None => Ok(default),
        };
        settings.leeway = duration("leeway", section.leeway, settings.leeway)?;
        settings.ttl = duration("ttl", section.ttl, settings.ttl)?;
        settings.min_refresh = duration("min_refresh", section.min_refresh, settings.min_refresh)?;
        Ok(settings)
    }
}

impl TryFrom<JwksSection> for JwksSettings {
    type Error = String;

    fn try_from(section: JwksSection) -> Result<Self, String> {
        let algorithms = match section.algorithms {
            None => ASYMMETRIC.to_vec(),
            Some(names) => names.iter().map(|name| algorithm(name)).collect::<Result<Vec<_>, _>>()?,
        };
        let settings = Self { url: section.url, issuer: section.issuer, audiences: section.audiences, algorithms };
        check_jwks(&settings).map_err(|e| format!("authentication.jwks: {e}"))?;
        Ok(settings)
    }
}

fn algorithm(name: &str) -> Result<Algorithm, String> {
    let algorithm = Algorithm::from_str(name.trim()).map_err(|_| format!("`{name}` is not a JWT algorithm"))?;
    if ASYMMETRIC.contains(&algorithm) {
        Ok(algorithm)
    } else {
        Err(format!(
            "`{name}` is not accepted: only asymmetric algorithms (EdDSA, RS*, PS*, ES*) can be verified with a JWKS"
        ))
    }
}

fn check_jwks(settings: &JwksSettings) -> Result<(), String> {
    if !(settings.url.starts_with("http://") || settings.url.starts_with("https://")) {
        return Err(format!("`{}` is not an http(s) URL", settings.url));
    }
    if settings.issuer.trim().is_empty() {
        return Err(format!("the JWKS {} needs an issuer", settings.url));
    }
    if settings.audiences.iter().all(|a| a.trim().is_empty()) {
        return Err(format!("the JWKS {} needs at least one audience", settings.url));
    }
    if settings.algorithms.is_empty() {
        return Err(format!("the JWKS {} accepts no algorithm", settings.url));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<AuthSettings, String> {
        yaml_serde::from_str::<AuthSettings>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn settings_are_read_from_yaml_with_defaults() {
        let settings = yaml(
            "jwks:\n  - { url: 'http://id/jwks', issuer: id, audiences: [app], algorithms: [EdDSA, RS256] }\nleeway: 30s\nttl: 2m\nmin_refresh: 0\nprefix: Token\nheader: X-Token\n",
        )
        .expect("valid");
        assert_eq!(settings.jwks[0].algorithms, [Algorithm::EdDSA, Algorithm::RS256]);
        assert_eq!((settings.header.as_str(), settings.prefix.as_str()), ("x-token", "Token"));
        assert_eq!(
            (settings.leeway, settings.ttl, settings.min_refresh),
            (Duration::from_secs(30), Duration::from_secs(120), Duration::ZERO)
        );
        let defaults = yaml("jwks: [{ url: 'http://id/jwks', issuer: id, audiences: [app] }]").expect("valid");
        assert_eq!(defaults.jwks[0].algorithms, ASYMMETRIC);
        assert_eq!((defaults.header.as_str(), defaults.prefix.as_str()), ("authorization", "Bearer"));
        assert_eq!(defaults.leeway, Duration::from_secs(60));
    }

    #[test]
    fn hmac_unknown_keys_and_missing_issuers_are_refused_in_settings() {
        let hs = yaml("jwks: [{ url: 'http://id/jwks', issuer: id, audiences: [app], algorithms: [HS256] }]");
        assert!(hs.expect_err("HMAC").contains("only asymmetric algorithms"));
        assert!(yaml("jwks: [{ url: 'http://id/jwks', issuer: id, audiences: [app] }]\nleway: 5s").is_err());
        assert!(
            yaml("jwks: [{ url: 'http://id/jwks', issuer: '', audiences: [app] }]").expect_err("").contains("issuer")
        );
        assert!(
            yaml("jwks: [{ url: 'http://id/jwks', issuer: id, audiences: [] }]").expect_err("").contains("audience")
        );
    }

    #[test]
    fn the_environment_configures_or_overrides_the_first_jwks() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        let from_env = AuthSettings::apply_env(
            None,
            &env(&[
                ("ROUTER_JWKS_URL", "http://id/jwks"),
                ("ROUTER_JWT_ISSUER", "id"),
                ("ROUTER_JWT_AUDIENCE", "a, b"),
            ]),
        )
        .expect("valid")
        .expect("on");
        assert_eq!(from_env.jwks[0].audiences, ["a", "b"]);
        assert_eq!(AuthSettings::apply_env(None, &env(&[])).expect("valid"), None, "off without a URL");
        let missing = AuthSettings::apply_env(None, &env(&[("ROUTER_JWKS_URL", "http://id/jwks")]));
        assert!(missing.expect_err("no issuer").0.contains("issuer"));
        let file = yaml("jwks: [{ url: 'http://id/jwks', issuer: id, audiences: [app] }]").expect("valid");
        let overridden =
            AuthSettings::apply_env(Some(file), &env(&[("ROUTER_JWT_ISSUER", "other")])).expect("valid").expect("on");
        assert_eq!((overridden.jwks[0].issuer.as_str(), overridden.jwks[0].url.as_str()), ("other", "http://id/jwks"));
    }
}
