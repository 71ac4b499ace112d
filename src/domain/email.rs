//! E-mail addresses as account names: trimmed, lowercased, and syntactically checked.
//! Two spellings that differ only in case or surrounding space are the same account.

use email_address::EmailAddress;
use std::str::FromStr;

/// The longest address SMTP can carry (RFC 5321 §4.5.3.1.3 path limit, less the brackets).
pub const MAX_EMAIL_LENGTH: usize = 254;

/// A normalized, valid e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Why a string is not an acceptable e-mail address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailError {
    /// Not of the form `local@domain.tld`, or too long.
    #[error("not a valid e-mail address")]
    Invalid,
}

impl Email {
    /// Trims, lowercases and validates `input`.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let normalized = input.trim().to_lowercase();
        if normalized.is_empty() || normalized.len() > MAX_EMAIL_LENGTH {
            return Err(EmailError::Invalid);
        }
        let parsed = EmailAddress::from_str(&normalized).map_err(|_| EmailError::Invalid)?;
        // A bare host or a quoted/bracketed domain is legal in RFC 5322 but never a real
        // mailbox for an account; require a dotted domain name.
        let domain = parsed.domain();
        let dotted = domain.contains('.')
            && !domain.starts_with('[')
            && domain
                .split('.')
                .all(|label| !label.is_empty() && !label.starts_with('-'));
        if !dotted || normalized.chars().any(char::is_whitespace) {
            return Err(EmailError::Invalid);
        }
        Ok(Email(normalized))
    }

    /// Wraps an address read back from storage (already normalized).
    pub fn from_stored(stored: String) -> Self {
        Email(stored)
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_and_surrounding_space() {
        let email = Email::parse("  Ada.Lovelace@Example.COM \n").map(|e| e.0);
        assert_eq!(email, Ok("ada.lovelace@example.com".to_owned()));
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "   ",
            "ada",
            "ada@",
            "@example.com",
            "ada@localhost",
            "ada@@example.com",
            "ada lovelace@example.com",
            "ada@exa mple.com",
            "ada@.example.com",
            "ada@[127.0.0.1]",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn rejects_overlong_addresses() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse(&long), Err(EmailError::Invalid));
    }

    #[test]
    fn accepts_plus_addressing_and_subdomains() {
        assert!(Email::parse("ada+deadbolt@mail.example.co.uk").is_ok());
    }
}
