//! The byte side of a link: the transport (TCP, or TLS over TCP after STARTTLS or on the direct
//! TLS port) and the per-connection limits, enforced where bytes become XML.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_native_tls::TlsStream;

/// Read buffer per connection. Small on purpose: idle sessions should cost little memory.
const READ_BUFFER: usize = 4096;

/// How long, and how much, a closed link still reads from its peer (see [`Framing::linger`]).
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// A connection's transport.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// A WebSocket connection (RFC 7395), whose framing [`crate::websocket`] translates to and
    /// from a byte stream at the other end of this pipe.
    Pipe(tokio::io::DuplexStream),
    /// Only while STARTTLS swaps one for the other.
    Upgrading,
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Transport::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            Transport::Tls($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
            Transport::Pipe($s) => {
                let $s = Pin::new($s);
                $e
            }
            Transport::Upgrading => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "transport is being upgraded",
            ))),
        }
    };
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
}

/// Which limit a peer crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    StanzaSize,
    Depth,
}

/// The error the framing returns once a limit was crossed, so the read stops at once instead
/// of consuming the rest of an oversized element.
#[derive(Debug, thiserror::Error)]
#[error("peer exceeded the {0:?} limit")]
pub struct LimitExceeded(pub Limit);

/// Per-connection limits, set for the link task with [`LIMITS`]`.scope(..)` and read by the
/// stanza builder (which xmlstream constructs without any context of ours).
pub struct LinkLimits {
    pub max_stanza_bytes: usize,
    pub max_depth: usize,
    pub tripped: Cell<Option<Limit>>,
}

impl LinkLimits {
    pub fn new(max_stanza_bytes: usize, max_depth: usize) -> Self {
        LinkLimits {
            max_stanza_bytes,
            max_depth,
            tripped: Cell::new(None),
        }
    }
}

tokio::task_local! {
    pub static LIMITS: LinkLimits;
}

/// Pre-serialised stanzas (built by the actors, e.g. a whole roster) that go to the socket
/// without passing through the XML stream's serialiser. The link task flushes the XML stream
/// before it appends here, and [`Framing`] writes these bytes before anything the stream
/// writes next, so the order of stanzas is kept.
#[derive(Clone, Default)]
pub struct RawOut(Arc<Mutex<Vec<u8>>>);

impl RawOut {
    pub fn append(&self, xml: &str) {
        self.0
            .lock()
            .expect("raw output lock")
            .extend_from_slice(xml.as_bytes());
    }
}

/// The buffered transport the XML stream reads from. Once the stanza builder has tripped a
/// limit, every further read fails with [`LimitExceeded`].
pub struct Framing {
    inner: BufReader<Transport>,
    raw: RawOut,
    strip: Strip,
}

/// Bytes to leave out of the next write that contains them: for an element a serialiser we do
/// not control writes where it must not (the caller names the exact bytes). A handle, so that
/// it can be armed while an XML stream borrows the [`Framing`].
#[derive(Clone, Default)]
pub struct Strip(Arc<Mutex<Option<&'static [u8]>>>);

impl Strip {
    pub fn next_write(&self, pattern: &'static [u8]) {
        *self.0.lock().expect("strip lock") = Some(pattern);
    }
}

impl Framing {
    pub fn new(t: Transport) -> Self {
        Framing {
            inner: BufReader::with_capacity(READ_BUFFER, t),
            raw: RawOut::default(),
            strip: Strip::default(),
        }
    }

    pub fn strip(&self) -> Strip {
        self.strip.clone()
    }

    /// The handle through which pre-serialised stanzas reach this transport.
    pub fn raw_out(&self) -> RawOut {
        self.raw.clone()
    }

    /// Writes out what [`RawOut`] holds; ready once all of it is with the transport.
    fn poll_drain_raw(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut raw = self.raw.0.lock().expect("raw output lock");
        let mut written = 0;
        let result = loop {
            if written == raw.len() {
                break Poll::Ready(Ok(()));
            }
            match Pin::new(self.inner.get_mut()).poll_write(cx, &raw[written..]) {
                Poll::Ready(Ok(0)) => break Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                Poll::Pending => break Poll::Pending,
            }
        };
        raw.drain(..written);
        if raw.is_empty() && raw.capacity() > READ_BUFFER {
            // A large roster should not pin its buffer for the rest of the session.
            *raw = Vec::new();
        }
        result
    }

    /// Takes the transport out for a TLS upgrade. Bytes the client sent after `<starttls/>`
    /// and before the handshake are discarded, never read as if they had been encrypted
    /// (the STARTTLS command injection class of bugs).
    pub fn take_transport(&mut self) -> Transport {
        let t = std::mem::replace(self.inner.get_mut(), Transport::Upgrading);
        let leftover = self.inner.buffer().len();
        if leftover > 0 {
            log::warn!("discarding {leftover} plaintext bytes sent before the TLS handshake");
        }
        self.inner = BufReader::with_capacity(READ_BUFFER, Transport::Upgrading);
        t
    }

    pub fn set_transport(&mut self, t: Transport) {
        self.inner = BufReader::with_capacity(READ_BUFFER, t);
    }

    /// Lingering close: after our side of the stream is shut down, reads and discards what
    /// the peer still sends (at most 1 MiB, for at most 2 s) until it closes
    /// too. Closing a socket with unread input makes the kernel send a reset, which can reach
    /// the client before it has read our stream error.
    pub async fn linger(&mut self) {
        use tokio::io::AsyncReadExt;
        let discard = async {
            let mut sink = [0u8; READ_BUFFER];
            let mut total = self.inner.buffer().len();
            let transport = self.inner.get_mut();
            while total < LINGER_BYTES {
                match transport.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, discard).await;
    }

    fn tripped() -> Option<Limit> {
        LIMITS.try_with(|l| l.tripped.get()).ok().flatten()
    }
}

fn limit_error(l: Limit) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, LimitExceeded(l))
}

impl AsyncRead for Framing {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(l) = Framing::tripped() {
            return Poll::Ready(Err(limit_error(l)));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncBufRead for Framing {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        if let Some(l) = Framing::tripped() {
            return Poll::Ready(Err(limit_error(l)));
        }
        Pin::new(&mut self.get_mut().inner).poll_fill_buf(cx)
    }

    fn consume(mut self: Pin<&mut Self>, amt: usize) {
        Pin::new(&mut self.inner).consume(amt)
    }
}

impl AsyncWrite for Framing {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_drain_raw(cx))?;
        let stripped = {
            let mut armed = self.strip.0.lock().expect("strip lock");
            armed
                .and_then(|p| Some((p, buf.windows(p.len()).position(|w| w == p)?)))
                .map(|(pattern, at)| {
                    *armed = None;
                    [&buf[..at], &buf[at + pattern.len()..]].concat()
                })
        };
        if let Some(rest) = stripped {
            // The rest goes out through the raw buffer, ahead of anything written next; start
            // writing it now, what remains is written before the next write or on flush.
            self.raw
                .0
                .lock()
                .expect("raw output lock")
                .extend_from_slice(&rest);
            let _ = self.poll_drain_raw(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(self.inner.get_mut()).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_drain_raw(cx))?;
        Pin::new(self.inner.get_mut()).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.inner.get_mut()).poll_shutdown(cx)
    }
}
