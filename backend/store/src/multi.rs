//! Several statements in one round trip, where the database takes them.
//!
//! (Write transactions on SQLite now run whole on the writer thread, `lite.rs`, where each
//! statement runs on its own at no cost; what follows is for those still run through sqlx.)
//!
//! sqlx runs SQLite statements on the connection's own worker thread and hands each result
//! back to the caller's task: two thread switches a statement, which in a small write
//! transaction (an IMAP APPEND files one message in about ten statements) cost more than the
//! statements themselves. SQLite takes `;`-separated statements with their parameters in
//! order in one call, so a [`Multi`] sends them together there. Postgres takes one statement a
//! call, so there each goes in turn; the rows come back the same way on both.

use sea_orm::{DbBackend, Statement, StatementBuilder, Values};

use crate::tx::{Row, Tx};
use crate::{DbKind, Result};

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

    fn backend(&self) -> DbBackend {
        match self.kind {
            DbKind::Sqlite => DbBackend::Sqlite,
            DbKind::Postgres => DbBackend::Postgres,
        }
    }

    /// Adds a sea-query statement.
    pub(crate) fn push<S: StatementBuilder>(&mut self, s: &S) {
        let st = self.backend().build(s);
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
        const ROWS_PER_INSERT: usize = 200;
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let Some(width) = chunk.first().map(Vec::len) else {
                return;
            };
            let one = format!("({})", vec!["?"; width].join(", "));
            let marks = vec![one.as_str(); chunk.len()].join(", ");
            self.push_sql(
                &format!("INSERT INTO {table} ({columns}) VALUES {marks}"),
                chunk.iter().flatten().cloned().collect(),
            );
        }
    }

    /// Runs every statement; the rows of all, in order.
    pub(crate) async fn query(self, tx: &Tx<'_>) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        for st in self.joined(tx) {
            rows.extend(tx.query(st).await?);
        }
        Ok(rows)
    }

    /// Runs every statement; how many rows they changed in all.
    pub(crate) async fn execute(self, tx: &Tx<'_>) -> Result<u64> {
        let mut n = 0;
        for st in self.joined(tx) {
            n += tx.execute(st).await?;
        }
        Ok(n)
    }

    /// One statement for SQLite through sqlx, each on its own elsewhere (on the SQLite
    /// writer thread a statement costs no hand-off, and one prepared statement is kept
    /// for each).
    fn joined(self, tx: &Tx<'_>) -> Vec<Statement> {
        if !matches!(tx, Tx::Sea(_, DbKind::Sqlite)) || self.statements.len() < 2 {
            return self.statements;
        }
        let mut sql = String::new();
        let mut values = Vec::new();
        for st in self.statements {
            if !sql.is_empty() {
                sql.push_str(";\n");
            }
            sql.push_str(&st.sql);
            if let Some(Values(v)) = st.values {
                values.extend(v);
            }
        }
        vec![Statement::from_sql_and_values(
            DbBackend::Sqlite,
            sql,
            values,
        )]
    }
}
