//! The byte side of a link: the transport (TCP, or TLS over TCP after STARTTLS or on the direct
//! TLS port) and the per-connection limits, enforced where bytes become XML.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

/// Read buffer per connection while it has input to parse. It is allocated when the socket is
/// read and given back when the socket has nothing more, so an idle session holds none.
const READ_BUFFER: usize = 4096;

/// What [`Framing::linger`] reads into, allocated once per lingering close and reused for
/// every read: larger than [`READ_BUFFER`], since a peer still sending may have megabytes in
/// flight and each read is a system call.
const LINGER_READ: usize = 16 * 1024;

/// How much whitespace may come before a stream header (see `Framing::expect_header`): a
/// line break or two in practice; past this the peer is sending whitespace for its own sake.
pub const MAX_WHITESPACE_BEFORE_HEADER: usize = 4096;

/// A connection's transport.
pub enum Transport {
    Plain(TcpStream),
    Tls(Box<SslStream<TcpStream>>),
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
    /// More than [`MAX_WHITESPACE_BEFORE_HEADER`] bytes of whitespace before a stream header.
    WhitespaceBeforeHeader,
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
    /// Queues `xml`; when nothing else is waiting, its buffer is taken over without a copy.
    pub fn append(&self, xml: String) {
        let mut raw = self.0.lock().expect("raw output lock");
        if raw.is_empty() {
            *raw = xml.into_bytes();
        } else {
            raw.extend_from_slice(xml.as_bytes());
        }
    }
}

/// The buffered transport the XML stream reads from. Once the stanza builder has tripped a
/// limit, every further read fails with [`LimitExceeded`].
pub struct Framing {
    transport: Transport,
    /// Bytes read and not yet consumed are `rbuf[pos..filled]`. `rbuf` is empty (no allocation)
    /// whenever the socket had nothing to read: most sessions are idle most of the time.
    rbuf: Vec<u8>,
    pos: usize,
    filled: usize,
    raw: RawOut,
    splice: Splice,
    /// Set while the next input starts a new XML document (a stream header): whitespace is
    /// skipped until something else comes, counted in `skipped`.
    header_next: bool,
    skipped: usize,
    /// Our side of the transport has been shut down (after a TLS close_notify, or a FIN on
    /// plain TCP): see [`Framing::linger`].
    shut_down: bool,
}

/// Bytes to swap, in the next write that contains them, for others: for an element a
/// serialiser we do not control writes where we write our own (the caller names the exact
/// bytes). A handle, so that it can be armed while an XML stream borrows the [`Framing`].
#[derive(Clone, Default)]
pub struct Splice(Arc<Mutex<Option<Swap>>>);

/// The exact bytes to look for, and what goes out instead.
type Swap = (&'static [u8], Vec<u8>);

impl Splice {
    pub fn replace_next(&self, pattern: &'static [u8], with: Vec<u8>) {
        *self.0.lock().expect("splice lock") = Some((pattern, with));
    }
}

impl Framing {
    pub fn new(t: Transport) -> Self {
        Framing {
            transport: t,
            rbuf: Vec::new(),
            pos: 0,
            filled: 0,
            raw: RawOut::default(),
            splice: Splice::default(),
            header_next: false,
            skipped: 0,
            shut_down: false,
        }
    }

    /// Says that the next input starts a new XML document: the stream header, first or after a
    /// restart (STARTTLS, SASL). Whitespace before it is skipped here, since the XML parser
    /// would refuse it before a declaration or as the text of a document that has no root yet.
    /// RFC 6120 §11.7 allows whitespace between first-level elements; it forbids it during
    /// STARTTLS and SASL, yet clients such as go-sendxmpp end `</auth>` with a newline, which
    /// then precedes the restart's header, and Prosody and ejabberd accept that.
    /// At most [`MAX_WHITESPACE_BEFORE_HEADER`] bytes: past that, reads fail with
    /// [`Limit::WhitespaceBeforeHeader`].
    pub fn expect_header(&mut self) {
        self.header_next = true;
        self.skipped = 0;
    }

    /// Consumes buffered whitespace while a header is expected; `Ok(true)` if the buffer held
    /// nothing else (more must be read).
    fn skip_whitespace_before_header(&mut self) -> Result<bool, Limit> {
        if !self.header_next {
            return Ok(false);
        }
        let buffered = self.buffered();
        let ws = buffered
            .iter()
            .position(|b| !is_xml_whitespace(*b))
            .unwrap_or(buffered.len());
        let all = ws == buffered.len();
        self.consume_buffered(ws);
        self.skipped += ws;
        if self.skipped > MAX_WHITESPACE_BEFORE_HEADER {
            let _ = LIMITS.try_with(|l| l.tripped.set(Some(Limit::WhitespaceBeforeHeader)));
            return Err(Limit::WhitespaceBeforeHeader);
        }
        if !all {
            self.header_next = false;
        }
        Ok(all)
    }

    /// Bytes read from the transport and not consumed yet.
    fn buffered(&self) -> &[u8] {
        &self.rbuf[self.pos..self.filled]
    }

    /// Forgets buffered input and gives the buffer back.
    fn drop_buffer(&mut self) {
        self.rbuf = Vec::new();
        self.pos = 0;
        self.filled = 0;
    }

    pub fn splice(&self) -> Splice {
        self.splice.clone()
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
            match Pin::new(&mut self.transport).poll_write(cx, &raw[written..]) {
                Poll::Ready(Ok(0)) => break Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                Poll::Pending => break Poll::Pending,
            }
        };
        raw.drain(..written);
        if raw.is_empty() && raw.capacity() > 0 {
            // A roster result should not pin its buffer for the rest of the session.
            *raw = Vec::new();
        }
        result
    }

    /// Whether the transport is TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.transport, Transport::Tls(_))
    }

    /// What SASL can bind to on this transport (RFC 5056): nothing unless it is TLS.
    pub fn channel_bindings(&self) -> super::channel_binding::ChannelBindings {
        match &self.transport {
            Transport::Tls(tls) => super::channel_binding::ChannelBindings::from_ssl(tls.ssl()),
            _ => Default::default(),
        }
    }

    /// Takes the transport out for a TLS upgrade. Bytes the client sent after `<starttls/>`
    /// and before the handshake are discarded, never read as if they had been encrypted
    /// (the STARTTLS command injection class of bugs).
    pub fn take_transport(&mut self) -> Transport {
        let t = std::mem::replace(&mut self.transport, Transport::Upgrading);
        let leftover = self.buffered();
        if leftover.iter().any(|b| !is_xml_whitespace(*b)) {
            let n = leftover.len();
            log::warn!("discarding {n} plaintext bytes sent before the TLS handshake");
        } else if !leftover.is_empty() {
            // A line break after <starttls/> (go-sendxmpp): harmless, and dropped all the same.
            log::debug!("discarding whitespace sent before the TLS handshake");
        }
        self.drop_buffer();
        t
    }

    pub fn set_transport(&mut self, t: Transport) {
        self.transport = t;
        self.drop_buffer();
    }

    /// Lingering close (RFC 6120 §4.4: the peer should be able to read our stream error and
    /// closing tag before the TCP connection ends). Closing a socket with unread input makes
    /// the kernel reset the connection, and the reset can take with it what the peer has not
    /// read yet (a client still writing an oversized stanza has not: its write fails, or its
    /// stack drops what it had received). So our side is shut down first, with what we wrote
    /// out (the TLS close_notify, then a FIN under it), and what the peer still sends is read
    /// and discarded until it closes too, or `within` is over.
    ///
    /// Bounded by time only, never by a byte count: a fast client can have more in flight
    /// than any small count (its stanza, its socket buffers, ours). What a peer can make us
    /// read is bounded by `within` and its sending rate; none of it is kept (one buffer,
    /// reused), and under TLS it is read from the TCP socket, not decrypted. `within` zero:
    /// no lingering, the socket is closed at once.
    pub async fn linger(&mut self, within: std::time::Duration) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        if within.is_zero() {
            return;
        }
        let deadline = tokio::time::Instant::now() + within;
        if !self.shut_down {
            // Most ends have shut down already (with the stream error or closing tag); the
            // others (a timeout, a peer gone) say nothing more, but close in order too.
            let close = async {
                let _ = self.flush().await;
                let _ = self.shutdown().await;
            };
            let _ = tokio::time::timeout_at(deadline, close).await;
        }
        self.drop_buffer();
        let mut sink = vec![0u8; LINGER_READ];
        let discard = async {
            let input: &mut (dyn AsyncRead + Unpin + Send) = match &mut self.transport {
                Transport::Plain(tcp) => tcp,
                Transport::Tls(tls) => {
                    // The close_notify is out; now the FIN under it. What follows is
                    // discarded, so it need not be decrypted.
                    let tcp = tls.get_mut();
                    let _ = tcp.shutdown().await;
                    tcp
                }
                Transport::Pipe(pipe) => pipe,
                Transport::Upgrading => return,
            };
            // Each read waits for input: the loop ends at the peer's end of stream or on an
            // error (a reset), and never spins.
            while let Ok(n) = input.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout_at(deadline, discard).await;
    }

    fn consume_buffered(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.filled);
    }

    fn tripped() -> Option<Limit> {
        LIMITS.try_with(|l| l.tripped.get()).ok().flatten()
    }
}

/// XML's `S` production: space, tab, carriage return, line feed.
fn is_xml_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn limit_error(l: Limit) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, LimitExceeded(l))
}

impl AsyncRead for Framing {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(l) = Framing::tripped() {
            return Poll::Ready(Err(limit_error(l)));
        }
        let this = self.get_mut();
        if this.buffered().is_empty() && !this.header_next {
            return Pin::new(&mut this.transport).poll_read(cx, buf);
        }
        let buffered = std::task::ready!(Pin::new(&mut *this).poll_fill_buf(cx))?;
        let n = buffered.len().min(buf.remaining());
        buf.put_slice(&buffered[..n]);
        this.consume_buffered(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncBufRead for Framing {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        if let Some(l) = Framing::tripped() {
            return Poll::Ready(Err(limit_error(l)));
        }
        let this = self.get_mut();
        loop {
            if this.pos >= this.filled {
                if this.rbuf.is_empty() {
                    this.rbuf = vec![0; READ_BUFFER];
                }
                let mut rb = ReadBuf::new(&mut this.rbuf);
                match Pin::new(&mut this.transport).poll_read(cx, &mut rb) {
                    Poll::Ready(Ok(())) => {
                        this.filled = rb.filled().len();
                        this.pos = 0;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        // Nothing to read: an idle connection keeps no buffer.
                        this.drop_buffer();
                        return Poll::Pending;
                    }
                }
                if this.filled == 0 {
                    // End of input.
                    break;
                }
            }
            match this.skip_whitespace_before_header() {
                Ok(true) => continue,
                Ok(false) => break,
                Err(l) => return Poll::Ready(Err(limit_error(l))),
            }
        }
        Poll::Ready(Ok(this.buffered()))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().consume_buffered(amt)
    }
}

impl AsyncWrite for Framing {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_drain_raw(cx))?;
        let spliced = {
            let mut armed = self.splice.0.lock().expect("splice lock");
            let at = armed
                .as_ref()
                .and_then(|(pattern, _)| buf.windows(pattern.len()).position(|w| w == *pattern));
            at.and_then(|at| {
                let (pattern, with) = armed.take()?;
                Some([&buf[..at], &with, &buf[at + pattern.len()..]].concat())
            })
        };
        if let Some(rest) = spliced {
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
        Pin::new(&mut self.transport).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_drain_raw(cx))?;
        Pin::new(&mut self.transport).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let done = std::task::ready!(Pin::new(&mut self.transport).poll_shutdown(cx));
        // Only once: a second TLS shutdown would wait for the peer's close_notify.
        self.shut_down = true;
        Poll::Ready(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn input_is_read_in_order_and_an_idle_link_keeps_no_buffer() {
        let (mut peer, ours) = tokio::io::duplex(64);
        let mut f = Framing::new(Transport::Pipe(ours));
        peer.write_all(b"<message>hello").await.unwrap();
        assert_eq!(f.fill_buf().await.unwrap(), b"<message>hello");
        Pin::new(&mut f).consume(9);
        // What was not consumed is still there, without another read.
        assert_eq!(f.fill_buf().await.unwrap(), b"hello");
        Pin::new(&mut f).consume(5);
        // Nothing more to read: the read is pending and the buffer is given back.
        let pending = poll_fn(|cx| Poll::Ready(Pin::new(&mut f).poll_fill_buf(cx).is_pending()));
        assert!(pending.await);
        assert_eq!(f.rbuf.capacity(), 0);
        peer.write_all(b"</message>").await.unwrap();
        assert_eq!(f.fill_buf().await.unwrap(), b"</message>");
        drop(peer);
        Pin::new(&mut f).consume(10);
        assert!(f.fill_buf().await.unwrap().is_empty(), "end of stream");
    }

    #[tokio::test]
    async fn whitespace_is_skipped_only_before_an_expected_header_and_only_so_much() {
        use tokio::io::AsyncReadExt;
        let (mut peer, ours) = tokio::io::duplex(8192);
        let mut f = Framing::new(Transport::Pipe(ours));
        f.expect_header();
        peer.write_all(b" \r\n").await.unwrap();
        // Only whitespace so far: nothing to hand over yet.
        let pending = poll_fn(|cx| Poll::Ready(Pin::new(&mut f).poll_fill_buf(cx).is_pending()));
        assert!(pending.await);
        peer.write_all(b"\t<stream> <a/>").await.unwrap();
        assert_eq!(f.fill_buf().await.unwrap(), b"<stream> <a/>");
        Pin::new(&mut f).consume(13);
        // Between elements, whitespace is the stream's (keepalives), not ours to drop.
        peer.write_all(b" \n").await.unwrap();
        assert_eq!(f.fill_buf().await.unwrap(), b" \n");
        Pin::new(&mut f).consume(2);
        // A restart: skipped again, through plain reads too...
        f.expect_header();
        peer.write_all(b"\n\n<stream>").await.unwrap();
        let mut got = [0u8; 16];
        let n = f.read(&mut got).await.unwrap();
        assert_eq!(&got[..n], b"<stream>");
        // ...up to the bound.
        f.expect_header();
        peer.write_all(&[b' '; MAX_WHITESPACE_BEFORE_HEADER + 1])
            .await
            .unwrap();
        let e = f.fill_buf().await.unwrap_err();
        let limit = e.get_ref().and_then(|e| e.downcast_ref::<LimitExceeded>());
        assert_eq!(limit.map(|l| l.0), Some(Limit::WhitespaceBeforeHeader));
    }

    #[tokio::test]
    async fn a_spliced_write_carries_our_bytes_in_place_of_the_pattern_once() {
        use tokio::io::AsyncReadExt;
        let (mut peer, ours) = tokio::io::duplex(256);
        let mut f = Framing::new(Transport::Pipe(ours));
        f.splice()
            .replace_next(b"<empty/>", b"<full>ours</full>".to_vec());
        f.write_all(b"<a/><empty/><b/>").await.unwrap();
        f.write_all(b"<empty/>").await.unwrap();
        f.flush().await.unwrap();
        drop(f);
        let mut got = String::new();
        peer.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "<a/><full>ours</full><b/><empty/>");
    }

    #[tokio::test]
    async fn a_lingering_close_reads_what_the_peer_sends_until_it_closes_however_much() {
        // More than any small byte count: the peer's write completes (it is never cut off),
        // and the linger ends when the peer closes, long before its time is up.
        let (mut peer, ours) = tokio::io::duplex(64 * 1024);
        let mut f = Framing::new(Transport::Pipe(ours));
        let writer = tokio::spawn(async move {
            peer.write_all(&vec![b'x'; 8 << 20]).await?;
            peer.shutdown().await
        });
        let lingered = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            f.linger(std::time::Duration::from_secs(60)),
        )
        .await;
        assert!(lingered.is_ok(), "the linger ends when the peer closes");
        // Closed, as the link task closes it after lingering: nothing was left unread.
        drop(f);
        writer.await.unwrap().expect("the peer wrote all of it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lingering_close_flushes_and_shuts_down_first_and_ends_in_time() {
        use tokio::io::AsyncReadExt;
        let (mut peer, ours) = tokio::io::duplex(1024);
        let mut f = Framing::new(Transport::Pipe(ours));
        // Output still waiting to be written (as the link's raw stanzas may be).
        f.raw_out()
            .append("<stream:error/></stream:stream>".to_string());
        let started = tokio::time::Instant::now();
        let linger = f.linger(std::time::Duration::from_secs(5));
        let peer_reads = async {
            // The peer reads our output to its end while we linger, and never closes.
            let mut got = String::new();
            peer.read_to_string(&mut got).await.unwrap();
            assert_eq!(got, "<stream:error/></stream:stream>");
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = linger => {}
            _ = peer_reads => unreachable!(),
        }
        assert_eq!(started.elapsed(), std::time::Duration::from_secs(5));
    }

    #[tokio::test]
    async fn bytes_buffered_before_a_transport_swap_are_discarded() {
        // STARTTLS: plaintext sent after <starttls/> must never be read as if it came over
        // the new transport.
        let (mut peer, ours) = tokio::io::duplex(64);
        let mut f = Framing::new(Transport::Pipe(ours));
        peer.write_all(b"<starttls/><iq>injected</iq>")
            .await
            .unwrap();
        assert!(f.fill_buf().await.unwrap().starts_with(b"<starttls/>"));
        Pin::new(&mut f).consume(11);
        let _old = f.take_transport();
        let (mut peer2, ours2) = tokio::io::duplex(64);
        f.set_transport(Transport::Pipe(ours2));
        peer2.write_all(b"<stream>").await.unwrap();
        assert_eq!(f.fill_buf().await.unwrap(), b"<stream>");
    }
}
