//! The `otpauth://totp/ISSUER:EMAIL?secret=…&issuer=…` URI that authenticator apps read
//! from a QR code (Google's Key URI Format). Issuer and account name are percent-encoded
//! in the label and the issuer is repeated as a parameter, as the format recommends.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::domain::totp::{TotpSecret, DIGITS, RFC6238_STEP_SECONDS};

/// Everything but RFC 3986 unreserved characters is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Builds the provisioning URI for `secret`.
pub fn otpauth_uri(issuer: &str, account_name: &str, secret: &TotpSecret) -> String {
    let issuer = utf8_percent_encode(issuer, COMPONENT).to_string();
    let account_name = utf8_percent_encode(account_name, COMPONENT).to_string();
    format!(
        "otpauth://totp/{issuer}:{account_name}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={RFC6238_STEP_SECONDS}",
        secret = secret.to_base32(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uri_has_the_spec_shape_with_encoded_label_and_issuer() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
        let uri = otpauth_uri("Acme Corp", "ada+2fa@example.com", &secret);
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Corp:ada%2B2fa%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Corp\
             &algorithm=SHA1&digits=6&period=30"
        );
    }
}
