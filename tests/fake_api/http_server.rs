//! The fake over plain HTTP/1.1, for a real `appstack` process pointed at it by a
//! kubeconfig. Watch requests are held open without an answer (a quiet cluster); upgraded
//! requests (exec, port-forward) go to `upgrade`.

use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{FakeApi, Request, Subject};

/// Serves `fake` on `listener` until the runtime ends; every request is sent as `subject`.
pub async fn serve_http(fake: Arc<FakeApi>, listener: TcpListener, subject: Option<Subject>) {
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            continue;
        };
        let _ = sock.set_nodelay(true);
        tokio::spawn(connection(fake.clone(), sock, subject.clone()));
    }
}

struct Head {
    method: String,
    target: String,
    length: usize,
    accept: String,
    content_type: String,
    /// `websocket` for pods/exec and pods/portforward.
    upgrade: String,
    websocket_key: String,
}

fn parse_head(text: &str) -> Head {
    let mut lines = text.lines();
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let mut head = Head {
        method: first.next().unwrap_or("").to_string(),
        target: first.next().unwrap_or("/").to_string(),
        length: 0,
        accept: String::new(),
        content_type: String::new(),
        upgrade: String::new(),
        websocket_key: String::new(),
    };
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let v = v.trim().to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => head.length = v.parse().unwrap_or(0),
                "accept" => head.accept = v,
                "content-type" => head.content_type = v,
                "upgrade" => head.upgrade = v.to_ascii_lowercase(),
                "sec-websocket-key" => head.websocket_key = v,
                _ => {}
            }
        }
    }
    head
}

/// Reads until `buf` holds `n` bytes; false when the peer went away.
async fn fill(sock: &mut TcpStream, buf: &mut Vec<u8>, n: usize) -> bool {
    while buf.len() < n {
        let mut chunk = [0u8; 8192];
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(k) => buf.extend_from_slice(&chunk[..k]),
        }
    }
    true
}

async fn connection(fake: Arc<FakeApi>, mut sock: TcpStream, subject: Option<Subject>) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let want = buf.len() + 1;
            if !fill(&mut sock, &mut buf, want).await {
                return;
            }
        };
        let head = parse_head(&String::from_utf8_lossy(&buf[..head_end]));
        if !fill(&mut sock, &mut buf, head_end + head.length).await {
            return;
        }
        let body: Value =
            serde_json::from_slice(&buf[head_end..head_end + head.length]).unwrap_or(Value::Null);
        buf.drain(..head_end + head.length);
        let (path, query) = head
            .target
            .split_once('?')
            .unwrap_or((head.target.as_str(), ""));
        if head.upgrade == "websocket" {
            fake.log_upgrade(&head.method, path, query);
            super::upgrade::serve(fake, sock, path, query, &head.websocket_key).await;
            return;
        }
        if query
            .split('&')
            .any(|kv| kv == "watch=true" || kv == "watch=1")
        {
            std::future::pending::<()>().await;
        }
        let (code, value) = fake.handle(Request {
            method: &head.method,
            path,
            query,
            accept: &head.accept,
            content_type: &head.content_type,
            body,
            subject: subject.as_ref(),
        });
        let text = serde_json::to_vec(&value).unwrap_or_default();
        let reply = format!(
            "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            code.as_u16(),
            text.len()
        );
        if sock.write_all(reply.as_bytes()).await.is_err() || sock.write_all(&text).await.is_err() {
            return;
        }
    }
}

/// A kubeconfig in `dir` pointing at the fake on `port`, namespace `ns`.
pub fn kubeconfig(dir: &std::path::Path, port: u16, ns: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\nusers:\n- name: u\n  user: {{token: fake}}\ncontexts:\n- name: c\n  context: {{cluster: fake, user: u, namespace: {ns}}}\ncurrent-context: c\n"
        ),
    )
    .unwrap();
    path
}
