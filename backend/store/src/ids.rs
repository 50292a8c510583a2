//! Row ids taken ahead of the inserts, so rows that refer to each other (a submission, its
//! queued message, their recipients) go in one round trip instead of one statement each
//! waiting for the last one's id. SQLite: the table's AUTOINCREMENT counter, read inside the
//! write transaction (IMMEDIATE, so no other writer moves it; inserting the ids moves it on).
//! Postgres: the table's sequence.

use std::collections::HashMap;

use crate::multi::Multi;
use crate::tx::Row;
use crate::{DbKind, Result};

/// The first column of the rows [`reserve`] adds, so [`Reserved::read`] tells them from
/// other statements' rows read back in the same round trip.
const TAG: i64 = 100;

/// Adds to `m` the statements that take `n` ids of each `(table, n)`.
pub(crate) fn reserve(m: &mut Multi, kind: DbKind, wanted: &[(&'static str, usize)]) {
    for &(table, n) in wanted.iter().filter(|(_, n)| *n > 0) {
        let sql = match kind {
            // Without a row the table never had one: the ids start at 1.
            DbKind::Sqlite => format!(
                "SELECT CAST({TAG} AS BIGINT), '{table}', COALESCE((SELECT seq FROM \
                 sqlite_sequence WHERE name = '{table}'), 0)"
            ),
            DbKind::Postgres => format!(
                "SELECT CAST({TAG} AS BIGINT), '{table}', nextval('{table}_id_seq') \
                 FROM generate_series(1, {n})"
            ),
        };
        m.push_sql(&sql, vec![]);
    }
}

/// Ids reserved per table, handed out in order.
pub(crate) struct Reserved {
    ids: HashMap<String, std::vec::IntoIter<i64>>,
}

impl Reserved {
    /// Reads the rows of [`reserve`]'s statements among `rows`, given the same `wanted`.
    pub(crate) fn read(
        kind: DbKind,
        rows: &[Row],
        wanted: &[(&'static str, usize)],
    ) -> Result<Reserved> {
        let mut got: HashMap<String, Vec<i64>> = HashMap::new();
        for row in rows {
            if row.get::<i64>(0)? != TAG {
                continue;
            }
            let table: String = row.get(1)?;
            let v: i64 = row.get(2)?;
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
