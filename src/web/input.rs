//! Text no endpoint accepts, refused at the door: a request whose path or query string holds a
//! NUL byte or another control character, once percent-decoded.
//!
//! PostgreSQL cannot store NUL in `text` (SQLite can), so such a value reaching a look-up would
//! answer 503 on one backend and 404 on the other; and no parameter of OAuth (RFC 6749
//! Appendix A: `VSCHAR`, `NQCHAR`, URI references), of the check or of the management API
//! holds control characters. Refused here with 400 in the endpoint's own envelope, the same on
//! both backends. Bodies are checked where they are parsed (`oauth::params`,
//! `oauth::authorize`, `validate`).

use actix_web::Error;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use super::error;

/// Whether percent-decoded `text` holds a control character (C0 or DEL).
pub(crate) fn has_control(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        i += 2;
                        (h * 16 + l) as u8
                    }
                    _ => b'%',
                }
            }
            b => b,
        };
        if b < 0x20 || b == 0x7f {
            return true;
        }
        i += 1;
    }
    false
}

pub(crate) async fn refuse_control_characters(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let uri = req.uri();
    if has_control(uri.path()) || uri.query().is_some_and(has_control) {
        let res = error::control_characters(req.path());
        return Ok(req.into_response(res).map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::has_control;

    #[test]
    fn control_characters_are_found_raw_and_percent_encoded() {
        for bad in ["a%00b", "%0a", "x=%1F", "%7f", "a\tb", "%7F"] {
            assert!(has_control(bad), "{bad}");
        }
        for good in ["a%20b", "%E2%80%AE", "100%", "%2", "%zz", "state=x%2By", ""] {
            assert!(!has_control(good), "{good}");
        }
    }
}
