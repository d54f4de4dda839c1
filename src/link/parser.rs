//! Stanzas from XML events, with limits.
//!
//! xmlstream hands us rxml events; [`Stanza`]'s builder turns them into a [`minidom::Element`]
//! iteratively (an explicit stack, so nesting costs O(1) per event, unlike a recursive builder)
//! and counts wire bytes and depth against the connection's [`LinkLimits`]. Crossing a limit
//! trips the connection's flag so that the framing stops reading at once.

use minidom::Element;
use xso::exports::rxml;
use xso::{error::Error, error::FromEventsError, Context, FromEventsBuilder, FromXml};

use super::framing::{Limit, LIMITS};

/// The error text of a crossed limit, recognised by the link.
pub const LIMIT_CROSSED: &str = "stanza exceeds a configured limit";

/// One top-level element of the stream (a stanza or a negotiation element).
#[derive(Debug)]
pub struct Stanza(pub Element);

impl FromXml for Stanza {
    type Builder = StanzaBuilder;

    fn from_events(
        qname: rxml::QName,
        attrs: rxml::AttrMap,
        _ctx: &Context<'_>,
    ) -> Result<Self::Builder, FromEventsError> {
        let mut b = StanzaBuilder {
            stack: Vec::new(),
            bytes: 0,
        };
        b.open(qname, attrs, 0).map_err(FromEventsError::Invalid)?;
        Ok(b)
    }
}

pub struct StanzaBuilder {
    stack: Vec<Element>,
    bytes: usize,
}

fn limits() -> (usize, usize) {
    LIMITS
        .try_with(|l| (l.max_stanza_bytes, l.max_depth))
        .unwrap_or((256 * 1024, 64))
}

fn trip(limit: Limit) -> Error {
    let _ = LIMITS.try_with(|l| l.tripped.set(Some(limit)));
    Error::Other(LIMIT_CROSSED)
}

impl StanzaBuilder {
    fn count(&mut self, n: usize) -> Result<(), Error> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > limits().0 {
            return Err(trip(Limit::StanzaSize));
        }
        Ok(())
    }

    fn open(&mut self, qname: rxml::QName, attrs: rxml::AttrMap, wire: usize) -> Result<(), Error> {
        if self.stack.len() + 1 > limits().1 {
            return Err(trip(Limit::Depth));
        }
        let mut size = wire.max(qname.0.len() + qname.1.len());
        let mut builder = Element::builder(qname.1, qname.0);
        for ((ns, name), value) in attrs.into_iter() {
            size += ns.len() + name.len() + value.len();
            builder = builder.attr_ns(ns, name, value);
        }
        self.count(size)?;
        self.stack.push(builder.build());
        Ok(())
    }
}

impl FromEventsBuilder for StanzaBuilder {
    type Output = Stanza;

    fn feed(&mut self, ev: rxml::Event, _ctx: &Context<'_>) -> Result<Option<Stanza>, Error> {
        match ev {
            rxml::Event::XmlDeclaration(..) => Ok(None),
            rxml::Event::StartElement(m, qname, attrs) => {
                self.open(qname, attrs, m.len()).map(|()| None)
            }
            rxml::Event::Text(m, text) => {
                self.count(m.len().max(text.len()))?;
                if let Some(top) = self.stack.last_mut() {
                    top.append_text_node(text);
                }
                Ok(None)
            }
            rxml::Event::EndElement(m) => {
                self.count(m.len())?;
                let done = self
                    .stack
                    .pop()
                    .expect("an end event closes an open element");
                match self.stack.last_mut() {
                    Some(parent) => {
                        parent.append_child(done);
                        Ok(None)
                    }
                    None => Ok(Some(Stanza(done))),
                }
            }
        }
    }
}
