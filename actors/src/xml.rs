//! Small conveniences over minidom 0.19, whose attribute setters take checked `NcName`s.

use minidom::rxml::{Namespace, NcName};
use minidom::{Element, ElementBuilder, IntoAttributeValue, Node};

/// An attribute name written in code. Panics only on a programming error (a literal that is not
/// an NCName), never on input.
pub fn ncname(name: &str) -> NcName {
    NcName::try_from(name).expect("attribute names in code are NCNames")
}

/// The namespace and local name of an attribute written in code: unqualified, or `xml:lang`
/// (the one prefixed attribute of RFC 6120 stanzas).
fn qualified(name: &str) -> (Namespace<'static>, NcName) {
    match name.strip_prefix("xml:") {
        Some(local) => (Namespace::xml().clone(), ncname(local)),
        None => (Namespace::NONE, ncname(name)),
    }
}

/// Setting unqualified attributes by `&str` name.
pub trait SetAttr {
    fn set(&mut self, name: &str, value: impl IntoAttributeValue);
    fn unset(&mut self, name: &str);
}

impl SetAttr for Element {
    fn set(&mut self, name: &str, value: impl IntoAttributeValue) {
        match value.into_attribute_value() {
            Some(v) => {
                let (ns, local) = qualified(name);
                self.set_attr(ns, local, v)
            }
            None => self.unset(name),
        }
    }

    fn unset(&mut self, name: &str) {
        let (ns, local) = qualified(name);
        self.attrs_mut().remove(&ns, &local);
    }
}

/// Builder shorthand: `.a("type", "error")`.
pub trait BuildAttr {
    fn a(self, name: &str, value: impl IntoAttributeValue) -> Self;
}

impl BuildAttr for ElementBuilder {
    fn a(self, name: &str, value: impl IntoAttributeValue) -> Self {
        let (ns, local) = qualified(name);
        self.attr_ns(ns, local, value)
    }
}

/// Appends ` name='value'` with the value escaped, for the few stanzas the actors serialise
/// themselves (see `crate::link::Outbound`).
pub fn push_attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    push_value(out, value);
}

/// Appends `='value'`, the value escaped.
fn push_value(out: &mut String, value: &str) {
    out.push_str("='");
    push_escaped(out, value);
    out.push('\'');
}

/// Appends character data, escaped for use as text or inside a single- or double-quoted
/// attribute value (whitespace other than spaces as character references, which attribute
/// value normalisation would otherwise turn into spaces).
pub fn push_escaped(out: &mut String, s: &str) {
    push_escaping(out, s, |b| {
        matches!(b, b'&' | b'<' | b'>' | b'\'' | b'"' | b'\n' | b'\r' | b'\t')
    });
}

/// Appends `s` with each byte for which `special` holds written as its entity or character
/// reference (`special` picks among `& < > ' " \n \r \t`, all ASCII, so every cut falls on a
/// character boundary).
fn push_escaping(out: &mut String, s: &str, special: impl Fn(u8) -> bool) {
    let mut rest = s;
    while let Some(i) = rest.bytes().position(&special) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\'' => "&apos;",
            b'"' => "&quot;",
            b'\n' => "&#xA;",
            b'\r' => "&#xD;",
            b'\t' => "&#x9;",
            other => unreachable!("no reference for byte {other}"),
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// Serialises a stanza for a client stream in one pass over the tree, beginning with its own
/// namespace declaration (`xmlns='jabber:client'` for a stanza), so that the text stands on
/// its own (see `crate::link::Outbound`). Children declare a default namespace only where it
/// changes; namespaced attributes other than `xml:` ones get a prefix declared where first
/// needed, and prefixes the element was parsed with are declared again as they were.
pub fn serialize(el: &Element) -> String {
    let mut out = String::with_capacity(256);
    let mut scope = Vec::new();
    write_element(&mut out, el, None, &mut scope);
    out
}

/// Appends `el`, whose parent's default namespace is `parent_ns` (`None` at the top).
/// `scope` holds the prefixes declared by the ancestors, innermost last.
fn write_element(
    out: &mut String,
    el: &Element,
    parent_ns: Option<&str>,
    scope: &mut Vec<(String, String)>,
) {
    let outer = scope.len();
    out.push('<');
    out.push_str(el.name());
    let own_ns = match parent_ns {
        Some(p) if el.has_ns(p) => None,
        _ => Some(el.ns()),
    };
    if let Some(ns) = &own_ns {
        push_attr(out, "xmlns", ns);
    }
    for (prefix, ns) in el.prefixes.declared_prefixes() {
        if let Some(prefix) = prefix {
            if prefix != "xml" && prefix != "xmlns" {
                out.push_str(" xmlns:");
                out.push_str(prefix);
                push_value(out, ns);
                scope.push((prefix.clone(), ns.clone()));
            }
        }
    }
    for ((ns, name), value) in el.attrs() {
        if ns.is_empty() {
            push_attr(out, name, value);
            continue;
        }
        out.push(' ');
        if **ns == **Namespace::xml() {
            out.push_str("xml");
        } else if let Some((prefix, _)) = scope.iter().rev().find(|(_, n)| **n == **ns) {
            out.push_str(prefix);
        } else {
            let mut n = scope.len();
            let prefix = loop {
                let p = format!("ns{n}");
                if scope.iter().all(|(taken, _)| *taken != p) {
                    break p;
                }
                n += 1;
            };
            out.push_str("xmlns:");
            out.push_str(&prefix);
            push_value(out, ns);
            out.push(' ');
            out.push_str(&prefix);
            scope.push((prefix, ns.to_string()));
        }
        out.push(':');
        out.push_str(name);
        push_value(out, value);
    }
    let mut nodes = el.nodes().peekable();
    if nodes.peek().is_none() {
        out.push_str("/>");
    } else {
        out.push('>');
        let ns = own_ns.as_deref().or(parent_ns);
        for node in nodes {
            match node {
                Node::Element(child) => write_element(out, child, ns, scope),
                Node::Text(text) => push_text(out, text),
            }
        }
        out.push_str("</");
        out.push_str(el.name());
        out.push('>');
    }
    scope.truncate(outer);
}

/// Appends character data escaped for element content (`\r` too, which a parser would
/// otherwise turn into a line feed).
fn push_text(out: &mut String, s: &str) {
    push_escaping(out, s, |b| matches!(b, b'&' | b'<' | b'>' | b'\r'));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_lang_is_the_xml_namespace_attribute() {
        let el = Element::builder("text", "urn:x")
            .a("xml:lang", "en")
            .a("id", "1")
            .build();
        assert_eq!(el.attr_ns(Namespace::xml(), "lang"), Some("en"));
        let s = String::from(&el);
        assert!(
            s.contains("xml:lang=\"en\"") || s.contains("xml:lang='en'"),
            "{s}"
        );
    }

    #[test]
    fn escaped_values_parse_back_to_the_original() {
        let nasty = "a&b<c>d'e\"f &amp; ]]>\r\n\tg";
        let mut xml = String::from("<x xmlns='urn:t'");
        push_attr(&mut xml, "v", nasty);
        xml.push('>');
        push_escaped(&mut xml, nasty);
        xml.push_str("</x>");
        let el: Element = xml.parse().unwrap();
        assert_eq!(el.attr("v"), Some(nasty));
        assert_eq!(el.text(), nasty);
    }

    fn round_trip(xml: &str) -> String {
        let el: Element = xml.parse().unwrap();
        let out = serialize(&el);
        let back: Element = out
            .parse()
            .unwrap_or_else(|e| panic!("{out} does not parse: {e}"));
        assert_eq!(back, el, "{xml} came back as {out}");
        out
    }

    #[test]
    fn a_stanza_declares_its_namespace_and_children_only_a_change() {
        let out = round_trip(
            "<message xmlns='jabber:client' to='b@x'><body>hi</body>\
             <active xmlns='http://jabber.org/protocol/chatstates'/></message>",
        );
        assert_eq!(
            out,
            "<message xmlns='jabber:client' to='b@x'><body>hi</body>\
             <active xmlns='http://jabber.org/protocol/chatstates'/></message>"
        );
    }

    #[test]
    fn text_and_values_are_escaped() {
        let out = round_trip(
            "<message xmlns='jabber:client' id='&apos;&quot;&lt;&amp;&#xA;'>\
             <body>a &amp; b &lt;c&gt; ]]&gt; &#xD;\n\t'\"</body></message>",
        );
        assert!(
            out.contains("<body>a &amp; b &lt;c&gt; ]]&gt; &#xD;"),
            "{out}"
        );
    }

    #[test]
    fn namespaces_nest_and_reset_and_foreign_attributes_keep_theirs() {
        round_trip(
            "<iq xmlns='jabber:client' type='result' id='1'>\
             <query xmlns='urn:a' xml:lang='en'><item><x xmlns='urn:b'><y/></x></item>\
             <plain xmlns=''><z/></plain><item/></query></iq>",
        );
        let out = round_trip(
            "<message xmlns='jabber:client' xmlns:f='urn:f' f:a='1'>\
             <f:thing f:b='2' xmlns:g='urn:g' g:c='3'><g:deep/></f:thing><tail f:d='4'/></message>",
        );
        assert!(out.contains("'urn:f'"), "{out}");
    }

    #[test]
    fn an_attribute_namespace_never_declared_gets_a_fresh_prefix() {
        let mut el = Element::builder("presence", "jabber:client")
            .append(Element::builder("c", "urn:caps").build())
            .build();
        el.set_attr(Namespace::from("urn:other".to_string()), ncname("ns0"), "v");
        let out = serialize(&el);
        let back: Element = out.parse().unwrap();
        assert_eq!(back, el, "{out}");
    }
}
