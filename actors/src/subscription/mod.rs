//! The presence subscription state machine of RFC 6121 Appendix A (RFC 3921 §9) as pure
//! functions: `(state, stanza type) -> (new state, effects)`.
//!
//! A state is seen from the user's side, for one contact: the subscription (None, To, From,
//! Both), whether the user's own request is pending ("Pending Out", `ask='subscribe'`), whether
//! the contact's request is pending ("Pending In"), and whether the user pre-approved the
//! contact's future request (RFC 6121 §3.4, `approved='true'`).
//!
//! Where RFC 6121 and RFC 3921 differ, RFC 6121 wins: an inbound `unsubscribe` is not answered
//! with an automatic `unsubscribed` (RFC 6121 §3.3.3 dropped the RFC 3921 Table 4 auto-reply),
//! and an outbound `subscribed` without a pending request is a pre-approval (§3.4).

pub(crate) mod handler;

use std::fmt;

use cordial_storage::Subscription;
use minidom::Element;

use crate::ns;
use crate::xml::BuildAttr;

/// A subscription-related presence type (RFC 6121 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubType {
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
}

impl SubType {
    pub fn parse(type_: &str) -> Option<Self> {
        match type_ {
            "subscribe" => Some(SubType::Subscribe),
            "subscribed" => Some(SubType::Subscribed),
            "unsubscribe" => Some(SubType::Unsubscribe),
            "unsubscribed" => Some(SubType::Unsubscribed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SubType::Subscribe => "subscribe",
            SubType::Subscribed => "subscribed",
            SubType::Unsubscribe => "unsubscribe",
            SubType::Unsubscribed => "unsubscribed",
        }
    }
}

/// The subscription state of one contact, from the user's side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub sub: Subscription,
    /// "Pending Out": the user asked for the contact's presence and has no answer yet.
    pub pending_out: bool,
    /// "Pending In": the contact asked for the user's presence and has no answer yet.
    pub pending_in: bool,
    /// The user pre-approved a subscription request from the contact.
    pub approved: bool,
}

impl State {
    pub const fn new(sub: Subscription, pending_out: bool, pending_in: bool) -> Self {
        State {
            sub,
            pending_out,
            pending_in,
            approved: false,
        }
    }

    /// The user receives the contact's presence ("To" or "Both").
    pub fn to(self) -> bool {
        matches!(self.sub, Subscription::To | Subscription::Both)
    }

    /// The contact receives the user's presence ("From" or "Both").
    pub fn from(self) -> bool {
        matches!(self.sub, Subscription::From | Subscription::Both)
    }

    fn with(self, to: bool, from: bool) -> Self {
        let sub = match (to, from) {
            (false, false) => Subscription::None,
            (true, false) => Subscription::To,
            (false, true) => Subscription::From,
            (true, true) => Subscription::Both,
        };
        State { sub, ..self }
    }

    /// The nine states of RFC 6121 Appendix A.1 (pre-approval aside).
    pub const ALL: [State; 9] = [
        State::new(Subscription::None, false, false),
        State::new(Subscription::None, true, false),
        State::new(Subscription::None, false, true),
        State::new(Subscription::None, true, true),
        State::new(Subscription::To, false, false),
        State::new(Subscription::To, false, true),
        State::new(Subscription::From, false, false),
        State::new(Subscription::From, true, false),
        State::new(Subscription::Both, false, false),
    ];
}

/// The names RFC 6121 Appendix A.1 uses.
impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = match self.sub {
            Subscription::None => "None",
            Subscription::To => "To",
            Subscription::From => "From",
            Subscription::Both => "Both",
        };
        f.write_str(base)?;
        match (self.pending_out, self.pending_in) {
            (true, true) => f.write_str(" + Pending Out+In")?,
            (true, false) => f.write_str(" + Pending Out")?,
            (false, true) => f.write_str(" + Pending In")?,
            (false, false) => {}
        }
        if self.approved {
            f.write_str(" + Approved")?;
        }
        Ok(())
    }
}

/// What the user's server does with a subscription stanza the user sent (Appendix A.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outbound {
    pub state: State,
    /// Route the stanza to the contact.
    pub route: bool,
}

/// What the user's server does with a subscription stanza from the contact (Appendix A.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inbound {
    pub state: State,
    /// Deliver the stanza to the user.
    pub deliver: bool,
    /// Answer the contact on the user's behalf.
    pub reply: Option<SubType>,
}

/// RFC 6121 Appendix A.2: the user sends `t` to the contact.
/// A subscription presence from `from` (a bare JID) to `to`.
pub fn subscription_presence(from: &str, to: &str, t: SubType) -> Element {
    Element::builder("presence", ns::JABBER_CLIENT)
        .a("type", t.as_str())
        .a("from", from)
        .a("to", to)
        .build()
}

pub fn outbound(s: State, t: SubType) -> Outbound {
    let routed = |state| Outbound { state, route: true };
    let kept = |state| Outbound {
        state,
        route: false,
    };
    match t {
        // A.2.1: always routed (lets the user resynchronise); None and From gain Pending Out.
        SubType::Subscribe => routed(State {
            pending_out: s.pending_out || !s.to(),
            ..s
        }),
        // A.2.2: always routed; the user's side of the subscription ends.
        SubType::Unsubscribe => routed(State {
            pending_out: false,
            ..s.with(false, s.from())
        }),
        // A.2.3: approves a pending request; without one it is a pre-approval (§3.4), which
        // is not routed.
        SubType::Subscribed => {
            if s.from() {
                kept(s)
            } else if s.pending_in {
                routed(State {
                    pending_in: false,
                    approved: false,
                    ..s.with(s.to(), true)
                })
            } else {
                kept(State {
                    approved: true,
                    ..s
                })
            }
        }
        // A.2.4: denies a pending request or cancels the contact's subscription; also cancels
        // a pre-approval (§3.4), which alone is not routed.
        SubType::Unsubscribed => {
            let changes = s.from() || s.pending_in;
            let state = State {
                pending_in: false,
                approved: false,
                ..s.with(s.to(), false)
            };
            if changes {
                routed(state)
            } else {
                kept(state)
            }
        }
    }
}

/// RFC 6121 Appendix A.3: the contact sends `t` to the user.
pub fn inbound(s: State, t: SubType) -> Inbound {
    let unchanged = Inbound {
        state: s,
        deliver: false,
        reply: None,
    };
    match t {
        SubType::Subscribe => {
            if s.from() {
                // A.3.1 and §3.1.3: already subscribed; answer for the user so the contact
                // can resynchronise.
                Inbound {
                    reply: Some(SubType::Subscribed),
                    ..unchanged
                }
            } else if s.approved {
                // §3.4: pre-approved; approve without asking the user.
                Inbound {
                    state: State {
                        approved: false,
                        pending_in: false,
                        ..s.with(s.to(), true)
                    },
                    deliver: false,
                    reply: Some(SubType::Subscribed),
                }
            } else if s.pending_in {
                // Already recorded; the stored request is redelivered anyway.
                unchanged
            } else {
                Inbound {
                    state: State {
                        pending_in: true,
                        ..s
                    },
                    deliver: true,
                    reply: None,
                }
            }
        }
        // A.3.2: the contact's subscription to the user ends, or its request is withdrawn.
        SubType::Unsubscribe => {
            if s.from() || s.pending_in {
                Inbound {
                    state: State {
                        pending_in: false,
                        ..s.with(s.to(), false)
                    },
                    deliver: true,
                    reply: None,
                }
            } else {
                unchanged
            }
        }
        // A.3.3: only an answer to the user's pending request changes anything.
        SubType::Subscribed => {
            if s.pending_out && !s.to() {
                Inbound {
                    state: State {
                        pending_out: false,
                        ..s.with(true, s.from())
                    },
                    deliver: true,
                    reply: None,
                }
            } else {
                unchanged
            }
        }
        // A.3.4: the user's request is denied or the user's subscription cancelled.
        SubType::Unsubscribed => {
            if s.pending_out || s.to() {
                Inbound {
                    state: State {
                        pending_out: false,
                        ..s.with(false, s.from())
                    },
                    deliver: true,
                    reply: None,
                }
            } else {
                unchanged
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state by its RFC 6121 Appendix A.1 name.
    fn st(name: &str) -> State {
        *State::ALL
            .iter()
            .find(|s| s.to_string() == name)
            .unwrap_or_else(|| panic!("no state named {name}"))
    }

    /// Checks one table: every one of the nine states appears exactly once.
    fn check(table: &str, rows: [(&str, bool, &str); 9], f: impl Fn(State) -> (State, bool)) {
        let mut seen = Vec::new();
        for (from, flag, to) in rows {
            let (got, got_flag) = f(st(from));
            let want = if to == "no state change" {
                st(from)
            } else {
                st(to)
            };
            assert_eq!(got, want, "{table}: {from}");
            assert_eq!(got_flag, flag, "{table}: {from} (route/deliver)");
            seen.push(from);
        }
        for s in State::ALL {
            assert!(
                seen.contains(&s.to_string().as_str()),
                "{table}: {s} missing"
            );
        }
    }

    #[test]
    fn a_2_1_outbound_subscribe() {
        check(
            "A.2.1",
            [
                ("None", true, "None + Pending Out"),
                ("None + Pending Out", true, "no state change"),
                ("None + Pending In", true, "None + Pending Out+In"),
                ("None + Pending Out+In", true, "no state change"),
                ("To", true, "no state change"),
                ("To + Pending In", true, "no state change"),
                ("From", true, "From + Pending Out"),
                ("From + Pending Out", true, "no state change"),
                ("Both", true, "no state change"),
            ],
            |s| {
                let o = outbound(s, SubType::Subscribe);
                (o.state, o.route)
            },
        );
    }

    #[test]
    fn a_2_2_outbound_unsubscribe() {
        check(
            "A.2.2",
            [
                ("None", true, "no state change"),
                ("None + Pending Out", true, "None"),
                ("None + Pending In", true, "no state change"),
                ("None + Pending Out+In", true, "None + Pending In"),
                ("To", true, "None"),
                ("To + Pending In", true, "None + Pending In"),
                ("From", true, "no state change"),
                ("From + Pending Out", true, "From"),
                ("Both", true, "From"),
            ],
            |s| {
                let o = outbound(s, SubType::Unsubscribe);
                (o.state, o.route)
            },
        );
    }

    #[test]
    fn a_2_3_outbound_subscribed() {
        // Rows without a pending request are pre-approvals: not routed, state unchanged except
        // for the approval, checked below.
        check(
            "A.2.3",
            [
                ("None", false, "no state change"),
                ("None + Pending Out", false, "no state change"),
                ("None + Pending In", true, "From"),
                ("None + Pending Out+In", true, "From + Pending Out"),
                ("To", false, "no state change"),
                ("To + Pending In", true, "Both"),
                ("From", false, "no state change"),
                ("From + Pending Out", false, "no state change"),
                ("Both", false, "no state change"),
            ],
            |s| {
                let o = outbound(s, SubType::Subscribed);
                (
                    State {
                        approved: false,
                        ..o.state
                    },
                    o.route,
                )
            },
        );
        for name in ["None", "None + Pending Out", "To"] {
            assert!(
                outbound(st(name), SubType::Subscribed).state.approved,
                "§3.4 pre-approval in {name}"
            );
        }
        for name in ["From", "From + Pending Out", "Both", "None + Pending In"] {
            assert!(!outbound(st(name), SubType::Subscribed).state.approved);
        }
    }

    #[test]
    fn a_2_4_outbound_unsubscribed() {
        check(
            "A.2.4",
            [
                ("None", false, "no state change"),
                ("None + Pending Out", false, "no state change"),
                ("None + Pending In", true, "None"),
                ("None + Pending Out+In", true, "None + Pending Out"),
                ("To", false, "no state change"),
                ("To + Pending In", true, "To"),
                ("From", true, "None"),
                ("From + Pending Out", true, "None + Pending Out"),
                ("Both", true, "To"),
            ],
            |s| {
                let o = outbound(s, SubType::Unsubscribed);
                (o.state, o.route)
            },
        );
        // §3.4: unsubscribed cancels a pre-approval, without routing anything.
        let approved = outbound(st("None"), SubType::Subscribed).state;
        let o = outbound(approved, SubType::Unsubscribed);
        assert_eq!((o.state, o.route), (st("None"), false));
    }

    #[test]
    fn a_3_1_inbound_subscribe() {
        check(
            "A.3.1",
            [
                ("None", true, "None + Pending In"),
                ("None + Pending Out", true, "None + Pending Out+In"),
                ("None + Pending In", false, "no state change"),
                ("None + Pending Out+In", false, "no state change"),
                ("To", true, "To + Pending In"),
                ("To + Pending In", false, "no state change"),
                ("From", false, "no state change"),
                ("From + Pending Out", false, "no state change"),
                ("Both", false, "no state change"),
            ],
            |s| {
                let i = inbound(s, SubType::Subscribe);
                (i.state, i.deliver)
            },
        );
        // §3.1.3: the server answers `subscribed` for a user who already approved.
        for s in State::ALL {
            let want = s.from().then_some(SubType::Subscribed);
            assert_eq!(inbound(s, SubType::Subscribe).reply, want, "{s}");
        }
    }

    #[test]
    fn a_3_1_inbound_subscribe_after_pre_approval() {
        for (name, after) in [
            ("None", "From"),
            ("None + Pending Out", "From + Pending Out"),
            ("To", "Both"),
        ] {
            let approved = outbound(st(name), SubType::Subscribed).state;
            let i = inbound(approved, SubType::Subscribe);
            assert_eq!(i.state, st(after), "{name}");
            assert!(!i.deliver);
            assert_eq!(i.reply, Some(SubType::Subscribed));
        }
    }

    #[test]
    fn a_3_2_inbound_unsubscribe() {
        check(
            "A.3.2",
            [
                ("None", false, "no state change"),
                ("None + Pending Out", false, "no state change"),
                ("None + Pending In", true, "None"),
                ("None + Pending Out+In", true, "None + Pending Out"),
                ("To", false, "no state change"),
                ("To + Pending In", true, "To"),
                ("From", true, "None"),
                ("From + Pending Out", true, "None + Pending Out"),
                ("Both", true, "To"),
            ],
            |s| {
                let i = inbound(s, SubType::Unsubscribe);
                assert_eq!(i.reply, None, "RFC 6121 has no auto-reply here");
                (i.state, i.deliver)
            },
        );
    }

    #[test]
    fn a_3_3_inbound_subscribed() {
        check(
            "A.3.3",
            [
                ("None", false, "no state change"),
                ("None + Pending Out", true, "To"),
                ("None + Pending In", false, "no state change"),
                ("None + Pending Out+In", true, "To + Pending In"),
                ("To", false, "no state change"),
                ("To + Pending In", false, "no state change"),
                ("From", false, "no state change"),
                ("From + Pending Out", true, "Both"),
                ("Both", false, "no state change"),
            ],
            |s| {
                let i = inbound(s, SubType::Subscribed);
                (i.state, i.deliver)
            },
        );
    }

    #[test]
    fn a_3_4_inbound_unsubscribed() {
        check(
            "A.3.4",
            [
                ("None", false, "no state change"),
                ("None + Pending Out", true, "None"),
                ("None + Pending In", false, "no state change"),
                ("None + Pending Out+In", true, "None + Pending In"),
                ("To", true, "None"),
                ("To + Pending In", true, "None + Pending In"),
                ("From", false, "no state change"),
                ("From + Pending Out", true, "From"),
                ("Both", true, "From"),
            ],
            |s| {
                let i = inbound(s, SubType::Unsubscribed);
                (i.state, i.deliver)
            },
        );
    }

    #[test]
    fn the_states_are_the_nine_of_appendix_a() {
        let names: Vec<String> = State::ALL.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            names,
            [
                "None",
                "None + Pending Out",
                "None + Pending In",
                "None + Pending Out+In",
                "To",
                "To + Pending In",
                "From",
                "From + Pending Out",
                "Both"
            ]
        );
    }
}
