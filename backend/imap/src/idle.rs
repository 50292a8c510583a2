//! IDLE (RFC 2177): after `+ idling`, changes to the selected mailbox are reported as they
//! are notified (the session loop wakes on core's change notifications) until `DONE`.

use imap_codec::imap_types::core::Tag;

use crate::reply::{Handled, Reply};
use crate::session::{Next, Session};

impl Session {
    /// What changed before IDLE is reported right after `+ idling`, by the session loop's
    /// catch-up on entering IDLE (one catch-up, not one before and one after).
    pub(crate) async fn idle(&mut self, tag: &Tag<'static>) -> Handled {
        self.continue_req("idling");
        Ok(Reply::Then(Next::Idle(tag.clone())))
    }
}
