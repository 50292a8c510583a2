//! The substring index over each email's From, To, Cc and Subject (migration
//! `m0013_email_text`): written with the email in the delivery transaction, read by searches
//! as a necessary condition (a superset of the emails whose text holds the needle; the caller
//! checks the survivors exactly). Text and needles are lowercased here by Rust's rules, the
//! ones of the exact check, so the index never leaves out an email that check would keep.

use sea_orm::Value;

use crate::DbKind;
use crate::model::MessageMeta;
use crate::multi::Multi;
use crate::search::TextColumn;

/// The shortest needle the index answers: its units are three characters.
pub const MIN_NEEDLE_CHARS: usize = 3;

/// Rows per INSERT (five parameters each, well under SQLite's limit).
const ROWS_PER_INSERT: usize = 200;

/// One email's indexed text: from, to, cc, subject.
pub(crate) type Texts = [String; 4];

pub(crate) fn texts(meta: &MessageMeta) -> Texts {
    [
        addresses(&meta.from),
        addresses(&meta.to),
        addresses(&meta.cc),
        meta.subject.as_deref().unwrap_or_default().to_lowercase(),
    ]
}

/// A stored address list (a JSON array of `{"name", "email"}`): one line per name and per
/// address.
fn addresses(stored: &str) -> String {
    let list: Vec<serde_json::Value> = serde_json::from_str(stored).unwrap_or_default();
    let mut out = String::new();
    for a in &list {
        for k in ["name", "email"] {
            if let Some(s) = a.get(k).and_then(|v| v.as_str()) {
                out.push_str(&s.to_lowercase());
                out.push('\n');
            }
        }
    }
    out
}

/// Adds the rows of new emails (id, text) to `m`.
pub(crate) fn insert(m: &mut Multi, kind: DbKind, rows: &[(i64, &Texts)]) {
    let key = match kind {
        DbKind::Sqlite => "rowid",
        DbKind::Postgres => "email_id",
    };
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 5);
        for (id, t) in chunk {
            values.push((*id).into());
            values.extend(t.iter().map(|s| Value::from(s.as_str())));
        }
        let marks = vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        m.push_sql(
            &format!(
                "INSERT INTO email_text ({key}, from_text, to_text, cc_text, subject_text) \
                 VALUES {marks}"
            ),
            values,
        );
    }
}

/// The SQL condition on `e.id` that the index answers for `needle` (lowercase, at least
/// [`MIN_NEEDLE_CHARS`] characters), its parameter pushed onto `values`.
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
            "e.id IN (SELECT rowid FROM email_text WHERE email_text MATCH ?)".into()
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
    fn addresses_are_lines_of_lowercase_names_and_addresses() {
        let stored =
            r#"[{"name":"Neil BROWN","email":"NeilB@Suse.de"},{"name":null,"email":"x@İ.test"}]"#;
        assert_eq!(
            addresses(stored),
            "neil brown\nneilb@suse.de\nx@i\u{307}.test\n"
        );
    }

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
