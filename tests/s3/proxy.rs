//! A loopback TCP proxy in front of an S3 server that injects faults into the requests for
//! packs (`…/packs/<content hash>`): uploads or downloads cut after some bytes, one byte of a
//! download flipped, or every connection left hanging. Other requests (listings, records) pass
//! untouched, so each fault hits exactly the data it names.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Close the connection after this many bytes of a pack's upload body.
    CutUpload(usize),
    /// Close the connection after this many bytes of a pack's download body.
    CutDownload(usize),
    /// Flip the byte at this offset of every pack download's body.
    Flip(usize),
    /// Accept connections and never answer.
    Stall,
    /// Hold every request for a pack: the request never reaches the server, nothing answers.
    StallPacks,
    /// Forward packs' upload bodies slowly: 256 bytes every 10 ms.
    Trickle,
}

pub struct Proxy {
    pub port: u16,
    fault: Arc<Mutex<Fault>>,
}

impl Proxy {
    /// A proxy on a free loopback port forwarding to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let fault = Arc::new(Mutex::new(Fault::None));
        let shared = fault.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let fault = shared.clone();
                std::thread::spawn(move || serve(client, upstream, fault));
            }
        });
        Proxy { port, fault }
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
}

/// What the client is asking on a connection now (requests on one connection are sequential).
#[derive(Default)]
struct Current {
    /// The request is a PUT or GET of a pack.
    pack_put: bool,
    pack_get: bool,
    /// Body bytes of the request (upload) or response (download) seen so far.
    sent: usize,
    received: usize,
    /// Where in the response stream its body starts is found by the header's end.
    header: Vec<u8>,
    in_body: bool,
}

fn serve(client: TcpStream, upstream: u16, fault: Arc<Mutex<Fault>>) {
    if *fault.lock().unwrap() == Fault::Stall {
        // Read what comes and answer nothing, until the client gives up.
        let mut client = client;
        let mut sink = [0u8; 4096];
        while matches!(client.read(&mut sink), Ok(n) if n > 0) {}
        return;
    }
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
    let current = Arc::new(Mutex::new(Current::default()));
    let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (fault2, current2) = (fault.clone(), current.clone());
    let up = std::thread::spawn(move || upload(c2, s2, fault2, current2));
    download(server, client, fault, current);
    let _ = up.join();
}

fn close(a: &TcpStream, b: &TcpStream) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}

/// Client to server: note each request line; cut, hold or slow a pack's upload when told to.
fn upload(
    mut client: TcpStream,
    mut server: TcpStream,
    fault: Arc<Mutex<Fault>>,
    current: Arc<Mutex<Current>>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        {
            let mut c = current.lock().unwrap();
            let starts = |m: &[u8]| chunk.starts_with(m);
            if starts(b"GET ")
                || starts(b"PUT ")
                || starts(b"POST ")
                || starts(b"HEAD ")
                || starts(b"DELETE ")
            {
                let line = String::from_utf8_lossy(&chunk[..chunk.len().min(300)]).to_string();
                let path = line.split(' ').nth(1).unwrap_or_default().to_string();
                let pack = path.contains("/packs/");
                *c = Current {
                    pack_put: pack && starts(b"PUT "),
                    pack_get: pack && starts(b"GET "),
                    ..Default::default()
                };
                if pack && *fault.lock().unwrap() == Fault::StallPacks {
                    // Swallow what the client sends; it waits for an answer that never comes.
                    drop(c);
                    while matches!(client.read(&mut buf), Ok(n) if n > 0) {}
                    break;
                }
                if c.pack_put && *fault.lock().unwrap() == Fault::Trickle {
                    drop(c);
                    if !trickle(&mut server, chunk) {
                        break;
                    }
                    continue;
                }
                if c.pack_put {
                    // The body follows the header in the same stream; count from its end.
                    if let Some(end) = find(chunk, b"\r\n\r\n") {
                        c.sent = 0;
                        let body = n - (end + 4);
                        if let Fault::CutUpload(after) = *fault.lock().unwrap() {
                            if body >= after {
                                let _ = server.write_all(&chunk[..end + 4 + after]);
                                close(&client, &server);
                                return;
                            }
                        }
                        c.sent = body;
                        let _ = server.write_all(chunk);
                        continue;
                    }
                }
            } else if c.pack_put {
                if *fault.lock().unwrap() == Fault::Trickle {
                    drop(c);
                    if !trickle(&mut server, chunk) {
                        break;
                    }
                    continue;
                }
                if let Fault::CutUpload(after) = *fault.lock().unwrap() {
                    if c.sent + n >= after {
                        let keep = after - c.sent;
                        let _ = server.write_all(&chunk[..keep]);
                        close(&client, &server);
                        return;
                    }
                }
                c.sent += n;
            }
        }
        if server.write_all(chunk).is_err() {
            break;
        }
    }
    close(&client, &server);
}

/// Server to client: find where a pack download's body starts, then cut it or flip a byte.
fn download(
    mut server: TcpStream,
    mut client: TcpStream,
    fault: Arc<Mutex<Fault>>,
    current: Arc<Mutex<Current>>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &mut buf[..n];
        let mut c = current.lock().unwrap();
        if c.pack_get {
            let mut body_start = 0;
            if !c.in_body {
                c.header.extend_from_slice(chunk);
                if let Some(end) = find(&c.header, b"\r\n\r\n") {
                    c.in_body = true;
                    body_start = n - (c.header.len() - (end + 4));
                } else {
                    body_start = n;
                }
            }
            if c.in_body {
                let body = &mut chunk[body_start..];
                match *fault.lock().unwrap() {
                    Fault::CutDownload(after) if c.received + body.len() >= after => {
                        let keep = body_start + (after - c.received);
                        let _ = client.write_all(&chunk[..keep]);
                        close(&client, &server);
                        return;
                    }
                    Fault::Flip(at) if (c.received..c.received + body.len()).contains(&at) => {
                        body[at - c.received] ^= 0x20;
                    }
                    _ => {}
                }
                c.received += body.len();
            }
        }
        drop(c);
        if client.write_all(chunk).is_err() {
            break;
        }
    }
    close(&client, &server);
}

/// Send `bytes` 256 at a time, 10 ms apart; false when the server has gone.
fn trickle(server: &mut TcpStream, bytes: &[u8]) -> bool {
    bytes.chunks(256).all(|piece| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        server.write_all(piece).is_ok()
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
