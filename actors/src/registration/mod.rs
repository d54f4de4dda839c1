//! In-band registration (XEP-0077).
//!
//! Before authentication the link (`cordial::link`) serves §3.1, the form and the creation of an
//! account; once a session is bound, [`handler`] serves the same namespace for the account:
//! the form (§3.1), cancellation (§3.2) and password change (§3.3).

mod handler;

pub(crate) use handler::after_login;
