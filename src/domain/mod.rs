//! Pure rules of the product: no I/O, no clock, no database. Everything here takes `now`
//! as an argument and is unit-tested beside the code.

pub mod account;
pub mod api_token;
pub mod email;
pub mod email_token;
pub mod event;
pub mod ids;
pub mod notification;
pub mod oidc;
pub mod otpauth;
pub mod paging;
pub mod password;
pub mod recovery;
pub mod reset_request;
pub mod sealed;
pub mod sign_in;
pub mod throttle;
pub mod time;
pub mod totp;
pub mod two_factor;
pub mod webauthn;
pub mod workspace;
