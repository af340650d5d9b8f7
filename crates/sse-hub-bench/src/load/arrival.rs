//! Reads that say when their bytes arrived.
//!
//! One load generator stands in for a thousand browsers, each of which
//! would read its socket on its own CPU. Read here in turn, an event's
//! *read* time includes the load generator's own queue: every read before
//! it on the same CPU. The kernel stamps each segment as it reaches the
//! client's socket (`SO_TIMESTAMPING`, software receive stamps), and a
//! read reports the stamp of the last segment it returned: that is the
//! moment a client on its own machine would have the event, whatever the
//! load generator does next. Both figures are reported.
//!
//! The kernel enables receive stamping system-wide from a work queue after
//! the first socket asks for it, so segments arriving in the first
//! moments may carry no stamp: the arrival figure counts stamped events only
//! (its `count`), and clients connect well before anything is published.

use std::io;
use std::net::TcpStream as StdTcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{
    recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, TimestampingFlag, Timestamps,
};
use tokio::io::unix::AsyncFd;
use tokio::net::TcpStream;

/// A client socket read with receive timestamps.
#[derive(Debug)]
pub(super) struct StampedStream {
    fd: AsyncFd<StdTcpStream>,
    cmsg: Vec<u8>,
}

/// One read: the bytes it returned and, when the kernel stamped them, how
/// long before the read the last of them arrived.
#[derive(Debug, Clone, Copy)]
pub(super) struct Read {
    pub(super) n: usize,
    pub(super) age: Option<Duration>,
}

impl StampedStream {
    /// Takes over a connected client socket and asks the kernel for
    /// software receive timestamps (reads still work where it will not).
    pub(super) fn new(stream: TcpStream) -> io::Result<Self> {
        let std = stream.into_std()?;
        let flags = TimestampingFlag::SOF_TIMESTAMPING_SOFTWARE
            | TimestampingFlag::SOF_TIMESTAMPING_RX_SOFTWARE;
        // Without stamps the arrival figure is simply absent.
        let _ = setsockopt(&std, sockopt::Timestamping, &flags);
        // `AsyncFd::register` is the non-deprecated spelling but is `unsafe`
        // (forbidden in this workspace) because the caller must keep the fd
        // open while registered; here the AsyncFd owns the socket, so that
        // holds by construction. tokio's own `TcpStream` would need a second
        // read per event to learn the socket is drained.
        #[allow(deprecated)]
        let fd = AsyncFd::new(std)?;
        Ok(Self {
            fd,
            cmsg: nix::cmsg_space!(Timestamps),
        })
    }

    /// Reads what is there, waiting until something is. `n == 0` is the
    /// end of the stream.
    pub(super) async fn read(&mut self, buf: &mut [u8]) -> io::Result<Read> {
        loop {
            let mut guard = self.fd.readable().await?;
            let cmsg = &mut self.cmsg;
            match guard.try_io(|s| recv_stamped(s.get_ref(), buf, cmsg)) {
                Ok(Ok(read)) => {
                    // A short read drained the socket: wait for the next
                    // edge instead of paying a read that would block (what
                    // tokio's own TcpStream does).
                    if read.n > 0 && read.n < buf.len() {
                        guard.clear_ready();
                    }
                    return Ok(read);
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

fn recv_stamped(s: &StdTcpStream, buf: &mut [u8], cmsg: &mut [u8]) -> io::Result<Read> {
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(s.as_raw_fd(), &mut iov, Some(cmsg), MsgFlags::empty())
        .map_err(io::Error::from)?;
    let n = msg.bytes;
    let mut stamp = None;
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            if let ControlMessageOwned::ScmTimestampsns(ts) = c {
                let at = Duration::from(ts.system);
                if !at.is_zero() {
                    stamp = Some(at);
                }
            }
        }
    }
    // The stamp is wall-clock time; only its distance to now is used, so a
    // wall-clock step during the run cannot skew the figures.
    let age = stamp.and_then(|at| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        Some(now.saturating_sub(at))
    });
    Ok(Read { n, age })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn reads_carry_the_arrival_age() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let mut stamped = StampedStream::new(client).unwrap();
        let mut buf = [0u8; 64];

        // The kernel turns receive stamping on for the whole system from a
        // work queue after the first socket asks for it: segments that
        // arrive before that are not stamped. Wait until they are.
        let t0 = std::time::Instant::now();
        loop {
            server.write_all(b"w").await.unwrap();
            if stamped.read(&mut buf).await.unwrap().age.is_some() {
                break;
            }
            assert!(t0.elapsed() < Duration::from_secs(5), "never stamped");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        server.write_all(b"hello").await.unwrap();
        // Let the bytes sit in the socket: the age must cover the wait.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let read = stamped.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..read.n], b"hello");
        let age = read.age.expect("the kernel stamps loopback segments");
        assert!(age >= Duration::from_millis(25), "age {age:?}");
        assert!(age < Duration::from_secs(5), "age {age:?}");

        // A read right after arrival is young.
        server.write_all(b"again").await.unwrap();
        let read = stamped.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..read.n], b"again");
        assert!(read.age.is_some_and(|a| a < Duration::from_millis(25)));

        drop(server);
        assert_eq!(stamped.read(&mut buf).await.unwrap().n, 0);
    }
}
