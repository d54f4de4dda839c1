//! In-band registration (XEP-0077): the model both halves share.
//!
//! Before authentication the link (`cordial::link::register`) serves §3.1, the form and the
//! creation of an account on a stream that has not logged in; once a session is bound,
//! [`handler`] serves the same namespace for the account: the form (§3.1), cancellation (§3.2)
//! and password change (§3.3). Both read the `<query xmlns='jabber:iq:register'/>` with
//! [`parse_set`], offer [`form`], take a username through the same nodeprep ([`localpart`],
//! the one an account's JID is made with) and refuse with the errors chosen here, so the two
//! halves cannot drift apart. Pure: no storage, no actors.
//!
//! The errors, where XEP-0077 names them: a username taken is `<conflict/>` and a field the
//! form asked for and did not get `<not-acceptable/>` (§3.1); `<remove/>` with anything beside
//! it is `<bad-request/>`, and before login `<registration-required/>` (§3.2); a password
//! change without both fields is `<bad-request/>` (§3.3). Where it names none: a username that
//! cannot be a localpart is `<jid-malformed/>` (RFC 6120 §8.3.3.8), a password change for
//! another account `<not-allowed/>`.

mod handler;

pub(crate) use handler::after_login;

use jid::{BareJid, NodePart};
use minidom::Element;

use crate::error::{RequestError, Result};
use crate::ns;

/// What an iq set in `jabber:iq:register` asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// §3.2: cancel the registration (`<remove/>`, alone in the query).
    Cancel,
    /// §3.1 (a new account, before login) or §3.3 (a new password, after): the fields given.
    Fields(Fields),
}

/// The `<username/>` and `<password/>` of a set, as given (`None` when the element is absent).
#[derive(Debug, PartialEq, Eq)]
pub struct Fields {
    pub username: Option<String>,
    pub password: Option<String>,
}

/// XEP-0077 §3.1: the form an iq get is answered with. To an entity not logged in
/// (`registered` is `None`): instructions, and an empty username and password to fill in. To
/// a logged-in account: `<registered/>` and its username ("MUST contain an empty
/// `<registered/>` element ... SHOULD contain the registration information currently on
/// file"), the password left empty, and instructions for what it can still do.
pub fn form(registered: Option<&str>) -> Element {
    let el = |name: &str| Element::builder(name, ns::REGISTER);
    let query = el("query");
    match registered {
        None => query
            .append(el("instructions").append("Choose a username and password."))
            .append(el("username"))
            .append(el("password")),
        Some(username) => query
            .append(el("instructions").append(
                "You are registered: send a new password to change it, or <remove/> to cancel \
                 the registration.",
            ))
            .append(el("registered"))
            .append(el("username").append(username))
            .append(el("password")),
    }
    .build()
}

/// The payload of a `jabber:iq:register` iq, get or set, is `<query/>`; else `<bad-request/>`.
pub fn check_query(payload: &Element) -> Result<()> {
    if payload.name() != "query" || payload.ns() != ns::REGISTER {
        return Err(RequestError::bad_request(
            "The payload of jabber:iq:register is <query/>",
        ));
    }
    Ok(())
}

/// What an iq set's `<query/>` asks for. XEP-0077 §3.2: `<remove/>` must be the only child
/// element, else `<bad-request/>`.
pub fn parse_set(query: &Element) -> Result<Request> {
    check_query(query)?;
    if query.has_child("remove", ns::REGISTER) {
        if query.children().count() > 1 {
            return Err(RequestError::bad_request(
                "<remove/> must be the only child of <query/>",
            ));
        }
        return Ok(Request::Cancel);
    }
    let text = |name: &str| query.get_child(name, ns::REGISTER).map(Element::text);
    Ok(Request::Fields(Fields {
        username: text("username"),
        password: text("password"),
    }))
}

/// XEP-0077 §3.1 before login: the account a set asks for on `domain`, and its password. A
/// cancellation here comes from an entity that has not logged in, so is not registered
/// (§3.2: `<registration-required/>`).
pub fn new_account(query: &Element, domain: &str) -> Result<(BareJid, String)> {
    match parse_set(query)? {
        Request::Cancel => Err(RequestError::RegistrationRequired(
            "Log in to cancel a registration".into(),
        )),
        Request::Fields(fields) => fields.new_account(domain),
    }
}

/// XEP-0077 §3.1: the username asked for belongs to an account already: `<conflict/>`.
pub fn username_taken() -> RequestError {
    RequestError::Conflict("That username is taken".into())
}

/// A username as the localpart of an account's JID: nodeprep (RFC 7622 §3.3), so that
/// `Juliet` and `juliet` are one account; anything that cannot be a localpart (an `@`, a
/// space, …) is `<jid-malformed/>`.
pub fn localpart(username: &str) -> Result<NodePart> {
    NodePart::new(username)
        .map(|n| n.into_owned())
        .map_err(|_| RequestError::JidMalformed("The username is not a valid JID localpart".into()))
}

/// The password of a set, refused when absent or empty: §3.1 counts an empty `<password/>` as
/// not provided, and §3.3 never stores one.
fn non_empty_password(password: Option<String>) -> Result<String> {
    password
        .filter(|p| !p.is_empty())
        .ok_or_else(|| RequestError::not_acceptable("The password must not be empty"))
}

impl Fields {
    /// XEP-0077 §3.1: the account a registration creates on `domain`, and its password. Every
    /// field the form asks for is required: a missing or empty one is `<not-acceptable/>`.
    pub fn new_account(self, domain: &str) -> Result<(BareJid, String)> {
        let username = self
            .username
            .filter(|u| !u.is_empty())
            .ok_or_else(|| RequestError::not_acceptable("A username is required"))?;
        let node = localpart(&username)?;
        let bare = BareJid::new(&format!("{node}@{domain}")).map_err(|_| {
            RequestError::JidMalformed("The username does not make a valid JID".into())
        })?;
        Ok((bare, non_empty_password(self.password)?))
    }

    /// XEP-0077 §3.3: the new password of the logged-in account `own`. Both `<username/>` and
    /// `<password/>` are required (`<bad-request/>`); the username must be the account's own,
    /// compared after nodeprep as the account's JID was made (`<not-allowed/>` otherwise); an
    /// empty password keeps the old one (`<not-acceptable/>`).
    pub fn new_password(self, own: &BareJid) -> Result<String> {
        let (Some(username), Some(password)) = (self.username, self.password) else {
            return Err(RequestError::bad_request(
                "A password change needs both <username/> and <password/>",
            ));
        };
        let own_node = own.node().map(|n| n.as_str());
        if localpart(&username).ok().as_deref().map(|n| n.as_str()) != own_node {
            return Err(RequestError::NotAllowed(
                "A password can only be changed for one's own account".into(),
            ));
        }
        non_empty_password(Some(password))
    }
}

/// `iq` without its `<query/>`: what an error about a password change is addressed to, so
/// that it does not carry the password back (XEP-0077 §3.3: "SHOULD NOT return the original
/// XML sent in IQ error stanzas related to password changes").
pub fn without_query(iq: &Element) -> Element {
    let mut bare = iq.clone();
    bare.remove_child("query", ns::REGISTER);
    bare
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stanza::DefinedCondition;

    fn query(inner: &str) -> Element {
        format!("<query xmlns='{}'>{inner}</query>", ns::REGISTER)
            .parse()
            .unwrap()
    }

    fn fields(inner: &str) -> Fields {
        match parse_set(&query(inner)) {
            Ok(Request::Fields(f)) => f,
            other => panic!("not fields: {other:?}"),
        }
    }

    /// The condition a refused request is answered with.
    fn refused<T: std::fmt::Debug>(r: Result<T>) -> DefinedCondition {
        r.unwrap_err().answer().1
    }

    /// Each query (its children) is refused with its condition.
    fn assert_refused<T: std::fmt::Debug>(
        cases: &[(&str, DefinedCondition)],
        answer: impl Fn(&str) -> Result<T>,
    ) {
        for (inner, condition) in cases {
            assert_eq!(refused(answer(inner)), *condition, "{inner}");
        }
    }

    /// The form a client is offered parses back as the empty fields it asks for, and filled in
    /// the way a client fills it, reads back as the account typed.
    #[test]
    fn the_form_round_trips_through_the_parser() {
        let offered = form(None);
        assert!(offered.has_child("instructions", ns::REGISTER));
        assert!(!offered.has_child("registered", ns::REGISTER));
        let empty = Fields {
            username: Some(String::new()),
            password: Some(String::new()),
        };
        assert_eq!(parse_set(&offered).unwrap(), Request::Fields(empty));

        let mut filled = offered.clone();
        for child in filled.children_mut() {
            match child.name() {
                "username" => child.append_text_node("Juliet"),
                "password" => child.append_text_node("R0m30"),
                _ => {}
            }
        }
        let (bare, password) = new_account(&filled, "capulet.lit").unwrap();
        assert_eq!(bare.as_str(), "juliet@capulet.lit");
        assert_eq!(password, "R0m30");
    }

    /// §3.1: a logged-in account is told it is registered and under which username, and is
    /// never sent a password.
    #[test]
    fn a_registered_account_sees_registered_and_its_username_but_no_password() {
        let f = form(Some("juliet"));
        assert!(f.has_child("registered", ns::REGISTER));
        let text = |n: &str| f.get_child(n, ns::REGISTER).map(Element::text);
        assert_eq!(text("username").as_deref(), Some("juliet"));
        assert_eq!(text("password").as_deref(), Some(""));
    }

    /// §3.2: `<remove/>` alone cancels; with anything beside it, `<bad-request/>`; before
    /// login, `<registration-required/>` of type auth.
    #[test]
    fn remove_cancels_only_when_alone_and_only_after_login() {
        assert_eq!(parse_set(&query("<remove/>")).unwrap(), Request::Cancel);
        let crowded = query("<remove/><username>juliet</username>");
        assert_eq!(refused(parse_set(&crowded)), DefinedCondition::BadRequest);
        let before_login = new_account(&query("<remove/>"), "capulet.lit").unwrap_err();
        assert_eq!(
            before_login.answer().0,
            crate::stanza::ErrorType::Auth,
            "{before_login}"
        );
        assert_eq!(
            before_login.answer().1,
            DefinedCondition::RegistrationRequired
        );
    }

    #[test]
    fn a_payload_other_than_the_register_query_is_a_bad_request() {
        for other in [
            "<vCard xmlns='vcard-temp'/>",
            "<query xmlns='jabber:iq:roster'/>",
        ] {
            let el: Element = other.parse().unwrap();
            assert_eq!(refused(parse_set(&el)), DefinedCondition::BadRequest);
        }
    }

    /// §3.1: whatever the form asked for and did not get is `<not-acceptable/>`, an empty
    /// password included; a username that cannot be a localpart is `<jid-malformed/>`.
    #[test]
    fn a_new_account_needs_a_valid_username_and_a_password() {
        let cases = [
            ("<password>pw</password>", DefinedCondition::NotAcceptable),
            (
                "<username/><password>pw</password>",
                DefinedCondition::NotAcceptable,
            ),
            (
                "<username>juliet</username>",
                DefinedCondition::NotAcceptable,
            ),
            (
                "<username>juliet</username><password/>",
                DefinedCondition::NotAcceptable,
            ),
            (
                "<username>ju liet</username><password>pw</password>",
                DefinedCondition::JidMalformed,
            ),
            (
                "<username>juliet@capulet.lit</username><password>pw</password>",
                DefinedCondition::JidMalformed,
            ),
        ];
        assert_refused(&cases, |inner| new_account(&query(inner), "capulet.lit"));
        assert_eq!(username_taken().answer().1, DefinedCondition::Conflict);
    }

    /// §3.3: the account's own username (after nodeprep: any case, beyond ASCII too) and a
    /// non-empty password; a change without both fields is `<bad-request/>`.
    #[test]
    fn a_password_change_is_for_ones_own_account_only() {
        let own = BareJid::new("juliet@capulet.lit").unwrap();
        let change = |inner: &str| fields(inner).new_password(&own);
        let new = change("<username>JULIET</username><password>new</password>");
        assert_eq!(new.unwrap(), "new");
        let accented = BareJid::new("jülie@capulet.lit").unwrap();
        let to_accented = fields("<username>JÜLIE</username><password>new</password>");
        assert_eq!(to_accented.new_password(&accented).unwrap(), "new");

        let cases = [
            ("<password>new</password>", DefinedCondition::BadRequest),
            ("<username>juliet</username>", DefinedCondition::BadRequest),
            (
                "<username>romeo</username><password>new</password>",
                DefinedCondition::NotAllowed,
            ),
            (
                "<username>ju liet</username><password>new</password>",
                DefinedCondition::NotAllowed,
            ),
            (
                "<username>juliet</username><password/>",
                DefinedCondition::NotAcceptable,
            ),
        ];
        assert_refused(&cases, change);
    }
}
