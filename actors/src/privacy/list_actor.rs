//! One actor per privacy list: the single writer that persists the list and hands back the
//! compiled, immutable snapshot that the account's sessions evaluate stanzas against.

use std::sync::Arc;

use actix::prelude::*;
use cordial_storage::{SharedStorage, StorageError};

use crate::protocol::{Remove, Replace};

use crate::privacy::CompiledList;

pub struct PrivacyListActor {
    bare: String,
    name: String,
    store: SharedStorage,
}

impl PrivacyListActor {
    pub fn new(bare: String, name: String, store: SharedStorage) -> Self {
        PrivacyListActor { bare, name, store }
    }
}

impl Actor for PrivacyListActor {
    type Context = Context<Self>;
}

impl Handler<Replace> for PrivacyListActor {
    type Result = ResponseFuture<Result<Arc<CompiledList>, StorageError>>;

    fn handle(&mut self, msg: Replace, _: &mut Context<Self>) -> Self::Result {
        debug_assert_eq!(msg.0.name, self.name);
        let written = self.store.put_privacy_list(&self.bare, &msg.0);
        let store = self.store.clone();
        Box::pin(async move {
            written?;
            store.flush().await?;
            Ok(CompiledList::compile(&msg.0))
        })
    }
}

impl Handler<Remove> for PrivacyListActor {
    type Result = ResponseFuture<Result<bool, StorageError>>;

    fn handle(&mut self, _: Remove, ctx: &mut Context<Self>) -> Self::Result {
        let removed = self.store.remove_privacy_list(&self.bare, &self.name);
        let store = self.store.clone();
        ctx.stop();
        Box::pin(async move {
            let existed = removed?;
            store.flush().await?;
            Ok(existed)
        })
    }
}
