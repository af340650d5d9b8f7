//! Hostile clients (issue 13): what an attacker on the network can send, and
//! the limit that answers it. Each test goes through a real socket.

mod memory;
mod publish;
mod requests;
mod soak;
mod sockets;

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::{binary_command, error_of, free_port, json_of, Server, WAIT};

/// The server's address.
fn addr(server: &Server) -> SocketAddr {
    server
        .url("")
        .trim_start_matches("http://")
        .parse()
        .unwrap()
}

/// A socket to `server` from the loopback address `from` (127.0.0.x).
async fn connect_from(server: &Server, from: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(addr(server)).await.unwrap()
}

/// Everything the server sends until it closes the connection (or an error
/// such as a reset ends it); fails the test if it stays open past [`WAIT`].
async fn read_to_close(socket: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, socket.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return String::from_utf8_lossy(&out).into_owned(),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "connection still open after {WAIT:?}; got {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

/// Sends `request` on a new socket from `from` and reads the whole answer.
async fn exchange(server: &Server, from: [u8; 4], request: &str) -> String {
    let mut socket = connect_from(server, from).await;
    socket.write_all(request.as_bytes()).await.unwrap();
    read_to_close(&mut socket).await
}

const HEALTH: &str = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";

const HEALTH_CLOSE: &str = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

const SUBSCRIBE: &str = "GET /events?topic=t HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// Opens `GET /events` with `extra` head lines and `after` sent with the
/// head; returns everything the server sent before closing.
async fn events_then(server: &Server, extra: &str, after: &[u8]) -> String {
    let mut socket = connect_from(server, [127, 0, 0, 1]).await;
    let mut request =
        format!("GET /events?topic=t HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n").into_bytes();
    request.extend_from_slice(after);
    socket.write_all(&request).await.unwrap();
    read_to_close(&mut socket).await
}

/// A `POST /publish` head announcing `length` bytes of JSON.
fn publish_head(length: usize) -> String {
    format!(
        "POST /publish HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// The server binary on a free port with `args`; returns it, its base URL
/// and its log lines (stdout and stderr merged) as they come.
async fn binary(
    args: &[&str],
    shell_prefix: Option<&str>,
) -> (
    tokio::process::Child,
    u16,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    use std::process::Stdio;
    use tokio::io::AsyncBufReadExt;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut command = match shell_prefix {
        // e.g. `ulimit -n 64`: the limit applies to the exec'd server only.
        Some(prefix) => {
            let command = binary_command();
            let program = command.as_std().get_program().to_owned();
            let mut shell = tokio::process::Command::new("sh");
            let mut script = format!("{prefix} && exec \"$0\" --listen {listen}");
            for arg in args {
                script.push_str(&format!(" '{arg}'"));
            }
            shell.arg("-c").arg(script).arg(program);
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("SSE_HUB_") {
                    shell.env_remove(key);
                }
            }
            shell
        }
        None => {
            let mut command = binary_command();
            command.args(["--listen", &listen]).args(args);
            command
        }
    };
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let err = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    for mut lines in [
        Box::new(out) as Box<dyn LineSource>,
        Box::new(err) as Box<dyn LineSource>,
    ] {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(line) = lines.next().await {
                let _ = tx.send(line);
            }
        });
    }
    tokio::time::timeout(WAIT, async {
        while let Some(line) = rx.recv().await {
            if line.contains("sse-hub listening") {
                return;
            }
        }
        panic!("server exited before listening");
    })
    .await
    .expect("server listening in time");
    (child, port, rx)
}

/// Lines of a child's output stream.
trait LineSource: Send {
    fn next(&mut self) -> Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + '_>>;
}

impl<R: tokio::io::AsyncBufRead + Unpin + Send> LineSource for tokio::io::Lines<R> {
    fn next(&mut self) -> Pin<Box<dyn std::future::Future<Output = Option<String>> + Send + '_>> {
        Box::pin(async move { self.next_line().await.ok().flatten() })
    }
}

/// Resident memory of `pid` in KiB, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A pseudo-random number of milliseconds (no seed to manage).
fn rand_ms() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    hasher.finish()
}
