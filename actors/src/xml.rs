//! Small conveniences over minidom 0.19, whose attribute setters take checked `NcName`s.

use minidom::rxml::{Namespace, NcName};
use minidom::{Element, ElementBuilder, IntoAttributeValue};

/// An attribute name written in code. Panics only on a programming error (a literal that is not
/// an NCName), never on input.
pub fn ncname(name: &str) -> NcName {
    NcName::try_from(name).expect("attribute names in code are NCNames")
}

/// Setting unqualified attributes by `&str` name.
pub trait SetAttr {
    fn set(&mut self, name: &str, value: impl IntoAttributeValue);
    fn unset(&mut self, name: &str);
}

impl SetAttr for Element {
    fn set(&mut self, name: &str, value: impl IntoAttributeValue) {
        match value.into_attribute_value() {
            Some(v) => self.set_attr(Namespace::NONE, ncname(name), v),
            None => self.unset(name),
        }
    }

    fn unset(&mut self, name: &str) {
        self.attrs_mut().remove(Namespace::none(), name);
    }
}

/// Builder shorthand: `.a("type", "error")`.
pub trait BuildAttr {
    fn a(self, name: &str, value: impl IntoAttributeValue) -> Self;
}

impl BuildAttr for ElementBuilder {
    fn a(self, name: &str, value: impl IntoAttributeValue) -> Self {
        self.attr(ncname(name), value)
    }
}
