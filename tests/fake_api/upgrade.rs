//! Upgraded requests — `pods/exec` and `pods/portforward` over WebSocket
//! (`v4.channel.k8s.io`: each binary message starts with its channel) — carried to Docker
//! containers standing in for the pods: a command runs with `docker exec` in the pod's
//! container, a forwarded port connects to the container's address. A client of the fake
//! so meets a real PostgreSQL, Redis or HTTP server through the protocol a kubelet speaks.

use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::FakeApi;

const PROTOCOL: &str = "v4.channel.k8s.io";

/// The values of `key` in a query string, decoded as a form encodes them.
pub fn query_values(query: &str, key: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| decode(v))
        .collect()
}

fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Answers the upgrade and serves the stream: `path` ends in `/exec` or `/portforward`.
pub async fn serve(fake: Arc<FakeApi>, mut sock: TcpStream, path: &str, query: &str, key: &str) {
    let pod = path.rsplit('/').nth(1).unwrap_or_default().to_string();
    let Some(container) = fake.containers.lock().unwrap().get(&pod).cloned() else {
        let body = format!("{{\"kind\":\"Status\",\"status\":\"Failure\",\"code\":404,\"message\":\"pod {pod} not found\"}}");
        let _ = sock
            .write_all(format!("HTTP/1.1 404 X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).as_bytes())
            .await;
        return;
    };
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\nsec-websocket-protocol: {PROTOCOL}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    if sock.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let ws = WebSocketStream::from_raw_socket(sock, Role::Server, None).await;
    if path.ends_with("/exec") {
        exec(ws, &container, query_values(query, "command")).await;
    } else {
        let port: u16 = query_values(query, "ports")
            .first()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        forward(ws, &container, port).await;
    }
}

fn framed(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::binary(v)
}

async fn exec(mut ws: WebSocketStream<TcpStream>, container: &str, argv: Vec<String>) {
    let mut child = tokio::process::Command::new("docker")
        .arg("exec")
        .arg(container)
        .args(&argv)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("docker exec");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let (mut ob, mut eb) = ([0u8; 16384], [0u8; 16384]);
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        tokio::select! {
            n = out.read(&mut ob), if out_open => match n {
                Ok(n) if n > 0 => { let _ = ws.send(framed(1, &ob[..n])).await; }
                _ => out_open = false,
            },
            n = err.read(&mut eb), if err_open => match n {
                Ok(n) if n > 0 => { let _ = ws.send(framed(2, &eb[..n])).await; }
                _ => err_open = false,
            },
        }
    }
    let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(1);
    let status = if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
               "message": format!("command terminated with non-zero exit code: {code}"),
               "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
    };
    let _ = ws.send(framed(3, status.to_string().as_bytes())).await;
    let _ = ws.close(None).await;
}

/// The container's address on its first network.
fn address(container: &str) -> String {
    let out = std::process::Command::new("docker")
        .args([
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            container,
        ])
        .output()
        .expect("docker inspect");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("127.0.0.1")
        .to_string()
}

async fn forward(ws: WebSocketStream<TcpStream>, container: &str, port: u16) {
    let (mut sink, mut stream) = ws.split();
    let p = port.to_le_bytes();
    // The kubelet's first frame on each channel names the port.
    for ch in [0u8, 1] {
        if sink.send(framed(ch, &p)).await.is_err() {
            return;
        }
    }
    let Ok(tcp) = TcpStream::connect((address(container).as_str(), port)).await else {
        let _ = sink.send(framed(1, b"connection refused")).await;
        let _ = sink.close().await;
        return;
    };
    let (mut from_pod, mut to_pod) = tcp.into_split();
    let upstream = async {
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Binary(b) if b.len() > 1 && b[0] == 0 => {
                    let Ok(()) = to_pod.write_all(&b[1..]).await else {
                        break;
                    };
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    };
    let downstream = async {
        let mut buf = [0u8; 16384];
        loop {
            match from_pod.read(&mut buf).await {
                Ok(n) if n > 0 => {
                    if sink.send(framed(0, &buf[..n])).await.is_err() {
                        break;
                    }
                }
                _ => break,
            }
        }
        let _ = sink.close().await;
    };
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
    }
}
