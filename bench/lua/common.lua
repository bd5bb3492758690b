-- Loaded by every wrk script of bench/run: one machine-readable line per run.
-- Errors: socket errors (connect, read, write, timeout) and answers with a status >= 400.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d bytes=%d socket_errors=%d status_errors=%d mean_ms=%.3f p50_ms=%.3f p99_ms=%.3f\n",
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.timeout,
    e.status, latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
