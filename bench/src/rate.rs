//! A fixed-rate (open-loop) client, as wrk2 would be (not in Debian): each of `conns` keep-alive
//! connections sends on a fixed schedule, and a request's latency counts from when it was *due*,
//! not from when it was sent, so a stall is charged to every request it delayed (no coordinated
//! omission).

use std::time::{Duration, Instant};

use crate::Result;
use crate::http::{Conn, Target};

pub fn run(url: &str, rate: f64, secs: Duration, conns: usize, headers: &[String]) -> Result<()> {
    let target = std::sync::Arc::new(Target::parse(url)?);
    let interval = Duration::from_secs_f64(conns as f64 / rate);
    let started = Instant::now() + Duration::from_millis(50);
    let threads: Vec<_> = (0..conns)
        .map(|c| {
            let target = target.clone();
            let headers = headers.to_vec();
            std::thread::spawn(move || -> Result<(Vec<Duration>, u64)> {
                let mut conn = Conn::open(&target)?;
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut due = started + interval.mul_f64(c as f64 / conns as f64);
                while due < started + secs {
                    let now = Instant::now();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                    match conn.request("GET", &target.path, &headers) {
                        Ok(r) if (200..300).contains(&r.status) => {}
                        Ok(_) => errors += 1,
                        Err(_) => {
                            errors += 1;
                            conn = Conn::open(&target)?;
                        }
                    }
                    latencies.push(due.elapsed());
                    due += interval;
                }
                Ok((latencies, errors))
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in threads {
        let (l, e) = t.join().map_err(|_| "a client thread panicked")??;
        all.extend(l);
        errors += e;
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "rate={rate:.0} requests={} errors={errors} p50_ms={:.3} p90_ms={:.3} p99_ms={:.3} max_ms={:.3}",
        all.len(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
    Ok(())
}
