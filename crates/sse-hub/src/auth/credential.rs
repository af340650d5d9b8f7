//! Finding the credential of a request.

use std::fmt;

use super::error::CredentialError;

/// The cookie read when no other name is configured.
pub const DEFAULT_COOKIE: &str = "sse_hub_token";

/// The query parameter that carries a one-time ticket.
pub const TICKET_PARAM: &str = "ticket";

/// A credential found in a request. `Debug` never prints its value.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer <jwt>`.
    Bearer(String),
    /// A JWT in the configured cookie.
    Cookie(String),
    /// A one-time ticket from `?ticket=`.
    Ticket(String),
}

impl Credential {
    /// The credential's value (a JWT or a ticket).
    pub fn value(&self) -> &str {
        match self {
            Self::Bearer(value) | Self::Cookie(value) | Self::Ticket(value) => value,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::Bearer(_) => "Bearer",
            Self::Cookie(_) => "Cookie",
            Self::Ticket(_) => "Ticket",
        };
        f.debug_tuple(kind).field(&"<redacted>").finish()
    }
}

/// The request's credential; the first found wins: `Authorization: Bearer`,
/// then the cookie `cookie_name`, then the `ticket` query parameter.
///
/// An `Authorization` header with another scheme (`Basic`, ...) is not a
/// credential; an empty cookie or ticket is absent.
///
/// # Errors
///
/// [`CredentialError::AmbiguousAuthorization`] for two `Authorization`
/// headers (proxies disagree on which one counts), and
/// [`CredentialError::MalformedBearer`] for `Bearer` with no token.
///
/// # Examples
///
/// ```
/// use sse_hub::auth::{credential, Credential, DEFAULT_COOKIE};
///
/// let (parts, ()) = http::Request::get("/events?ticket=t1")
///     .header("cookie", "theme=dark; sse_hub_token=jwt1")
///     .body(())
///     .unwrap()
///     .into_parts();
/// let found = credential(&parts, DEFAULT_COOKIE).unwrap();
/// assert_eq!(found, Some(Credential::Cookie("jwt1".into())));
/// ```
pub fn credential(
    parts: &http::request::Parts,
    cookie_name: &str,
) -> Result<Option<Credential>, CredentialError> {
    if let Some(token) = bearer(&parts.headers)? {
        return Ok(Some(Credential::Bearer(token)));
    }
    if let Some(token) = cookie(&parts.headers, cookie_name) {
        return Ok(Some(Credential::Cookie(token)));
    }
    let ticket = parts.uri.query().and_then(|query| {
        crate::query::params(query)
            .find(|(key, _)| key == TICKET_PARAM)
            .map(|(_, value)| value)
    });
    Ok(ticket
        .filter(|ticket| !ticket.is_empty())
        .map(Credential::Ticket))
}

fn bearer(headers: &http::HeaderMap) -> Result<Option<String>, CredentialError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(CredentialError::AmbiguousAuthorization);
    }
    let bytes = value.as_bytes();
    let Some(space) = bytes.iter().position(|b| *b == b' ') else {
        return if bytes.eq_ignore_ascii_case(b"bearer") {
            Err(CredentialError::MalformedBearer)
        } else {
            Ok(None)
        };
    };
    let (scheme, rest) = bytes.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let token = std::str::from_utf8(rest)
        .map_err(|_| CredentialError::MalformedBearer)?
        .trim_matches(' ');
    // RFC 6750 b64token: no spaces or controls inside.
    if token.is_empty() || token.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(CredentialError::MalformedBearer);
    }
    Ok(Some(token.to_owned()))
}

fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| std::str::from_utf8(value.as_bytes()).ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut request = http::Request::get(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    fn found(uri: &str, headers: &[(&str, &str)]) -> Result<Option<Credential>, CredentialError> {
        credential(&parts(uri, headers), DEFAULT_COOKIE)
    }

    #[test]
    fn precedence_is_bearer_then_cookie_then_ticket() {
        let all = [
            ("authorization", "Bearer jwt-a"),
            ("cookie", "sse_hub_token=jwt-c"),
        ];
        assert_eq!(
            found("/events?ticket=t", &all).unwrap(),
            Some(Credential::Bearer("jwt-a".into()))
        );
        assert_eq!(
            found("/events?ticket=t", &all[1..]).unwrap(),
            Some(Credential::Cookie("jwt-c".into()))
        );
        assert_eq!(
            found("/events?topic=a&ticket=t", &[]).unwrap(),
            Some(Credential::Ticket("t".into()))
        );
        assert_eq!(found("/events?topic=a", &[]).unwrap(), None);
    }

    #[test]
    fn two_authorization_headers_are_ambiguous() {
        let headers = [
            ("authorization", "Bearer one"),
            ("authorization", "Bearer two"),
        ];
        assert_eq!(
            found("/events", &headers),
            Err(CredentialError::AmbiguousAuthorization)
        );
    }

    #[test]
    fn other_schemes_are_not_credentials() {
        let headers = [
            ("authorization", "Basic dXNlcjpwYXNz"),
            ("cookie", "sse_hub_token=jwt-c"),
        ];
        assert_eq!(
            found("/events", &headers).unwrap(),
            Some(Credential::Cookie("jwt-c".into()))
        );
        assert_eq!(found("/events", &headers[..1]).unwrap(), None);
    }

    #[test]
    fn scheme_is_case_insensitive_and_empty_bearer_is_malformed() {
        assert_eq!(
            found("/", &[("authorization", "bearer  tok")]).unwrap(),
            Some(Credential::Bearer("tok".into()))
        );
        for bad in ["Bearer", "Bearer ", "Bearer a b"] {
            assert_eq!(
                found("/", &[("authorization", bad)]),
                Err(CredentialError::MalformedBearer),
                "{bad}"
            );
        }
    }

    #[test]
    fn cookie_is_found_by_exact_name_across_headers() {
        let headers = [
            ("cookie", "a=1; xsse_hub_token=no"),
            ("cookie", "b=2; sse_hub_token=\"jwt\""),
        ];
        assert_eq!(
            found("/", &headers).unwrap(),
            Some(Credential::Cookie("jwt".into()))
        );
        let custom = parts("/", &[("cookie", "mine=jwt2")]);
        assert_eq!(
            credential(&custom, "mine").unwrap(),
            Some(Credential::Cookie("jwt2".into()))
        );
        assert_eq!(
            found("/?ticket=", &[("cookie", "sse_hub_token=")]).unwrap(),
            None
        );
    }

    #[test]
    fn debug_hides_the_value() {
        let debug = format!("{:?}", Credential::Bearer("secret-jwt".into()));
        assert!(!debug.contains("secret-jwt"));
    }

    proptest::proptest! {
        /// Any bearer token of RFC 6750 characters comes back unchanged, and
        /// no header bytes make the parser panic.
        #[test]
        fn bearer_round_trips_and_nothing_panics(
            token in "[A-Za-z0-9._~+/=-]{1,200}",
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            let header = format!("Bearer {token}");
            proptest::prop_assert_eq!(
                found("/", &[("authorization", header.as_str())]).unwrap(),
                Some(Credential::Bearer(token))
            );
            if let Ok(value) = http::HeaderValue::from_bytes(&noise) {
                let mut parts = parts("/", &[]);
                parts.headers.insert(http::header::AUTHORIZATION, value.clone());
                parts.headers.insert(http::header::COOKIE, value);
                let _ = credential(&parts, DEFAULT_COOKIE);
            }
        }
    }
}
