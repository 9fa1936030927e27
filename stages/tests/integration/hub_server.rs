//! A loopback HTTP server that speaks the Hugging Face hub's file protocol as the hub does:
//! `HEAD` and `GET` of `/{repo}/resolve/{revision}/{file}`, answered with `x-repo-commit`, the
//! LFS content hash (`x-linked-etag`, sha256 of the bytes), `Range` / `content-range`. It can
//! misbehave on demand: die mid-transfer, stall after the headers, or send bytes that do not
//! match their hash. It binds 127.0.0.1 only; a test points `HF_ENDPOINT` at it.
//!
//! Shared by the stages' hub tests and the binary's `pipeline pin` test (`tests/cli.rs`, through
//! `#[path]`); each uses part of it.
#![allow(dead_code)]

use sha2::Digest;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The commit every answer names.
pub const REVISION: &str = "0123456789abcdef0123456789abcdef01234567";

/// How the server answers the next requests.
#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    Serve,
    /// Sends the headers and half the body of a download, then closes the connection.
    DieMidTransfer,
    /// Sends a download's headers, then nothing for a minute.
    Stall,
    /// Sends a download whose bytes do not match the hash its headers announce.
    Corrupt,
}

pub struct Server {
    pub endpoint: String,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    mode: Arc<Mutex<Mode>>,
    requests: Arc<AtomicUsize>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let mode = Arc::new(Mutex::new(Mode::Serve));
        let requests = Arc::new(AtomicUsize::new(0));
        let (f, m, r) = (files.clone(), mode.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                r.fetch_add(1, Ordering::SeqCst);
                let (files, mode) = (f.lock().unwrap().clone(), *m.lock().unwrap());
                // A thread per connection: a stalled one must not hold up the next.
                std::thread::spawn(move || answer(stream, &files, mode));
            }
        });
        Server { endpoint, files, mode, requests }
    }

    pub fn put(&self, url_path: &str, bytes: Vec<u8>) {
        self.files.lock().unwrap().insert(url_path.to_string(), bytes);
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// An endpoint where nothing listens (connections are refused).
pub fn dead_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

pub fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// One HTTP/1.1 exchange, then close.
fn answer(
    mut stream: std::net::TcpStream,
    files: &HashMap<String, Vec<u8>>,
    mode: Mode,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut words = request_line.split_whitespace();
    let method = words.next().unwrap_or("GET").to_string();
    let path = words.next().unwrap_or("/").to_string();
    let mut range: Option<(usize, Option<usize>)> = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            let (a, b) = v.trim().split_once('-').unwrap();
            range = Some((a.parse().unwrap(), b.parse().ok()));
        }
    }
    let Some(body) = files.get(&path) else {
        let msg = b"Entry not found";
        write!(stream, "HTTP/1.1 404 Not Found\r\nx-error-code: EntryNotFound\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", msg.len())?;
        return stream.write_all(msg);
    };
    let etag = sha256(body);
    let headers = format!(
        "x-repo-commit: {REVISION}\r\netag: \"{etag}\"\r\nx-linked-etag: \"{etag}\"\r\n\
         accept-ranges: bytes\r\nconnection: close\r\n"
    );
    if method == "HEAD" {
        return write!(
            stream,
            "HTTP/1.1 200 OK\r\n{headers}content-length: {}\r\n\r\n",
            body.len()
        );
    }
    let (start, end) = match range {
        Some((a, b)) => (a, b.unwrap_or(body.len() - 1).min(body.len() - 1)),
        None => (0, body.len() - 1),
    };
    let mut part = body[start..=end].to_vec();
    let status = if range.is_some() { "206 Partial Content" } else { "200 OK" };
    write!(
        stream,
        "HTTP/1.1 {status}\r\n{headers}content-range: bytes {start}-{end}/{}\r\ncontent-length: {}\r\n\r\n",
        body.len(),
        part.len()
    )?;
    match mode {
        Mode::DieMidTransfer if part.len() > 1 => {
            stream.write_all(&part[..part.len() / 2])?;
            stream.shutdown(std::net::Shutdown::Both)
        }
        Mode::Stall => {
            stream.flush()?;
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        }
        Mode::Corrupt => {
            let last = part.len() - 1;
            part[last] ^= 0xff;
            stream.write_all(&part)
        }
        _ => stream.write_all(&part),
    }
}
