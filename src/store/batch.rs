//! Statements sent to the database together. On SQLite every statement is a hand-off to sqlx's
//! worker thread and back (about 50 µs on a two-core machine, more than the statement itself),
//! so a batch goes as one multi-statement query: one hand-off for the lot. PostgreSQL cannot
//! prepare several statements at once, but runs one statement of many data-modifying `WITH`
//! parts: one round trip (and one parse) instead of one per statement.

use std::fmt::Write as _;

use sqlx::{PgConnection, Row, SqliteConnection};

/// A value bound to a batched statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// An integer or NULL.
    Int(Option<i64>),
    /// A text or NULL.
    Text(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_string()))
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(Some(v.clone()))
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_string))
    }
}

/// What a statement's caller needs to know afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// Nothing: a failure fails the batch.
    Nothing,
    /// How many rows it changed.
    Count,
}

#[derive(Debug)]
struct Statement {
    sql: String,
    values: Vec<Value>,
    want: Want,
}

/// What one statement of a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Done {
    /// Rows changed (counted for `Want::Count` only).
    pub changed: u64,
}

/// Most values bound in one query (SQLite allows 32,766, PostgreSQL 65,535).
const MAX_VALUES: usize = 30_000;

/// Statements to run together, in order, each numbering its parameters from `$1`.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    statements: Vec<Statement>,
}

impl Batch {
    /// Adds a statement (one `INSERT`, `UPDATE` or `DELETE`, without `RETURNING` or `;`: the
    /// batch adds its own); returns its index in the results.
    pub fn push(&mut self, sql: impl Into<String>, values: Vec<Value>, want: Want) -> usize {
        self.statements.push(Statement { sql: sql.into(), values, want });
        self.statements.len() - 1
    }

    /// Runs every statement on `conn`, inside the caller's transaction.
    pub async fn run<C: BatchConnection>(self, conn: &mut C) -> Result<Vec<Done>, sqlx::Error> {
        conn.run_batch(self).await
    }

    /// The statements in runs that stay within the parameter limit.
    fn runs(&self) -> Vec<std::ops::Range<usize>> {
        let mut runs = Vec::new();
        let (mut start, mut values) = (0, 0);
        for (index, statement) in self.statements.iter().enumerate() {
            if index > start && values + statement.values.len() > MAX_VALUES {
                runs.push(start..index);
                (start, values) = (index, 0);
            }
            values += statement.values.len();
        }
        if start < self.statements.len() {
            runs.push(start..self.statements.len());
        }
        runs
    }

    /// The values of the statements in `run`, in order.
    fn values(&self, run: &std::ops::Range<usize>) -> Vec<&Value> {
        self.statements[run.clone()].iter().flat_map(|s| &s.values).collect()
    }

    /// Runs every statement on an SQLite connection (inside the caller's transaction) as few
    /// multi-statement queries as the parameter limit allows; each counted statement returns
    /// its own index once per row it changed.
    pub async fn run_sqlite(self, conn: &mut SqliteConnection) -> Result<Vec<Done>, sqlx::Error> {
        let mut done = vec![Done::default(); self.statements.len()];
        for run in self.runs() {
            let mut sql = String::new();
            let mut offset = 0;
            for index in run.clone() {
                let statement = &self.statements[index];
                renumber(&statement.sql, offset, &mut sql);
                if statement.want == Want::Count {
                    let _ = write!(sql, " RETURNING {index}");
                }
                sql.push_str(";\n");
                offset += statement.values.len();
            }
            count(query(&sql, self.values(&run)).fetch_all(&mut *conn).await?, &mut done)?;
        }
        Ok(done)
    }

    /// Runs every statement on a PostgreSQL connection as one statement per run: each a
    /// data-modifying `WITH` part (PostgreSQL runs them all, once, in order of need; their
    /// foreign keys are checked when the whole statement ends). The parts see the same
    /// snapshot, so a batch never touches one row twice: callers put one write per row in it.
    pub async fn run_postgres(self, conn: &mut PgConnection) -> Result<Vec<Done>, sqlx::Error> {
        let mut done = vec![Done::default(); self.statements.len()];
        for run in self.runs() {
            let mut sql = String::from("WITH ");
            let mut counted = Vec::new();
            let mut offset = 0;
            for index in run.clone() {
                let statement = &self.statements[index];
                if index > run.start {
                    sql.push_str(", ");
                }
                let _ = write!(sql, "s{index} AS (");
                renumber(&statement.sql, offset, &mut sql);
                let _ = write!(sql, " RETURNING CAST({index} AS BIGINT) AS i)");
                if statement.want == Want::Count {
                    counted.push(format!("SELECT i FROM s{index}"));
                }
                offset += statement.values.len();
            }
            if counted.is_empty() {
                counted.push("SELECT CAST(-1 AS BIGINT) AS i".into());
            }
            let _ = write!(sql, " {}", counted.join(" UNION ALL "));
            count(query(&sql, self.values(&run)).fetch_all(&mut *conn).await?, &mut done)?;
        }
        Ok(done)
    }
}

/// A query for `sql` with `values` bound. Each batch's text is new: preparing it once is
/// cheaper than filling the statement cache with texts that never come back.
fn query<'q, DB>(
    sql: &'q str,
    values: Vec<&Value>,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database + sqlx::database::HasStatementCache,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::query::<DB>(sql).persistent(false);
    for value in values {
        query = match value {
            Value::Int(v) => query.bind(*v),
            Value::Text(v) => query.bind(v.clone()),
        };
    }
    query
}

/// Adds each returned statement index to that statement's count of changed rows.
fn count<R: Row>(rows: Vec<R>, done: &mut [Done]) -> Result<(), sqlx::Error>
where
    usize: sqlx::ColumnIndex<R>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    for row in rows {
        let index: i64 = row.try_get(0_usize)?;
        if let Some(slot) = usize::try_from(index).ok().and_then(|i| done.get_mut(i)) {
            slot.changed += 1;
        }
    }
    Ok(())
}

/// Appends `sql` to `out` with each `$N` turned into `$N+offset`.
fn renumber(sql: &str, offset: usize, out: &mut String) {
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        match rest[at + 1..at + 1 + digits].parse::<usize>() {
            Ok(n) => {
                let _ = write!(out, "${}", n + offset);
            }
            Err(_) => out.push('$'),
        }
        rest = &rest[at + 1 + digits..];
    }
    out.push_str(rest);
}

/// A connection a batch runs on (inside the caller's transaction).
pub(crate) trait BatchConnection {
    /// Runs `batch` here.
    fn run_batch(&mut self, batch: Batch) -> impl Future<Output = Result<Vec<Done>, sqlx::Error>> + Send;
}

impl BatchConnection for SqliteConnection {
    fn run_batch(&mut self, batch: Batch) -> impl Future<Output = Result<Vec<Done>, sqlx::Error>> + Send {
        batch.run_sqlite(self)
    }
}

impl BatchConnection for PgConnection {
    fn run_batch(&mut self, batch: Batch) -> impl Future<Output = Result<Vec<Done>, sqlx::Error>> + Send {
        batch.run_postgres(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbers_every_parameter_after_the_offset() {
        let mut out = String::new();
        renumber("UPDATE t SET a = $1, b = $2 WHERE id = $10 AND c = '$'", 7, &mut out);
        assert_eq!(out, "UPDATE t SET a = $8, b = $9 WHERE id = $17 AND c = '$'");
    }

    /// A connection to a fresh in-memory SQLite database holding one table made by `schema`.
    async fn memory(schema: &str) -> sqlx::pool::PoolConnection<sqlx::Sqlite> {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query(schema).execute(&pool).await.unwrap();
        pool.acquire().await.unwrap()
    }

    #[tokio::test]
    async fn sqlite_batch_reports_each_statement() {
        let mut conn = memory("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE, n INTEGER)").await;
        let mut batch = Batch::default();
        let a = batch.push(
            "INSERT INTO t (v, n) VALUES ($1, $2) ON CONFLICT (v) DO NOTHING",
            vec!["a".into(), 1.into()],
            Want::Count,
        );
        let again = batch.push(
            "INSERT INTO t (v, n) VALUES ($1, $2) ON CONFLICT (v) DO NOTHING",
            vec!["a".into(), 2.into()],
            Want::Count,
        );
        let miss = batch.push("UPDATE t SET n = $1 WHERE v = $2", vec![5.into(), "zzz".into()], Want::Count);
        let hit =
            batch.push("UPDATE t SET n = $1 WHERE v = $2", vec![Value::Int(None), "a".into()], Want::Count);
        batch.push("INSERT INTO t (v) VALUES ($1)", vec![Value::Text(None)], Want::Nothing);
        let done = batch.run_sqlite(&mut conn).await.unwrap();
        assert_eq!(done[a], Done { changed: 1 });
        assert_eq!(done[again], Done { changed: 0 });
        assert_eq!(done[miss].changed, 0);
        assert_eq!(done[hit], Done { changed: 1 });
        let rows: Vec<(Option<String>, Option<i64>)> =
            sqlx::query_as("SELECT v, n FROM t ORDER BY id").fetch_all(&mut *conn).await.unwrap();
        assert_eq!(rows, vec![(Some("a".into()), None), (None, None)]);
    }

    #[tokio::test]
    async fn a_failing_statement_fails_the_batch() {
        let mut conn = memory("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)").await;
        let mut batch = Batch::default();
        batch.push("INSERT INTO t (v) VALUES ($1)", vec!["ok".into()], Want::Nothing);
        batch.push("INSERT INTO t (v) VALUES ($1)", vec![Value::Text(None)], Want::Nothing);
        assert!(batch.run_sqlite(&mut conn).await.is_err());
    }

    #[tokio::test]
    async fn a_large_batch_is_split_at_the_parameter_limit() {
        let mut conn =
            memory("CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, c INTEGER)").await;
        let mut batch = Batch::default();
        for i in 0..12_000_i64 {
            batch.push(
                "INSERT INTO t (a, b, c) VALUES ($1, $2, $3)",
                vec![i.into(), i.into(), i.into()],
                Want::Count,
            );
        }
        let done = batch.run_sqlite(&mut conn).await.unwrap();
        assert_eq!(done.len(), 12_000);
        assert!(done.iter().all(|d| d.changed == 1));
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(n, 12_000);
    }

    #[tokio::test]
    async fn postgres_batch_is_one_statement_reporting_each_part() {
        use sqlx::Connection;
        let Ok(url) = std::env::var("TEDUH_TEST_PG_URL") else {
            eprintln!("SKIPPED postgres batch test: TEDUH_TEST_PG_URL is not set");
            return;
        };
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TEMP TABLE p (id TEXT PRIMARY KEY, n BIGINT)").execute(&mut conn).await.unwrap();
        sqlx::query("CREATE TEMP TABLE c (p TEXT REFERENCES p (id), v TEXT)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO p VALUES ('old', 1)").execute(&mut conn).await.unwrap();
        let mut batch = Batch::default();
        let hit = batch.push(
            "UPDATE p SET n = n + 1 WHERE id = $1 AND n = $2",
            vec!["old".into(), 1.into()],
            Want::Count,
        );
        let miss = batch.push(
            "UPDATE p SET n = n + 1 WHERE id = $1 AND n = $2",
            vec!["gone".into(), 1.into()],
            Want::Count,
        );
        let new = batch.push(
            "INSERT INTO p VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            vec!["new".into(), Value::Int(None)],
            Want::Count,
        );
        // A child of a row inserted by an earlier part: its key is checked when the statement ends.
        batch.push("INSERT INTO c VALUES ($1, $2)", vec!["new".into(), Value::Text(None)], Want::Nothing);
        let done = batch.run_postgres(&mut conn).await.unwrap();
        assert_eq!((done[hit].changed, done[miss].changed, done[new].changed), (1, 0, 1));
        let rows: Vec<(String, Option<i64>)> =
            sqlx::query_as("SELECT id, n FROM p ORDER BY id").fetch_all(&mut conn).await.unwrap();
        assert_eq!(rows, vec![("new".into(), None), ("old".into(), Some(2))]);
        let mut only_writes = Batch::default();
        only_writes.push("DELETE FROM c WHERE p = $1", vec!["new".into()], Want::Nothing);
        assert_eq!(only_writes.run_postgres(&mut conn).await.unwrap(), vec![Done { changed: 0 }]);
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM c").fetch_one(&mut conn).await.unwrap();
        assert_eq!(left, 0);
        let mut broken = Batch::default();
        broken.push("INSERT INTO c VALUES ($1, $2)", vec!["nobody".into(), Value::Text(None)], Want::Nothing);
        assert!(broken.run_postgres(&mut conn).await.is_err(), "a missing parent fails the batch");
    }
}
