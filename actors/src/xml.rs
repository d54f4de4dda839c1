//! Small conveniences over minidom 0.19, whose attribute setters take checked `NcName`s.

use minidom::rxml::{Namespace, NcName};
use minidom::{Element, ElementBuilder, IntoAttributeValue};

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
/// themselves (see `crate::link::Outbound::Xml`).
pub fn push_attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("='");
    push_escaped(out, value);
    out.push('\'');
}

/// Appends character data, escaped for use as text or inside a single- or double-quoted
/// attribute value (whitespace other than spaces as character references, which attribute
/// value normalisation would otherwise turn into spaces).
pub fn push_escaped(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(i) = rest.find(['&', '<', '>', '\'', '"', '\n', '\r', '\t']) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\'' => "&apos;",
            b'"' => "&quot;",
            b'\n' => "&#xA;",
            b'\r' => "&#xD;",
            _ => "&#x9;",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
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
}
