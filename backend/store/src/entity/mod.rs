//! sea-orm entities, one file per table. Only this crate sees them; `mailroom-core` gets the
//! plain records in `crate::model`.

pub mod account;
pub mod alias;
pub mod change;
pub mod domain;
pub mod email;
pub mod mailbox;
pub mod mailbox_email;
pub mod message;
