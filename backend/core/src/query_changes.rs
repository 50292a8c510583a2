//! What changed in a query's results since an earlier state (JMAP's /queryChanges, RFC 8620
//! §5.6), from the change log.
//!
//! Every sort key is a property of the email itself, so emails that did not change keep
//! their order relative to each other. It is then enough to report every changed email as
//! removed (the RFC allows ids that were not in the old results) and those of them in the
//! current results as added at their index: splicing that into the old results gives the new
//! ones. Thread-wide conditions and collapsed threads make an email's place depend on the
//! other emails of its thread, so there every email of a touched thread counts as changed.

use std::collections::BTreeSet;

use crate::filter::{Cond, Filter, Query, Window};
use crate::{Core, Error, ObjectType, Result};

/// The most change-log rows read; beyond that the client had better query again.
const MAX_LOG_ROWS: u64 = 50_000;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryChanges {
    pub removed: Vec<i64>,
    /// (email id, index in the new results), by index.
    pub added: Vec<(i64, u64)>,
    pub total: u64,
}

impl Core {
    /// The changes to `q`'s results from state `since` to now; `now` is the state the caller
    /// read before calling (it is the new query state it reports).
    pub async fn email_query_changes(
        &self,
        account_id: i64,
        q: &Query,
        since: i64,
        now: i64,
    ) -> Result<QueryChanges> {
        check_state(since, now)?;
        // The results first, then the log: whatever they saw that is newer than `now` is in
        // the log too, so the client hears of it (again, harmlessly, next time).
        let everything = Window::Position {
            position: 0,
            limit: i64::MAX as u64,
        };
        let results = self.email_search(account_id, q, everything, false).await?;
        let log = self
            .store()
            .changes_since(account_id, since, MAX_LOG_ROWS + 1)
            .await?;
        if log.len() as u64 > MAX_LOG_ROWS {
            return Err(Error::Invalid(format!(
                "more than {MAX_LOG_ROWS} changes since state {since}"
            )));
        }
        let mut changed: BTreeSet<i64> = log
            .iter()
            .filter(|c| c.object_type == ObjectType::Email)
            .map(|c| c.object_id)
            .collect();
        if q.collapse_threads || q.filter.is_thread_wide() {
            let mut threads: BTreeSet<i64> = log
                .iter()
                .filter(|c| c.object_type == ObjectType::Thread)
                .map(|c| c.object_id)
                .collect();
            let ids: Vec<i64> = changed.iter().copied().collect();
            let states = self.store().email_states(account_id, &ids).await?;
            threads.extend(states.iter().map(|(e, _)| e.thread_id));
            let threads: Vec<i64> = threads.into_iter().collect();
            for (_, emails) in self.threads(account_id, &threads).await? {
                changed.extend(emails);
            }
        }
        let added = results
            .ids
            .iter()
            .enumerate()
            .filter(|(_, id)| changed.contains(id))
            .map(|(i, &id)| (id, i as u64))
            .collect();
        Ok(QueryChanges {
            removed: changed.into_iter().collect(),
            added,
            total: results.ids.len() as u64,
        })
    }
}

impl Core {
    /// The mailboxes changed (or destroyed) from state `since` to `now`, for
    /// Mailbox/queryChanges: an account has few mailboxes, so the caller runs the query again.
    pub async fn mailboxes_changed(
        &self,
        account_id: i64,
        since: i64,
        now: i64,
    ) -> Result<BTreeSet<i64>> {
        check_state(since, now)?;
        let log = self
            .store()
            .changes_of_type(account_id, ObjectType::Mailbox, since, MAX_LOG_ROWS + 1)
            .await?;
        if log.len() as u64 > MAX_LOG_ROWS {
            return Err(Error::Invalid(format!(
                "more than {MAX_LOG_ROWS} changes since state {since}"
            )));
        }
        Ok(log.into_iter().map(|c| c.object_id).collect())
    }
}

/// A state the account has had: not negative, not after `now`.
fn check_state(since: i64, now: i64) -> Result<()> {
    if since < 0 || since > now {
        return Err(Error::Invalid(format!(
            "state {since} is not one this account has had"
        )));
    }
    Ok(())
}

impl Filter {
    /// Whether an email's match depends on the other emails of its thread.
    fn is_thread_wide(&self) -> bool {
        match self {
            Filter::Cond(
                Cond::AllInThreadHaveKeyword(_)
                | Cond::SomeInThreadHaveKeyword(_)
                | Cond::NoneInThreadHaveKeyword(_),
            ) => true,
            Filter::Cond(_) | Filter::Text(..) => false,
            Filter::And(v) | Filter::Or(v) | Filter::Not(v) => v.iter().any(Filter::is_thread_wide),
        }
    }
}
