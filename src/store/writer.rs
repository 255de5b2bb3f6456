//! Group commit for SQLite.
//!
//! SQLite commits one transaction at a time, and each commit costs more than the writes in
//! it (WAL frames, WAL index, locks). Under load the hot writes — rotating a refresh token,
//! exchanging a code, issuing a code — queued one by one at the write gate. Here they go to one
//! writer thread instead, which runs every write waiting at that moment inside a single
//! transaction, each in its own savepoint (a write that fails is rolled back alone), commits
//! once, and only then hands each caller its result: nobody sees an answer the database could
//! still lose.
//!
//! Each write still runs alone and in order, so conditional updates keep their meaning: of two
//! writes consuming the same code, the second sees the first's change.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use diesel::connection::SimpleConnection;

use super::{DbConn, StoreError};

/// At most this many writes share one commit, so that a burst cannot delay the first for long.
const MAX_BATCH: usize = 64;

/// One caller's write, waiting for its turn and then for the commit.
trait Job: Send {
    /// Runs the write; returns whether to keep it and how to answer once the batch ends.
    fn run(self: Box<Self>, conn: &mut DbConn) -> (bool, Box<dyn Answer>);
    /// The batch could not start: answer with the error without running.
    fn fail(self: Box<Self>, e: StoreError);
}

trait Answer: Send {
    fn send(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Write<F, T, E> {
    f: F,
    done: SyncSender<(Result<T, E>, bool)>,
}

struct Pending<T, E> {
    result: Result<T, E>,
    /// Whether the write recorded a revocation (the caller then waits for the instances).
    recorded: bool,
    done: SyncSender<(Result<T, E>, bool)>,
}

impl<F, T, E> Job for Write<F, T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &mut DbConn) -> (bool, Box<dyn Answer>) {
        super::revocations::take_recorded();
        let result = (self.f)(conn);
        let recorded = super::revocations::take_recorded();
        (
            result.is_ok(),
            Box::new(Pending {
                result,
                recorded,
                done: self.done,
            }),
        )
    }

    fn fail(self: Box<Self>, e: StoreError) {
        let _ = self.done.send((Err(e.into()), false));
    }
}

impl<T: Send, E: From<StoreError> + Send> Answer for Pending<T, E> {
    fn send(self: Box<Self>, committed: Result<(), StoreError>) {
        let outcome = match (committed, self.result) {
            (Ok(()), result) => result,
            // The commit failed: a success must not be reported; a refusal stands.
            (Err(e), Ok(_)) => Err(e.into()),
            (Err(_), Err(app)) => Err(app),
        };
        let _ = self.done.send((outcome, self.recorded));
    }
}

pub struct GroupWriter {
    jobs: Sender<Box<dyn Job>>,
}

impl GroupWriter {
    /// Starts the writer thread on its own connection. `gate` is the database's write gate,
    /// shared with transactions run elsewhere in the process.
    pub fn start(conn: DbConn, gate: Arc<Mutex<()>>) -> std::io::Result<GroupWriter> {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("tessera-writer".into())
            .spawn(move || run(conn, gate, queue))?;
        Ok(GroupWriter { jobs })
    }

    /// Runs `f` as one write of the next batch and returns its result once the batch is
    /// committed. Blocks the calling (blocking-pool) thread meanwhile.
    pub fn write<T, E>(
        &self,
        f: impl FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let stopped = || StoreError::Unavailable("the database writer has stopped".into());
        let (done, answer) = mpsc::sync_channel(1);
        self.jobs
            .send(Box::new(Write { f, done }))
            .map_err(|_| stopped())?;
        let (result, recorded) = answer.recv().map_err(|_| stopped())?;
        if recorded && result.is_ok() {
            super::revocations::mark_recorded();
        }
        result
    }
}

fn run(mut conn: DbConn, gate: Arc<Mutex<()>>, queue: Receiver<Box<dyn Job>>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let _turn = match gate.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Err(e) = conn.batch_execute("BEGIN IMMEDIATE") {
            let e = StoreError::from(e);
            tracing::warn!(cause = %e, "a write batch could not start");
            for job in batch {
                job.fail(StoreError::Unavailable(e.to_string()));
            }
            continue;
        }
        let mut answers = Vec::with_capacity(batch.len());
        for job in batch {
            let (keep, answer) = match conn.batch_execute("SAVEPOINT w") {
                Ok(()) => job.run(&mut conn),
                Err(e) => {
                    job.fail(StoreError::from(e));
                    continue;
                }
            };
            let end = if keep {
                conn.batch_execute("RELEASE w")
            } else {
                conn.batch_execute("ROLLBACK TO w; RELEASE w")
            };
            if let Err(e) = end {
                tracing::warn!(cause = %e, "a savepoint could not be closed");
            }
            answers.push(answer);
        }
        let committed = conn.batch_execute("COMMIT").map_err(StoreError::from);
        if committed.is_err() {
            let _ = conn.batch_execute("ROLLBACK");
        }
        for answer in answers {
            answer.send(match &committed {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Unavailable(e.to_string())),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    use super::*;
    use crate::store::{DatabaseUrl, Db};

    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    fn count(conn: &mut DbConn, sql: &str) -> i64 {
        diesel::sql_query(sql).get_result::<N>(conn).unwrap().n
    }

    #[test]
    fn concurrent_writes_commit_together_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::Sqlite(dir.path().join("w.db"));
        let db = Db::connect_for_server(&url, 4).unwrap();
        let mut conn = db.conn().unwrap();
        conn.batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY, used INTEGER NOT NULL DEFAULT 0); INSERT INTO t (id) VALUES (1);")
            .unwrap();
        drop(conn);
        let db = Arc::new(db);
        let outcomes: Vec<Result<bool, StoreError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..32)
                .map(|i| {
                    let db = db.clone();
                    s.spawn(move || {
                        db.run_sync(|conn| {
                            crate::store::write(conn, move |conn| {
                                // Every write tries to take the same row; odd ones also log,
                                // and every fourth fails after writing, which must not stick.
                                let n = diesel::sql_query("UPDATE t SET used = 1 WHERE id = 1 AND used = 0").execute(conn)?;
                                conn.batch_execute(&format!("CREATE TABLE IF NOT EXISTS log (i INTEGER); INSERT INTO log VALUES ({i});"))?;
                                if i % 4 == 0 {
                                    return Err(StoreError::Conflict("refused".into()));
                                }
                                Ok(n == 1)
                            })
                        })
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won = outcomes.iter().filter(|o| matches!(o, Ok(true))).count();
        let refused = outcomes.iter().filter(|o| o.is_err()).count();
        assert_eq!(refused, 8);
        let mut conn = db.conn().unwrap();
        // Exactly one write took the row — unless the taker was refused and rolled back, in
        // which case a later one took it.
        assert_eq!(won, 1, "{outcomes:?}");
        assert_eq!(
            count(&mut conn, "SELECT COUNT(*) AS n FROM log"),
            24,
            "refused writes left nothing"
        );
    }
}
