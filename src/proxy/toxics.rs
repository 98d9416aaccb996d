//! L4 toxics applied to the bytes of a connection a sidecar's inbound listener accepted:
//! Toxiproxy's place in front of a service, inside our sidecar. The stream asks the effects
//! board what is in force on every read and write, so a toxic that starts or ends reaches
//! connections already open, as Toxiproxy's do; with nothing in force it is a plain pass-
//! through.
//!
//! Reading is the caller's bytes to the service (`upstream`), writing is the service's answer
//! (`downstream`). Timers run on simulated time, and the per-connection draws (toxicity,
//! slice sizes) come from a seed the sidecar derives per connection.
//!
//! turmoil has no TCP RST: a reset or a close drops the connection, and the peer sees it end
//! mid-exchange, which is what an Envoy upstream reports as a connection termination.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::engine::seed;
use crate::model::fault::Effects;
use crate::model::fault::toxic::{self, Direction, Draws, Verdict};

/// Read chunk from the connection when bytes are held for pacing.
const CHUNK: usize = 8192;

/// Reports the faults a connection met for the first time (to count them as injected).
pub type OnInjected = Rc<dyn Fn(usize)>;

/// A connection with the toxics in force at its task applied.
pub struct ToxicStream<S> {
    inner: S,
    board: Rc<RefCell<Effects>>,
    host: Rc<str>,
    rng: seed::Rng,
    draws: Draws,
    on_injected: OnInjected,
    /// The reset timer, armed when a reset toxic first meets the connection.
    reset_timer: Option<Pin<Box<Sleep>>>,
    /// Ended by a toxic: reads see the end, writes fail.
    closed: bool,
    reset: bool,
    read: Half,
    write: Half,
}

/// One direction's state.
#[derive(Default)]
struct Half {
    /// Bytes the pacing has cleared to pass.
    credit: usize,
    /// The pacing wait for the next `armed` bytes.
    timer: Option<Pin<Box<Sleep>>>,
    armed: usize,
    /// Bytes passed, for `limit-data`.
    passed: u64,
    /// Read side: bytes taken from the connection, not yet handed on.
    held: Vec<u8>,
    held_at: usize,
    /// Read side: the peer closed.
    eof: bool,
    /// The stall's close timer.
    stall: Option<Pin<Box<Sleep>>>,
    /// The slow close's wait.
    closing: Option<Pin<Box<Sleep>>>,
}

impl Half {
    fn held(&self) -> usize {
        self.held.len() - self.held_at
    }

    /// How many of `want` bytes may pass now under `d`'s pacing (bandwidth, slicer).
    fn pace(
        &mut self,
        cx: &mut Context<'_>,
        want: usize,
        d: &Direction,
        rng: &mut seed::Rng,
    ) -> Poll<usize> {
        if !d.paces() {
            self.credit = 0;
            self.timer = None;
            return Poll::Ready(want);
        }
        if self.credit > 0 {
            return Poll::Ready(self.credit.min(want));
        }
        if self.timer.is_none() {
            let chunk = match d.slicer {
                Some((average, variation, _)) => {
                    toxic::slice_size(average, variation, rng).min(want)
                }
                None => want,
            };
            let wait = d.slicer.map_or(Duration::ZERO, |(_, _, delay)| delay)
                + d.bandwidth
                    .map_or(Duration::ZERO, |rate| toxic::transfer_time(chunk, rate));
            if wait.is_zero() {
                self.credit = chunk;
                return Poll::Ready(chunk);
            }
            self.armed = chunk;
            self.timer = Some(Box::pin(tokio::time::sleep(wait)));
        }
        if let Some(t) = &mut self.timer {
            ready!(t.as_mut().poll(cx));
        }
        self.timer = None;
        self.credit = self.armed;
        Poll::Ready(self.credit.min(want))
    }

    /// Under a stall: arms its close timer; whether the connection must now close.
    fn stalled(&mut self, cx: &mut Context<'_>, close_after: Option<Duration>) -> bool {
        let Some(after) = close_after else {
            return false;
        };
        let timer = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
        timer.as_mut().poll(cx).is_ready()
    }

    /// Waits out a slow close, if one applies.
    fn slow_close(&mut self, cx: &mut Context<'_>, delay: Option<Duration>) -> Poll<()> {
        let Some(delay) = delay else {
            return Poll::Ready(());
        };
        let timer = self
            .closing
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
        timer.as_mut().poll(cx)
    }
}

impl<S> std::fmt::Debug for ToxicStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToxicStream")
            .field("host", &self.host)
            .field("closed", &self.closed)
            .field("reset", &self.reset)
            .finish_non_exhaustive()
    }
}

impl<S> ToxicStream<S> {
    /// Wraps a connection accepted at `host`; `seed` feeds its draws.
    pub fn new(
        inner: S,
        board: Rc<RefCell<Effects>>,
        host: Rc<str>,
        seed: u64,
        on_injected: OnInjected,
    ) -> ToxicStream<S> {
        ToxicStream {
            inner,
            board,
            host,
            rng: seed::stream(seed, "toxics"),
            draws: Draws::default(),
            on_injected,
            reset_timer: None,
            closed: false,
            reset: false,
            read: Half::default(),
            write: Half::default(),
        }
    }

    /// What the toxics in force do to this connection now. The common case, nothing in
    /// force, costs a map lookup.
    fn verdict(&mut self) -> Verdict {
        let board = self.board.borrow();
        let toxics = board.toxics(&self.host);
        if toxics.is_empty() {
            return Verdict::default();
        }
        let (verdict, fresh) = self.draws.verdict(toxics, &mut self.rng);
        drop(board);
        for fault in fresh {
            (self.on_injected)(fault);
        }
        verdict
    }

    /// The connection-wide toxics: a reset, and the stalls' close timers. `Err` once the
    /// connection is reset.
    fn connection(&mut self, cx: &mut Context<'_>, v: &Verdict) -> io::Result<()> {
        if let Some(after) = v.reset {
            let timer = self
                .reset_timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(after)));
            if timer.as_mut().poll(cx).is_ready() {
                self.reset = true;
            }
        }
        if self.reset {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        match v.upstream.stall {
            Some(after) => self.closed |= self.read.stalled(cx, after),
            None => self.read.stall = None,
        }
        match v.downstream.stall {
            Some(after) => self.closed |= self.write.stalled(cx, after),
            None => self.write.stall = None,
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ToxicStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let v = this.verdict();
        this.connection(cx, &v)?;
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        let d = v.upstream;
        if d.is_clear() && this.read.held() == 0 {
            // Nothing in force: straight through.
            this.read.credit = 0;
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        loop {
            if this.read.held() > 0 {
                let want = this.read.held().min(buf.remaining());
                let n = ready!(this.read.pace(cx, want, &d, &mut this.rng));
                let from = this.read.held_at;
                buf.put_slice(&this.read.held[from..from + n]);
                this.read.held_at += n;
                this.read.credit = this.read.credit.saturating_sub(n);
                return Poll::Ready(Ok(()));
            }
            if this.read.eof {
                ready!(this.read.slow_close(cx, d.slow_close));
                return Poll::Ready(Ok(()));
            }
            if d.limit.is_some_and(|l| this.read.passed >= l) {
                this.closed = true;
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; CHUNK];
            let mut rb = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let data = rb.filled();
            if data.is_empty() {
                this.read.eof = true;
                continue;
            }
            if d.stall.is_some() {
                // Dropped, as Toxiproxy's timeout toxic drops them.
                continue;
            }
            let take = d.limit.map_or(data.len(), |l| {
                data.len().min((l - this.read.passed) as usize)
            });
            this.read.passed += take as u64;
            this.read.held.clear();
            this.read.held.extend_from_slice(&data[..take]);
            this.read.held_at = 0;
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ToxicStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let v = this.verdict();
        this.connection(cx, &v)?;
        if this.closed {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let d = v.downstream;
        if d.stall.is_some() {
            // Accepted and dropped: the peer never sees them.
            return Poll::Ready(Ok(buf.len()));
        }
        let mut want = buf.len();
        if let Some(limit) = d.limit {
            if this.write.passed >= limit {
                this.closed = true;
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            want = want.min((limit - this.write.passed) as usize);
        }
        let n = ready!(this.write.pace(cx, want, &d, &mut this.rng));
        let k = ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..n]))?;
        this.write.credit = this.write.credit.saturating_sub(k);
        this.write.passed += k as u64;
        Poll::Ready(Ok(k))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.reset {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let v = this.verdict();
        this.connection(cx, &v)?;
        ready!(this.write.slow_close(cx, v.downstream.slow_close));
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
