//! Rows straight into the server's database (far faster than the API for 100,000s of rows), and
//! the raw-SQLite baseline of the agent-report benchmark.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::Result;

/// The server's pragmas (src/db/mod.rs): WAL, synchronous=NORMAL, busy_timeout, foreign keys.
fn open(path: &str) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
         PRAGMA temp_store = memory;",
    )?;
    Ok(conn)
}

/// The id of the i-th seeded source (1-based), as `bench/run` also computes it.
const SOURCE_ID: &str = "printf('00000000-0000-4000-8000-%012x', i)";

/// Seed `db`; with `migrations`, first create the schema from the server's migration files when
/// the database has none (the baseline's database, which no server ever opened).
pub fn seed(
    db: &str,
    migrations: Option<&str>,
    sources: i64,
    tasks: i64,
    events: i64,
) -> Result<()> {
    let started = Instant::now();
    let conn = open(db)?;
    let has_schema: bool = conn.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE name = 'sources'",
        [],
        |r| r.get(0),
    )?;
    if let (false, Some(dir)) = (has_schema, migrations) {
        let mut files: Vec<_> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()?;
        files.retain(|p| p.extension().is_some_and(|e| e == "sql"));
        files.sort();
        for f in files {
            conn.execute_batch(&std::fs::read_to_string(f)?)?;
        }
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let now = "2026-01-01T00:00:00.000000Z";
    if sources > 0 {
        conn.execute(
            &format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                 INSERT INTO sources (id, host_name, os_family, platform, ip_address, added_by,
                    controller_service, installed_version, running_version, created_at, updated_at)
                 SELECT {SOURCE_ID}, 'bench-' || i, 'windows', 'windows-x64',
                    '10.' || (i / 65536 % 256) || '.' || (i / 256 % 256) || '.' || (i % 256), 'api',
                    'running', '8.0.0.11', '8.0.0.11', ?2, ?2
                 FROM n"
            ),
            rusqlite::params![sources, now],
        )?;
    }
    let n_sources: i64 = conn.query_row("SELECT COUNT(*) FROM sources", [], |r| r.get(0))?;
    if (tasks > 0 || events > 0) && n_sources == 0 {
        return Err("tasks and events need sources: seed some with --sources".into());
    }
    if tasks > 0 {
        // One active reboot task per machine at most (the schema's unique index); the others
        // ask to mark a test cutover. Spread over the seeded machines.
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1),
                  s(k, id, host) AS (SELECT row_number() OVER (ORDER BY rowid), id, host_name FROM sources)
             INSERT INTO tasks (id, kind, source_id, message, state, created_at, updated_at)
             SELECT printf('00000000-0000-4000-9000-%012x', i),
                    CASE WHEN i <= ?2 THEN 'RebootRequired' WHEN i % 2 = 0 THEN 'MarkTestSuccess'
                         ELSE 'MarkTestFailure' END,
                    s.id,
                    CASE WHEN i <= ?2 THEN 'Reboot required to complete the driver installation on ' || s.host
                         ELSE 'Mark the test cutover of ' || s.host || ' as a success or a failure' END,
                    'active', ?3, ?3
             FROM n JOIN s ON s.k = (i - 1) % ?2 + 1",
            rusqlite::params![tasks, n_sources, now],
        )?;
    }
    if events > 0 {
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO events (id, kind, source_id, message, created_at)
             SELECT printf('00000000-0000-4000-a000-%012x', i), 'DriverInstalled',
                    printf('00000000-0000-4000-8000-%012x', (i - 1) % ?2 + 1),
                    'Driver 8.0.0.11 installed on bench-' || ((i - 1) % ?2 + 1) || ' (reported by its agent)', ?3
             FROM n",
            rusqlite::params![events, n_sources, now],
        )?;
    }
    conn.execute_batch("COMMIT")?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?;
    eprintln!(
        "seeded {sources} sources, {tasks} tasks, {events} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

const UPDATE: &str = "UPDATE sources SET controller_service = 'running', installed_version = ?1,
     running_version = ?1, updated_at = ?2, last_report_at = ?2 WHERE id = ?3";

/// One row update per `BEGIN IMMEDIATE` transaction from `clients` threads, for `secs`, two ways:
/// each thread with its own connection (contending through busy_timeout), and all threads taking
/// turns on one connection (the server's single-writer design). Prints both rates and the errors.
pub fn writes(db: &str, clients: usize, secs: Duration) -> Result<()> {
    let n_sources: i64 = open(db)?.query_row("SELECT COUNT(*) FROM sources", [], |r| r.get(0))?;
    if n_sources == 0 {
        return Err("seed sources first".into());
    }
    // The baseline is one row updated per transaction and nothing else: the server's schema
    // keeps counts with a trigger on the driver-version columns (migration 0006), which the
    // server's own steady reports never fire (they write only times).
    open(db)?.execute_batch("DROP TRIGGER IF EXISTS sources_recounted")?;
    let own = run_clients(clients, secs, n_sources, |_| {
        let conn = open(db)?;
        Ok(Arc::new(Mutex::new(conn)))
    })?;
    let shared_conn = Arc::new(Mutex::new(open(db)?));
    let shared = run_clients(clients, secs, n_sources, |_| Ok(shared_conn.clone()))?;
    println!(
        "own_connections_tps={:.0} single_writer_tps={:.0} errors={}",
        own.0,
        shared.0,
        own.1 + shared.1
    );
    Ok(())
}

fn run_clients(
    clients: usize,
    secs: Duration,
    n_sources: i64,
    conn_for: impl Fn(usize) -> Result<Arc<Mutex<Connection>>>,
) -> Result<(f64, u64)> {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let conns = (0..clients).map(&conn_for).collect::<Result<Vec<_>>>()?;
    let started = Instant::now();
    let threads: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(t, conn)| {
            let (done, errors, stop) = (done.clone(), errors.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = t as i64;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("00000000-0000-4000-8000-{:012x}", i % n_sources + 1);
                    let version = if i % 2 == 0 { "8.0.0.11" } else { "8.0.0.12" };
                    let now = format!("2026-01-01T00:00:{:02}.{:06}Z", i % 60, i % 1_000_000);
                    let result = (|| -> rusqlite::Result<()> {
                        let conn = conn
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        conn.execute_batch("BEGIN IMMEDIATE")?;
                        let r = conn
                            .prepare_cached(UPDATE)?
                            .execute(rusqlite::params![version, now, id]);
                        match r {
                            Ok(_) => conn.execute_batch("COMMIT"),
                            Err(e) => {
                                let _ = conn.execute_batch("ROLLBACK");
                                Err(e)
                            }
                        }
                    })();
                    match result {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                    i += clients as i64;
                }
            })
        })
        .collect();
    std::thread::sleep(secs);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok((
        done.load(Ordering::Relaxed) as f64 / elapsed,
        errors.load(Ordering::Relaxed),
    ))
}
