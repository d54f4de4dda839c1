use super::{utf8, Engine};
use crate::{keys, Result, VcardStore};

impl VcardStore for Engine {
    fn vcard(&self, bare: &str) -> Result<Option<String>> {
        self.vcards
            .get(keys::account(bare))?
            .map(|v| utf8("vcard", &v))
            .transpose()
    }

    fn set_vcard(&self, bare: &str, vcard_xml: &str) -> Result<()> {
        self.vcards
            .insert(keys::account(bare), vcard_xml.as_bytes())?;
        Ok(())
    }
}
