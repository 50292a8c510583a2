//! The substring index over each email's From, To, Cc and Subject (migration
//! `m0013_email_text`): written with the email in the delivery transaction (on SQLite into
//! `email_text_pending`, moved into the index in batches by [`Store::index_pending_text`];
//! migration `m0014`), read by searches as a necessary condition (a superset of the emails
//! whose text holds the needle, every waiting one included; the caller checks the survivors
//! exactly). Text (`MessageMeta::index_text`, made by core's parser) and
//! needles are lowercased by Rust's rules, the ones of the exact check, so the index never
//! leaves out an email that check would keep.

use sea_orm::Value;

use crate::multi::Multi;
use crate::search::TextColumn;
use crate::{DbKind, Result, Store};

/// The index's unit: three characters.
const MIN_NEEDLE_CHARS: usize = 3;

/// Whether the index can answer `needle`: it has a whole unit.
pub fn answers(needle: &str) -> bool {
    needle.chars().count() >= MIN_NEEDLE_CHARS
}

/// Adds the rows of new emails (id, text) to `m`.
pub(crate) fn insert(m: &mut Multi, kind: DbKind, rows: &[(i64, &[String; 4])]) {
    let table = match kind {
        DbKind::Sqlite => "email_text_pending",
        DbKind::Postgres => "email_text",
    };
    let rows = rows
        .iter()
        .map(|(id, t)| {
            std::iter::once(Value::from(*id))
                .chain(t.iter().map(|s| Value::from(s.as_str())))
                .collect()
        })
        .collect();
    m.insert_rows(
        table,
        "email_id, from_text, to_text, cc_text, subject_text",
        rows,
    );
}

/// Rows moved into the index per transaction.
pub const INDEX_MOVE: usize = 2000;

impl Store {
    /// Moves waiting rows into SQLite's index, up to [`INDEX_MOVE`] in one transaction; how many
    /// went (none on Postgres, which indexes as it delivers).
    pub async fn index_pending_text(&self) -> Result<usize> {
        if self.kind != DbKind::Sqlite {
            return Ok(0);
        }
        let first =
            format!("SELECT email_id FROM email_text_pending ORDER BY email_id LIMIT {INDEX_MOVE}");
        let kind = self.kind;
        self.write(move |tx| {
            Box::pin(async move {
                let st = |sql: String| crate::query::statement(kind, &sql, vec![]);
                tx.execute(st(format!(
                    "INSERT INTO email_text (rowid, from_text, to_text, cc_text, subject_text) \
                     SELECT email_id, from_text, to_text, cc_text, subject_text \
                     FROM email_text_pending WHERE email_id IN ({first})"
                )))
                .await?;
                let moved = tx
                    .execute(st(format!(
                        "DELETE FROM email_text_pending WHERE email_id IN ({first})"
                    )))
                    .await?;
                Ok(moved as usize)
            })
        })
        .await
    }
}

/// The SQL condition on `e.id` that the index answers for `needle` (lowercase, one it
/// [`answers`]), its parameter pushed onto `values`.
pub(crate) fn condition(
    kind: DbKind,
    column: TextColumn,
    needle: &str,
    values: &mut Vec<Value>,
) -> String {
    let col = match column {
        TextColumn::From => "from_text",
        TextColumn::To => "to_text",
        TextColumn::Cc => "cc_text",
        TextColumn::Subject => "subject_text",
    };
    match kind {
        // Every trigram of the needle in the column (detail=column keeps no positions, so
        // not necessarily in a row: the exact check follows).
        DbKind::Sqlite => {
            let chars: Vec<char> = needle.chars().collect();
            let mut grams: Vec<String> = chars
                .windows(MIN_NEEDLE_CHARS)
                .map(|w| format!("\"{}\"", w.iter().collect::<String>().replace('"', "\"\"")))
                .collect();
            grams.sort();
            grams.dedup();
            values.push(format!("{col} : ({})", grams.join(" AND ")).into());
            "(e.id IN (SELECT rowid FROM email_text WHERE email_text MATCH ?) \
             OR e.id IN (SELECT email_id FROM email_text_pending))"
                .into()
        }
        // pg_trgm's GIN index answers LIKE; the text is lowercase already.
        DbKind::Postgres => {
            values.push(format!("%{}%", crate::search::like_literal(needle)).into());
            format!("e.id IN (SELECT email_id FROM email_text WHERE {col} LIKE ? ESCAPE '\\')")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_asks_for_every_trigram_once_quoted() {
        let mut values = Vec::new();
        condition(DbKind::Sqlite, TextColumn::From, "a\"bca\"bc", &mut values);
        assert_eq!(
            values,
            vec![Value::from(
                "from_text : (\"\"\"bc\" AND \"a\"\"b\" AND \"bca\" AND \"ca\"\"\")"
            )]
        );
    }
}
