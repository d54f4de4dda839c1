//! Offline storage (XEP-0160, RFC 6121 §8.5.2.1.1): a message for an account with no available
//! resource of non-negative priority is stored, stamped with its XEP-0203 `<delay/>`, durably
//! before anything later from its sender is answered, and handed to the first resource that
//! becomes available with a non-negative priority. What is stored lives in the storage layer's
//! `OfflineStore`; the quota is `limits.offline_quota`.

use actix::prelude::*;
use cordial_storage::OfflinePush;
use minidom::Element;

use crate::account::UserActor;
use crate::error;
use crate::stanza::{self, DefinedCondition, ErrorType, Kind};
use crate::xml::{BuildAttr, SetAttr};

impl UserActor {
    /// XEP-0160 / RFC 6121 §8.5.2.1.1: store a message for an account with no available
    /// resource, stamped with XEP-0203 `<delay/>`. Durable before anything else is processed.
    pub(crate) fn store_offline(&mut self, mut stanza: Element, ctx: &mut Context<Self>) {
        let delay = Element::builder("delay", crate::ns::DELAY)
            .a("from", self.bare.domain().as_str())
            .a("stamp", stanza::now_stamp())
            .append("Offline Storage")
            .build();
        stanza.append_child(delay);
        let quota = self.router.config().offline_quota;
        let store = self.store.clone();
        match store.push_offline(self.bare.as_str(), &String::from(&stanza), quota) {
            // Kept only once it is on disk: a failed flush bounces the message, so that the
            // sender never takes for delivered what a full disk did not keep.
            Ok(OfflinePush::Stored) => self.flush_then(ctx, move |act, flushed| {
                if let Err(e) = flushed {
                    act.offline_not_stored(stanza, &e);
                }
            }),
            Ok(OfflinePush::QuotaExceeded) => {
                log::info!("offline quota of {} reached for {}", quota, self.bare);
                self.router.bounce(
                    &stanza,
                    Kind::Message,
                    ErrorType::Cancel,
                    DefinedCondition::ServiceUnavailable,
                );
            }
            Err(e) => self.offline_not_stored(stanza, &e),
        }
    }

    /// A message that could not be stored offline goes back to its sender with the storage
    /// error (`<resource-constraint/>` while the store is refusing writes).
    pub(crate) fn offline_not_stored(
        &self,
        mut stanza: Element,
        e: &cordial_storage::StorageError,
    ) {
        error::log_storage(
            format_args!("storing an offline message for {}", self.bare),
            e,
        );
        stanza.remove_child("delay", crate::ns::DELAY);
        let (type_, condition) = error::storage_answer(e);
        self.router.bounce(&stanza, Kind::Message, type_, condition);
    }

    /// Hands the stored offline messages to a resource that just became available with a
    /// non-negative priority, then removes them (XEP-0160 §5).
    pub(crate) fn deliver_offline_to(&mut self, resource: &str, ctx: &mut Context<Self>) {
        let Some(s) = self.sessions.get(resource) else {
            return;
        };
        let store = self.store.clone();
        let messages = match store.offline_messages(self.bare.as_str()) {
            Ok(m) => m,
            Err(e) => {
                return error::log_storage(
                    format_args!("reading the offline messages of {}", self.bare),
                    &e,
                );
            }
        };
        if messages.is_empty() {
            return;
        }
        let mut ids = Vec::with_capacity(messages.len());
        for (id, xml) in messages {
            match xml.parse::<Element>() {
                Ok(mut el) => {
                    el.set("to", s.full.to_string());
                    s.link.send(el);
                }
                Err(e) => log::error!("dropping an unreadable offline message: {e}"),
            }
            ids.push(id);
        }
        // If the removal is not kept, the messages are delivered again later: a duplicate,
        // never a loss.
        if let Err(e) = store.remove_offline(self.bare.as_str(), &ids) {
            return error::log_storage(
                format_args!("removing the delivered offline messages of {}", self.bare),
                &e,
            );
        }
        self.flush_then(ctx, |act, flushed| {
            if let Err(e) = flushed {
                error::log_storage(
                    format_args!("removing the delivered offline messages of {}", act.bare),
                    &e,
                );
            }
        });
    }
}
