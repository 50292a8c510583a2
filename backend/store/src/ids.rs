//! Row ids taken ahead of the inserts, so rows that refer to each other (a submission, its
//! queued message, their recipients) go in one round trip instead of one statement each
//! waiting for the last one's id. SQLite: the table's AUTOINCREMENT counter, read inside the
//! write transaction (IMMEDIATE, so no other writer moves it; inserting the ids moves it on).
//! Postgres: the table's sequence.

use std::collections::HashMap;

use sea_orm::QueryResult;

use crate::multi::Multi;
use crate::{DbKind, Result};

/// Adds to `m` the statement whose rows [`Reserved::take`] reads: `n` ids of `table`,
/// tagged `tag` in the first column.
pub(crate) fn reserve(m: &mut Multi, kind: DbKind, tag: i64, table: &'static str, n: usize) {
    if n == 0 {
        return;
    }
    match kind {
        // Without a row the table never had one: the ids start at 1.
        DbKind::Sqlite => m.push_sql(
            &format!(
                "SELECT CAST({tag} AS BIGINT), '{table}', COALESCE((SELECT seq FROM sqlite_sequence \
                 WHERE name = '{table}'), 0)"
            ),
            vec![],
        ),
        DbKind::Postgres => m.push_sql(
            &format!(
                "SELECT CAST({tag} AS BIGINT), '{table}', nextval('{table}_id_seq') \
                 FROM generate_series(1, {n})"
            ),
            vec![],
        ),
    }
}

/// Ids reserved per table, handed out in order.
#[derive(Default)]
pub(crate) struct Reserved {
    ids: HashMap<String, std::vec::IntoIter<i64>>,
}

impl Reserved {
    /// Reads the rows of [`reserve`]'s statements (those tagged `tag`); `wanted` says how
    /// many each table asked for.
    pub(crate) fn read(
        kind: DbKind,
        rows: &[QueryResult],
        tag: i64,
        wanted: &[(&'static str, usize)],
    ) -> Result<Reserved> {
        let mut got: HashMap<String, Vec<i64>> = HashMap::new();
        for row in rows {
            if row.try_get_by_index::<i64>(0)? != tag {
                continue;
            }
            let table: String = row.try_get_by_index(1)?;
            let v: i64 = row.try_get_by_index(2)?;
            got.entry(table).or_default().push(v);
        }
        let mut ids = HashMap::new();
        for &(table, n) in wanted {
            let v = got.remove(table).unwrap_or_default();
            let list: Vec<i64> = match kind {
                DbKind::Sqlite => {
                    let last = v.first().copied().unwrap_or(0);
                    (last + 1..=last + n as i64).collect()
                }
                DbKind::Postgres => v,
            };
            if list.len() != n {
                return Err(crate::StoreError::Corrupt(format!(
                    "{table}: {} ids reserved of {n}",
                    list.len()
                )));
            }
            ids.insert(table.to_string(), list.into_iter());
        }
        Ok(Reserved { ids })
    }

    /// The next id of `table`.
    pub(crate) fn next(&mut self, table: &str) -> Result<i64> {
        self.ids
            .get_mut(table)
            .and_then(Iterator::next)
            .ok_or_else(|| crate::StoreError::Corrupt(format!("no id reserved in {table}")))
    }
}
