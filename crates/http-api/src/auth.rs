//! Reading credentials from a request. Git sends HTTP Basic with any username and the token as
//! the password (huggingface_hub stores `hf_user:<token>`); API clients send a Bearer token.

use axum::http::{header, HeaderMap};
use base64::Engine;

/// The token a request carries, if any. A header that is present but unreadable yields
/// `Some("")`, which no token matches, so the client is asked to authenticate again.
pub fn token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?;
    let value = value.to_str().ok().unwrap_or("");
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let (user, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
        // Some tools put the token in the username and leave the password empty.
        let secret = if password.is_empty() { user } else { password };
        return Some(secret.to_owned());
    }
    Some(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn schemes() {
        assert_eq!(token(&HeaderMap::new()), None);
        assert_eq!(token(&with("Bearer mh_x")).as_deref(), Some("mh_x"));
        // hf_user:mh_abc
        assert_eq!(
            token(&with("Basic aGZfdXNlcjptaF9hYmM=")).as_deref(),
            Some("mh_abc")
        );
        // mh_abc: (token as username)
        assert_eq!(
            token(&with("basic bWhfYWJjOg==")).as_deref(),
            Some("mh_abc")
        );
        assert_eq!(token(&with("Basic !!!")).as_deref(), Some(""));
        assert_eq!(token(&with("Digest x")).as_deref(), Some(""));
    }
}
