//! Statements of a write transaction, built up and then run in order: on SQLite's writer
//! thread each at no cost but its own (`lite.rs`), on Postgres one round trip each; the rows
//! come back the same way on both.

use sea_orm::{Statement, StatementBuilder};

use crate::tx::{Row, Tx};
use crate::{DbKind, Result};

/// Rows per multi-row statement: SQLite allows 32,766 bound parameters a statement (the
/// widest row written, `messages`, has 14 columns), Postgres 65,535.
pub(crate) const ROWS_PER_INSERT: usize = 400;

pub(crate) struct Multi {
    kind: DbKind,
    statements: Vec<Statement>,
}

impl Multi {
    pub(crate) fn new(kind: DbKind) -> Multi {
        Multi {
            kind,
            statements: Vec::new(),
        }
    }

    /// Adds a sea-query statement.
    pub(crate) fn push<S: StatementBuilder>(&mut self, s: &S) {
        let st = self.kind.backend().build(s);
        self.statements.push(st);
    }

    /// Adds a statement written with `?` placeholders.
    pub(crate) fn push_sql(&mut self, sql: &str, values: Vec<sea_orm::Value>) {
        self.statements
            .push(crate::query::statement(self.kind, sql, values));
    }

    /// Adds multi-row INSERTs of `rows` (each in `columns` order) into `table`, in
    /// statements small enough for SQLite's parameter limit.
    pub(crate) fn insert_rows(
        &mut self,
        table: &str,
        columns: &str,
        rows: Vec<Vec<sea_orm::Value>>,
    ) {
        self.insert_rows_then(table, columns, rows, "");
    }

    /// [`Multi::insert_rows`] with `tail` after each statement's rows (`ON CONFLICT DO
    /// NOTHING`, `RETURNING …`).
    pub(crate) fn insert_rows_then(
        &mut self,
        table: &str,
        columns: &str,
        rows: Vec<Vec<sea_orm::Value>>,
        tail: &str,
    ) {
        let mut rows = rows.into_iter().peekable();
        while let Some(width) = rows.peek().map(Vec::len) {
            let chunk: Vec<Vec<sea_orm::Value>> = rows.by_ref().take(ROWS_PER_INSERT).collect();
            let one = format!("({})", vec!["?"; width].join(", "));
            let marks = vec![one.as_str(); chunk.len()].join(", ");
            self.push_sql(
                &format!("INSERT INTO {table} ({columns}) VALUES {marks}{tail}"),
                chunk.into_iter().flatten().collect(),
            );
        }
    }

    /// Runs every statement; the rows of all, in order.
    pub(crate) async fn query(self, tx: &Tx<'_>) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        for st in self.statements {
            rows.extend(tx.query(st).await?);
        }
        Ok(rows)
    }

    /// Runs every statement; how many rows they changed in all.
    pub(crate) async fn execute(self, tx: &Tx<'_>) -> Result<u64> {
        let mut n = 0;
        for st in self.statements {
            n += tx.execute(st).await?;
        }
        Ok(n)
    }
}
