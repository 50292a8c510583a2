//! The account's vacation response and the senders it has answered.

use sea_orm::{ConnectionTrait, FromQueryResult, Value};

use crate::{Result, Store, now};

/// A vacation response as stored (one per account; absent means never set, i.e. disabled).
#[derive(Clone, Debug, Default, PartialEq, Eq, FromQueryResult)]
pub struct Vacation {
    pub is_enabled: bool,
    pub from_date: Option<i64>,
    pub to_date: Option<i64>,
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    /// When it was last set: answers sent before belong to an earlier period.
    pub updated_at: i64,
}

impl Store {
    pub async fn vacation_get(&self, account_id: i64) -> Result<Option<Vacation>> {
        Ok(Vacation::find_by_statement(self.stmt(
            "SELECT is_enabled, from_date, to_date, subject, text_body, html_body, updated_at \
             FROM vacation_responses WHERE account_id = ?",
            vec![account_id.into()],
        ))
        .one(&self.db)
        .await?)
    }

    /// Stores the response (a new period begins) and moves the account's state; returns it.
    pub async fn vacation_set(&self, account_id: i64, v: &Vacation) -> Result<i64> {
        let tx = self.begin_write().await?;
        let seq = crate::update::reserve_seqs(&tx, account_id, 1).await?;
        let values: Vec<Value> = vec![
            account_id.into(),
            v.is_enabled.into(),
            v.from_date.into(),
            v.to_date.into(),
            v.subject.clone().into(),
            v.text_body.clone().into(),
            v.html_body.clone().into(),
            now().into(),
        ];
        tx.execute_raw(self.stmt(
            "INSERT INTO vacation_responses (account_id, is_enabled, from_date, to_date, subject, \
             text_body, html_body, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (account_id) DO UPDATE SET is_enabled = excluded.is_enabled, \
             from_date = excluded.from_date, to_date = excluded.to_date, subject = excluded.subject, \
             text_body = excluded.text_body, html_body = excluded.html_body, \
             updated_at = excluded.updated_at",
            values,
        ))
        .await?;
        tx.execute_raw(self.stmt(
            "DELETE FROM vacation_replies WHERE account_id = ?",
            vec![account_id.into()],
        ))
        .await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Accounts whose vacation response is on (dates are checked per message).
    pub async fn vacation_enabled(&self) -> Result<Vec<i64>> {
        let rows = self
            .db
            .query_all_raw(self.stmt(
                "SELECT account_id FROM vacation_responses WHERE is_enabled = ?",
                vec![true.into()],
            ))
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get_by_index::<i64>(0)?))
            .collect()
    }

    /// Claims the right to answer `sender`: true (and recorded) unless it was answered at or
    /// after `since`. One statement, so two deliveries at once cannot both answer.
    pub async fn vacation_claim(&self, account_id: i64, sender: &str, since: i64) -> Result<bool> {
        let t = now();
        let n = self
            .db
            .execute_raw(self.stmt(
                "INSERT INTO vacation_replies (account_id, sender, sent_at) VALUES (?, ?, ?) \
                 ON CONFLICT (account_id, sender) DO UPDATE SET sent_at = excluded.sent_at \
                 WHERE vacation_replies.sent_at < ?",
                vec![account_id.into(), sender.into(), t.into(), since.into()],
            ))
            .await?
            .rows_affected();
        Ok(n > 0)
    }
}
