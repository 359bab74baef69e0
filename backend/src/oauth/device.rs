//! The device a token request proves beside the client (issue 19, part 3), for applications
//! that require one: `X-Device-Authorization: Basic base64(device_id:device_secret)`, as
//! SanteDB sends it, with the id and secret form-urlencoded as for a client's HTTP Basic
//! (RFC 6749 §2.3.1) and the scheme matched without regard to case; or, with no such header,
//! the client certificate of the connection, registered to a device.

use actix_web::HttpRequest;
use secrecy::SecretString;

use super::authentication::Credential;
use super::error::OAuthError;
use super::request::basic_credentials;

/// The header a device proves itself in.
pub const DEVICE_AUTHORIZATION: &str = "x-device-authorization";

/// A device's id and secret, as presented. `Debug` never shows the secret.
#[derive(Debug)]
pub struct DeviceCredentials {
    pub device_id: String,
    pub secret: SecretString,
}

/// A device that proved itself: its id, the credential it used (for its last use), and
/// the thumbprint of its certificate when it proved itself with one, which binds the token
/// (RFC 8705 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenDevice {
    pub device_id: String,
    pub credential: Credential,
    pub certificate_sha256: Option<String>,
}

/// The device credentials of `req`, if it sent `X-Device-Authorization`.
///
/// # Errors
/// `400 invalid_request` when the header is not Basic credentials, or comes twice: the
/// client is misconfigured, and a person should read why.
pub fn presented_device(req: &HttpRequest) -> Result<Option<DeviceCredentials>, OAuthError> {
    let mut lines = req.headers().get_all(DEVICE_AUTHORIZATION);
    let Some(first) = lines.next() else {
        return Ok(None);
    };
    if lines.next().is_some() {
        return Err(malformed());
    }
    let basic = first
        .to_str()
        .ok()
        .and_then(basic_credentials)
        .filter(|basic| !basic.client_id.is_empty())
        .ok_or_else(malformed)?;
    Ok(Some(DeviceCredentials {
        device_id: basic.client_id,
        secret: basic.secret,
    }))
}

fn malformed() -> OAuthError {
    OAuthError::invalid_request(
        "The X-Device-Authorization header is not one set of device credentials: send \
         the word Basic, a space, and base64 of the device id, a colon and the device \
         secret, each form-urlencoded.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use secrecy::ExposeSecret;

    fn with(headers: &[&str]) -> HttpRequest {
        let mut request = TestRequest::default();
        for header in headers {
            request = request.append_header((DEVICE_AUTHORIZATION, *header));
        }
        request.to_http_request()
    }

    #[test]
    fn the_header_is_basic_credentials_in_any_case() {
        let encoded = STANDARD.encode("my%20device:s%3Acret");
        let device = presented_device(&with(&[&format!("bAsIc {encoded}")]))
            .unwrap()
            .unwrap();
        assert_eq!(device.device_id, "my device");
        assert_eq!(device.secret.expose_secret(), "s:cret");
        assert!(!format!("{device:?}").contains("s:cret"));
        assert!(presented_device(&with(&[])).unwrap().is_none());
    }

    #[test]
    fn a_malformed_or_doubled_header_is_invalid_request() {
        let good = format!("Basic {}", STANDARD.encode("id:secret"));
        for headers in [
            vec!["Bearer abc".to_owned()],
            vec!["Basic not-base64!".to_owned()],
            vec![format!("Basic {}", STANDARD.encode("no colon"))],
            vec![format!("Basic {}", STANDARD.encode(":secret"))],
            vec![good.clone(), good],
        ] {
            let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
            let refused = presented_device(&with(&headers)).unwrap_err();
            assert!(refused.description.contains("X-Device-Authorization"));
        }
    }
}
