//! A bounded HTTP load generator for `bench/serve.sh` (std only, 127.0.0.1 only).
//!
//! `loadgen ADDR PATH BODY_FILE CONCURRENCY REQUESTS MAX_SECONDS`: CONCURRENCY clients, each on
//! one keep-alive connection, POST the body back to back until REQUESTS have been sent in all or
//! MAX_SECONDS have passed. Prints one JSON line: requests, errors (non-200 or broken
//! connections), seconds, throughput and latency percentiles (ms).
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        eprintln!("usage: loadgen ADDR PATH BODY_FILE CONCURRENCY REQUESTS MAX_SECONDS");
        std::process::exit(2);
    }
    let addr: SocketAddr = args[1].parse().expect("ADDR like 127.0.0.1:8080");
    // Loopback only: this tool must never load anything but a server of this machine.
    assert!(
        addr.ip().is_loopback(),
        "loadgen only targets 127.0.0.0/8 or ::1"
    );
    let path = args[2].clone();
    let body = std::fs::read(&args[3]).expect("BODY_FILE readable");
    let concurrency: usize = args[4].parse().expect("CONCURRENCY");
    let total: usize = args[5].parse().expect("REQUESTS");
    let limit = Duration::from_secs_f64(args[6].parse().expect("MAX_SECONDS"));

    let sent = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let request = Arc::new(
        [
            format!(
                "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes(),
            body,
        ]
        .concat(),
    );
    let start = Instant::now();
    let threads: Vec<_> = (0..concurrency)
        .map(|_| {
            let (sent, errors, latencies, request) = (
                sent.clone(),
                errors.clone(),
                latencies.clone(),
                request.clone(),
            );
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                let mut conn: Option<BufReader<TcpStream>> = None;
                while start.elapsed() < limit && sent.fetch_add(1, Ordering::SeqCst) < total {
                    let t0 = Instant::now();
                    let ok = (|| -> std::io::Result<(bool, bool)> {
                        if conn.is_none() {
                            let s = TcpStream::connect(addr)?;
                            s.set_nodelay(true)?;
                            s.set_read_timeout(Some(Duration::from_secs(60)))?;
                            conn = Some(BufReader::new(s));
                        }
                        let c = conn.as_mut().expect("connected");
                        c.get_mut().write_all(&request)?;
                        read_response(c)
                    })();
                    if matches!(ok, Ok((_, false))) {
                        conn = None;
                    }
                    match ok {
                        Ok((true, _)) => mine.push(t0.elapsed().as_secs_f64() * 1e3),
                        Ok((false, _)) => {
                            errors.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::SeqCst);
                            conn = None;
                        }
                    }
                }
                latencies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut l = latencies.lock().unwrap().clone();
    l.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if l.is_empty() {
            f64::NAN
        } else {
            l[((p * l.len() as f64).ceil() as usize).clamp(1, l.len()) - 1]
        }
    };
    let errors = errors.load(Ordering::SeqCst);
    println!(
        "{{\"concurrency\": {concurrency}, \"ok\": {}, \"errors\": {errors}, \"seconds\": {seconds:.3}, \
         \"throughput_rps\": {:.1}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}, \"max_ms\": {:.2}}}",
        l.len(),
        l.len() as f64 / seconds,
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
}

/// Reads one response: (status is 200, the connection stays open). Handles Content-Length and chunked
/// bodies (uvicorn and hyper both send Content-Length for JSON).
fn read_response(c: &mut BufReader<TcpStream>) -> std::io::Result<(bool, bool)> {
    let mut line = String::new();
    if c.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let ok = line.split_whitespace().nth(1) == Some("200");
    let (mut length, mut chunked, mut close) = (0usize, false, false);
    loop {
        line.clear();
        c.read_line(&mut line)?;
        let h = line.trim_end().to_ascii_lowercase();
        if h.is_empty() {
            break;
        }
        if let Some(v) = h.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        } else if h.starts_with("transfer-encoding:") && h.contains("chunked") {
            chunked = true;
        } else if h.starts_with("connection:") && h.contains("close") {
            close = true;
        }
    }
    if chunked {
        loop {
            line.clear();
            c.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0u8; size + 2];
            c.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
        }
    } else {
        let mut buf = vec![0u8; length];
        c.read_exact(&mut buf)?;
    }
    Ok((ok, !close))
}
