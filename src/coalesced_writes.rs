//! A gRPC connection's socket, wrapped so that what HTTP/2 writes during one
//! turn of its connection task leaves in one `write`.
//!
//! h2 sends every DATA frame of 256 bytes or more on its own: it writes the
//! frame and flushes before it encodes the next. A status envelope is a few
//! KiB, so under load each response cost its own syscall and its own TCP
//! segment, while small ones (health checks) shared both. Here a flush is
//! acknowledged at once and owed to the next turn of the task, which is
//! woken for it; every frame that is ready in the meantime joins the same
//! write. The owed bytes go out on that next turn, before the task reads,
//! and always before shutdown.
//!
//! Only HTTP/2 connections are coalesced: h2's connection task reads on
//! every turn before it goes idle, which is what settles an owed flush. An
//! HTTP/1 connection (gRPC-Web) is passed through untouched.

use std::{
    io::{self, IoSlice},
    pin::Pin,
    task::{Context, Poll, ready},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::Connected;

/// The HTTP/2 connection preface, which every HTTP/2 client sends first.
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Bytes held before they are written whatever the turn: about what one
/// `write` to a local socket takes without blocking.
const HELD_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// Nothing read yet.
    Unknown,
    Http2,
    Other,
}

/// An IO stream whose writes, on an HTTP/2 connection, are gathered until
/// the connection task's next turn.
#[derive(Debug)]
pub struct CoalescedWrites<T> {
    inner: T,
    protocol: Protocol,
    held: Vec<u8>,
    /// How much of `held` is already written.
    sent: usize,
    /// A flush was acknowledged and the task woken to perform it.
    flush_owed: bool,
}

impl<T> CoalescedWrites<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            protocol: Protocol::Unknown,
            held: Vec::new(),
            sent: 0,
            flush_owed: false,
        }
    }

    fn coalescing(&self) -> bool {
        self.protocol == Protocol::Http2
    }

    fn sniff(&mut self, first: &[u8]) {
        let n = first.len().min(HTTP2_PREFACE.len());
        self.protocol = if first[..n] == HTTP2_PREFACE[..n] {
            Protocol::Http2
        } else {
            Protocol::Other
        };
    }
}

impl<T: AsyncWrite + Unpin> CoalescedWrites<T> {
    /// Writes out everything held.
    fn poll_send_held(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.held.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.held[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.held.clear();
        self.sent = 0;
        self.flush_owed = false;
        Poll::Ready(Ok(()))
    }

    /// Makes room for `len` more bytes; `false` when they are too many to
    /// hold at all and should go straight to the socket.
    fn poll_make_room(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<bool>> {
        if self.held.len() + len > HELD_LIMIT {
            ready!(self.poll_send_held(cx))?;
        }
        Poll::Ready(Ok(len <= HELD_LIMIT))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for CoalescedWrites<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.held.is_empty() {
            // A full socket leaves the rest held, and wakes us when it drains.
            if let Poll::Ready(Err(e)) = this.poll_send_held(cx) {
                return Poll::Ready(Err(e));
            }
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if this.protocol == Protocol::Unknown && buf.filled().len() > before {
            this.sniff(&buf.filled()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CoalescedWrites<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if !this.coalescing() || !ready!(this.poll_make_room(cx, buf.len()))? {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        this.held.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let len = bufs.iter().map(|b| b.len()).sum();
        if !this.coalescing() || !ready!(this.poll_make_room(cx, len))? {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        }
        for b in bufs {
            this.held.extend_from_slice(b);
        }
        Poll::Ready(Ok(len))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.held.is_empty() {
            return Pin::new(&mut this.inner).poll_flush(cx);
        }
        if !this.flush_owed {
            this.flush_owed = true;
            cx.waker().wake_by_ref();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.poll_send_held(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<T: Connected> Connected for CoalescedWrites<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        task::{Wake, Waker},
    };

    use super::*;

    /// A socket that records each write it is given and serves `incoming`
    /// to reads, at most `chunk` bytes a write.
    #[derive(Default)]
    struct Socket {
        incoming: Vec<u8>,
        writes: Vec<Vec<u8>>,
        chunk: Option<usize>,
        shut: bool,
    }

    impl AsyncRead for Socket {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self.incoming.len().min(buf.remaining());
            buf.put_slice(&self.incoming[..n]);
            self.incoming.drain(..n);
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Socket {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = self.chunk.map_or(buf.len(), |c| c.min(buf.len()));
            self.writes.push(buf[..n].to_vec());
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.shut = true;
            Poll::Ready(Ok(()))
        }
    }

    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    struct Harness {
        io: CoalescedWrites<Socket>,
        wakes: Arc<Wakes>,
        waker: Waker,
    }

    impl Harness {
        /// A connection whose client opened with `first`, already read.
        fn opened_with(first: &[u8]) -> Self {
            let wakes = Arc::new(Wakes::default());
            let mut harness = Self {
                io: CoalescedWrites::new(Socket {
                    incoming: first.to_vec(),
                    ..Socket::default()
                }),
                waker: Waker::from(wakes.clone()),
                wakes,
            };
            assert_eq!(harness.read(), first);
            harness
        }

        /// Polls `op` once, as the connection task would.
        fn poll<R>(
            &mut self,
            op: impl FnOnce(Pin<&mut CoalescedWrites<Socket>>, &mut Context<'_>) -> Poll<R>,
        ) -> Poll<R> {
            op(
                Pin::new(&mut self.io),
                &mut Context::from_waker(&self.waker),
            )
        }

        fn read(&mut self) -> Vec<u8> {
            let mut bytes = [0; 64];
            let mut buf = ReadBuf::new(&mut bytes);
            let poll = self.poll(|io, cx| io.poll_read(cx, &mut buf));
            assert!(matches!(poll, Poll::Ready(Ok(()))));
            buf.filled().to_vec()
        }

        fn write(&mut self, bytes: &[u8]) {
            let poll = self.poll(|io, cx| io.poll_write(cx, bytes));
            assert!(matches!(poll, Poll::Ready(Ok(n)) if n == bytes.len()));
        }

        fn flush(&mut self) {
            let poll = self.poll(|io, cx| io.poll_flush(cx));
            assert!(matches!(poll, Poll::Ready(Ok(()))));
        }

        fn shutdown(&mut self) {
            let poll = self.poll(|io, cx| io.poll_shutdown(cx));
            assert!(matches!(poll, Poll::Ready(Ok(()))));
        }

        fn wakes(&self) -> usize {
            self.wakes.0.load(Ordering::SeqCst)
        }

        fn sent(&self) -> &[Vec<u8>] {
            &self.io.inner.writes
        }
    }

    #[test]
    fn http2_writes_of_one_turn_leave_together_on_the_next() {
        let mut conn = Harness::opened_with(HTTP2_PREFACE);
        conn.write(b"headers");
        conn.flush();
        let poll = conn.poll(|io, cx| {
            io.poll_write_vectored(cx, &[IoSlice::new(b"data"), IoSlice::new(b"trailers")])
        });
        assert!(matches!(poll, Poll::Ready(Ok(12))));
        conn.flush();
        assert!(conn.sent().is_empty(), "nothing is written during the turn");
        assert_eq!(conn.wakes(), 1, "the task is woken once to pay the flush");

        // The next turn reads first, and the owed flush goes out before it.
        conn.read();
        assert_eq!(conn.sent(), [b"headersdatatrailers".to_vec()]);
        conn.flush();
        assert_eq!(conn.wakes(), 1, "nothing is owed any more");
    }

    #[test]
    fn http1_connections_pass_through() {
        let mut conn =
            Harness::opened_with(b"POST /patchbay.v1.StatusService/GetProjectStatus HTTP/1.1\r\n");
        conn.write(b"HTTP/1.1 200 OK\r\n");
        assert_eq!(conn.sent(), [b"HTTP/1.1 200 OK\r\n".to_vec()]);
        conn.flush();
        assert_eq!(conn.wakes(), 0);
    }

    #[test]
    fn a_preface_split_across_reads_is_still_http2() {
        let mut conn = Harness::opened_with(&HTTP2_PREFACE[..3]);
        conn.write(b"settings");
        assert!(conn.sent().is_empty());
    }

    #[test]
    fn shutdown_sends_what_is_held_even_through_short_writes() {
        let mut conn = Harness::opened_with(HTTP2_PREFACE);
        conn.io.inner.chunk = Some(3);
        conn.write(b"goaway-frame");
        conn.flush();
        conn.shutdown();
        assert_eq!(conn.sent().concat(), b"goaway-frame");
        assert_eq!(conn.sent().len(), 4);
        assert!(conn.io.inner.shut);
    }

    #[test]
    fn more_than_the_limit_is_written_at_once() {
        let mut conn = Harness::opened_with(HTTP2_PREFACE);
        let half = vec![1; HELD_LIMIT / 2 + 1];
        conn.write(&half);
        assert!(conn.sent().is_empty());
        conn.write(&half);
        assert_eq!(
            conn.sent(),
            std::slice::from_ref(&half),
            "the held bytes made room"
        );
        let huge = vec![2; HELD_LIMIT + 1];
        conn.write(&huge);
        assert_eq!(conn.sent(), [half.clone(), half, huge], "too big to hold");
        assert_eq!(conn.wakes(), 0);
    }
}
