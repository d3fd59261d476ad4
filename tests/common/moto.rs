//! moto_server (an S3 API on 127.0.0.1) and a TCP proxy in front of it that a test can
//! stop and start again, to take "the S3 endpoint" away without losing moto's memory.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{free_port, wait_for};

pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "moto_server (pip install 'moto[server]'; scripts/setup-engine.sh installs it)",
            );
        let m = Self { child, port };
        wait_for("moto_server", Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        m
    }

    pub fn create_bucket(&self, bucket: &str) {
        let url = format!("http://127.0.0.1:{}/{bucket}", self.port);
        let ok = Command::new("python3")
            .args(["-c", &format!("import urllib.request; urllib.request.urlopen(urllib.request.Request('{url}', method='PUT'))")])
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP forwarder to 127.0.0.1:`target` that can be taken down (listener closed, open
/// connections cut) and brought back on the same port.
pub struct Proxy {
    pub port: u16,
    target: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    pub fn start(target: u16) -> Self {
        let mut p = Self {
            port: free_port(),
            target,
            up: Arc::new(AtomicBool::new(false)),
            conns: Arc::new(Mutex::new(Vec::new())),
            thread: None,
        };
        p.resume();
        p
    }

    /// Closes the listener and cuts every open connection.
    pub fn stop(&mut self) {
        self.up.store(false, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    pub fn resume(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        self.up.store(true, Ordering::SeqCst);
        let (up, conns, target) = (self.up.clone(), self.conns.clone(), self.target);
        self.thread = Some(std::thread::spawn(move || {
            while up.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                            continue;
                        };
                        let mut list = conns.lock().unwrap();
                        list.push(client.try_clone().unwrap());
                        list.push(server.try_clone().unwrap());
                        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                        pipe(server, client);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }));
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An S3 backup section for `bucket` at `port` (moto or a proxy in front of it), and the
/// credentials file it names (keep it alive as long as the stack).
pub fn s3_backup(bucket: &str, port: u16, extra: &str) -> (tempfile::NamedTempFile, String) {
    let creds = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        creds.path(),
        "AWS_ACCESS_KEY_ID=test\nAWS_SECRET_ACCESS_KEY=test\n",
    )
    .unwrap();
    let spec = format!(
        "  backup:\n    target: s3://{bucket}/prod\n    s3: {{bucket: {bucket}, endpoint: \"http://127.0.0.1:{port}\", pathStyle: true, credentialsSecret: \"{}\"}}\n{extra}",
        creds.path().display()
    );
    (creds, spec)
}
