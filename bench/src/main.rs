//! `psbench`: the helpers `bench/run` needs besides wrk, nginx and curl.
//!
//! - `mkpkg OUT SIZE PLATFORM VERSION`: a valid driver package (a zip with a manifest and one big
//!   stored member of incompressible bytes).
//! - `seed DB [--migrations DIR] [--sources N] [--tasks N] [--events N]`: rows straight into the
//!   database (the schema from DIR first when it has none).
//! - `sqlite-writes DB --clients N --secs S`: the raw-SQLite baseline for agent reports.
//! - `ranges-check URL FILE --count N --seed S`: random 1 MiB ranges compared byte for byte.
//! - `fixed-rate URL --rate R --secs S --conns C [-H 'Name: value']`: open-loop latency percentiles.
//! - `ready-time URL -- CMD ARGS...`: start a server and time it until `URL` answers 200.
//! - `sign-in-poll URL --auth ntlm|basic --user U --password P --secs S --conns C`: closed-loop
//!   polling over connections signed in once with NTLM, or sending Basic on every request.

mod http;
mod pkg;
mod rate;
mod signin;
mod sqlite;

use std::time::{Duration, Instant};

type Result<T, E = Box<dyn std::error::Error + Send + Sync>> = std::result::Result<T, E>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("psbench: {e}");
        std::process::exit(1);
    }
}

/// The value after `--name`, or a default.
fn opt<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .ok_or_else(|| format!("{name} needs a value"))?
            .parse()
            .map_err(|_| format!("{name}: bad value").into()),
    }
}

fn pos(args: &[String], i: usize, what: &str) -> Result<String> {
    args.get(i)
        .cloned()
        .ok_or_else(|| format!("missing {what}").into())
}

fn run(args: &[String]) -> Result<()> {
    let cmd = args.first().map(String::as_str).unwrap_or("");
    let rest = &args[args.len().min(1)..];
    match cmd {
        "mkpkg" => pkg::write(
            &pos(rest, 0, "OUT")?,
            pos(rest, 1, "SIZE")?.parse()?,
            &pos(rest, 2, "PLATFORM")?,
            &pos(rest, 3, "VERSION")?,
        ),
        "seed" => sqlite::seed(
            &pos(rest, 0, "DB")?,
            opt(rest, "--migrations", String::new())
                .map(|m| Some(m).filter(|m| !m.is_empty()))?
                .as_deref(),
            opt(rest, "--sources", 0i64)?,
            opt(rest, "--tasks", 0i64)?,
            opt(rest, "--events", 0i64)?,
        ),
        "sqlite-writes" => sqlite::writes(
            &pos(rest, 0, "DB")?,
            opt(rest, "--clients", 64usize)?,
            Duration::from_secs_f64(opt(rest, "--secs", 5.0)?),
        ),
        "ranges-check" => http::ranges_check(
            &pos(rest, 0, "URL")?,
            &pos(rest, 1, "FILE")?,
            opt(rest, "--count", 64usize)?,
            opt(rest, "--seed", 42u64)?,
            opt(rest, "--len", 1u64 << 20)?,
        ),
        "fixed-rate" => {
            let headers: Vec<String> = rest
                .windows(2)
                .filter(|w| w[0] == "-H")
                .map(|w| w[1].clone())
                .collect();
            rate::run(
                &pos(rest, 0, "URL")?,
                opt(rest, "--rate", 1000.0)?,
                Duration::from_secs_f64(opt(rest, "--secs", 5.0)?),
                opt(rest, "--conns", 4usize)?,
                &headers,
            )
        }
        "ready-time" => ready_time(rest),
        "sign-in-poll" => signin::run(
            &pos(rest, 0, "URL")?,
            &opt(rest, "--auth", "ntlm".to_owned())?,
            &opt(rest, "--user", "administrator".to_owned())?,
            &opt(rest, "--password", "platespin".to_owned())?,
            Duration::from_secs_f64(opt(rest, "--secs", 3.0)?),
            opt(rest, "--conns", 16usize)?,
        ),
        _ => Err("usage: psbench mkpkg|seed|sqlite-writes|ranges-check|fixed-rate|ready-time|sign-in-poll ...\n(see the comment at the top of bench/src/main.rs)".into()),
    }
}

/// Start `CMD ARGS...`, poll `URL` every 2 ms until it answers 200, print the time in ms, and stop
/// the server with SIGTERM (a clean stop, so the next start finds no WAL to replay).
fn ready_time(args: &[String]) -> Result<()> {
    let url = pos(args, 0, "URL")?;
    let split = args
        .iter()
        .position(|a| a == "--")
        .ok_or("ready-time URL -- CMD ARGS...")?;
    let cmd = &args[split + 1..];
    let program = cmd.first().ok_or("missing CMD")?;
    let started = Instant::now();
    let mut child = std::process::Command::new(program)
        .args(&cmd[1..])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let target = http::Target::parse(&url)?;
    let result: Result<Duration> = loop {
        if started.elapsed() > Duration::from_secs(60) {
            break Err("not ready after 60 s".into());
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!("the server exited: {status}").into());
        }
        if let Ok(mut conn) = http::Conn::open(&target)
            && let Ok(resp) = conn.request("GET", &target.path, &[])
            && resp.status == 200
        {
            break Ok(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
    let elapsed = result?;
    println!("ready_ms={:.1}", elapsed.as_secs_f64() * 1000.0);
    Ok(())
}
