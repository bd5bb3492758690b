//! A minimal HTTP/1.1 client over `std::net` (keep-alive, `Content-Length` bodies only: every
//! answer the benchmarks read has one), and the byte-for-byte check of range requests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use crate::Result;

pub struct Target {
    pub host: String,
    pub path: String,
}

impl Target {
    /// `http://host:port/path?query`
    pub fn parse(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .ok_or("only http:// URLs are supported")?;
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Ok(Self {
            host: host.to_owned(),
            path: path.to_owned(),
        })
    }
}

pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Conn {
    host: String,
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(target: &Target) -> Result<Self> {
        let stream = TcpStream::connect(&target.host)?;
        stream.set_nodelay(true)?;
        Ok(Self {
            host: target.host.clone(),
            reader: BufReader::with_capacity(256 * 1024, stream),
        })
    }

    pub fn request(&mut self, method: &str, path: &str, headers: &[String]) -> Result<Response> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for h in headers {
            head.push_str(h);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        self.reader.get_mut().write_all(head.as_bytes())?;
        self.read_response(method == "HEAD")
    }

    fn read_response(&mut self, head_only: bool) -> Result<Response> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err("connection closed".into());
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .ok_or("bad status line")?
            .parse()?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((n, v)) = l.split_once(':') {
                headers.push((n.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let mut resp = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if !head_only && status != 304 && status != 204 {
            let len: usize = resp
                .header("content-length")
                .ok_or("the answer has no Content-Length")?
                .parse()?;
            resp.body = vec![0; len];
            self.reader.read_exact(&mut resp.body)?;
        }
        Ok(resp)
    }
}

/// A small seeded generator (SplitMix64), the same sequence on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Ask for `count` random ranges of `len` bytes (the last one reaching the end of the file, and
/// one open-ended `start-`), and compare status, `Content-Range` and every byte with the file.
pub fn ranges_check(url: &str, file: &str, count: usize, seed: u64, len: u64) -> Result<()> {
    let data = std::fs::read(file)?;
    let size = data.len() as u64;
    let target = Target::parse(url)?;
    let mut conn = Conn::open(&target)?;
    let mut rng = Rng::new(seed);
    let mut checked = 0u64;
    for i in 0..count {
        let (start, end, spec) = match i {
            0 => (size - len, size - 1, format!("bytes={}-", size - len)),
            1 => (size - 100, size - 1, "bytes=-100".to_owned()),
            _ => {
                let start = rng.next_u64() % (size - len + 1);
                (
                    start,
                    start + len - 1,
                    format!("bytes={start}-{}", start + len - 1),
                )
            }
        };
        let resp = conn.request("GET", &target.path, &[format!("Range: {spec}")])?;
        let want = format!("bytes {start}-{end}/{size}");
        if resp.status != 206 || resp.header("content-range") != Some(want.as_str()) {
            return Err(format!(
                "{spec}: answered {} with Content-Range {:?}, expected 206 {want}",
                resp.status,
                resp.header("content-range")
            )
            .into());
        }
        if resp.body != data[start as usize..=end as usize] {
            let at = resp
                .body
                .iter()
                .zip(&data[start as usize..])
                .position(|(a, b)| a != b);
            return Err(format!(
                "{spec}: the body differs from the file (length {}, first difference at {at:?})",
                resp.body.len()
            )
            .into());
        }
        checked += resp.body.len() as u64;
    }
    // And the whole file once.
    let resp = conn.request("GET", &target.path, &[])?;
    if resp.status != 200 || resp.body != data {
        return Err(format!("the full download differs (status {})", resp.status).into());
    }
    checked += size;
    println!("ranges_ok={count} bytes_checked={checked}");
    Ok(())
}
