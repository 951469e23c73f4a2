//! The telnet server: every connection to the template's port (23) gets its
//! own `embox>` shell task whose terminal ([`tty::Stream`]) is the
//! connection, so sessions and the console never mix their input or
//! output. The server asks the client for character mode (it will echo and
//! suppress go-ahead), strips the client's option negotiation from the
//! input, and turns `\n` into `\r\n` on output.

use super::{kick, wait_until, with_stack, Stack};
use crate::hal::sync::IrqMutex;
use crate::shell::Shell;
use crate::{klog, sched, tty, vfs};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::wire::IpEndpoint;

/// Sessions at once; more connections are told so and closed.
const MAX_SESSIONS: usize = 16;
const BUFFER: usize = 8 * 1024;

const IAC: u8 = 255;
const WILL: u8 = 251;
const DONT: u8 = 254;
const SB: u8 = 250;
const SE: u8 = 240;
const OPT_ECHO: u8 = 1;
const OPT_SGA: u8 = 3;

/// The listening socket and its port.
static LISTENER: IrqMutex<Option<(SocketHandle, u16)>> = IrqMutex::new(None);
static SESSIONS: AtomicUsize = AtomicUsize::new(0);

fn listening_socket(stack: &mut Stack, port: u16) -> Option<SocketHandle> {
    let mut socket = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; BUFFER]), tcp::SocketBuffer::new(vec![0; BUFFER]));
    socket.set_nagle_enabled(false);
    socket.listen(port).ok()?;
    Some(stack.sockets.add(socket))
}

/// Starts listening on `port`.
pub(super) fn start(port: u16) {
    let ok = with_stack(|s| listening_socket(s, port)).flatten();
    match ok {
        Some(h) => {
            *LISTENER.lock() = Some((h, port));
            klog!("telnet: listening on port {port}");
        }
        None => klog!("telnet: cannot listen on port {port}"),
    }
}

/// Called by the net thread after each poll: a connection that completed
/// its handshake gets a session; a fresh socket listens in its place.
pub(super) fn accept_sessions() {
    let accepted = with_stack(|s| {
        let (handle, port) = (*LISTENER.lock())?;
        let socket = s.sockets.get_mut::<tcp::Socket>(handle);
        match socket.state() {
            tcp::State::Listen | tcp::State::SynReceived => return None,
            // The handshake failed (reset): listen again on the same socket.
            tcp::State::Closed => {
                let _ = socket.listen(port);
                return None;
            }
            _ => {}
        }
        let peer = socket.remote_endpoint();
        let next = listening_socket(s, port)?;
        *LISTENER.lock() = Some((next, port));
        Some((handle, peer))
    })
    .flatten();
    if let Some((handle, peer)) = accepted {
        if SESSIONS.fetch_add(1, Ordering::AcqRel) >= MAX_SESSIONS {
            SESSIONS.fetch_sub(1, Ordering::AcqRel);
            let stream = TelnetStream::new(handle);
            tty::Stream::write(&stream, b"embox: too many telnet sessions; try again later\n");
            stream.close();
            klog!("telnet: refused {} (already {MAX_SESSIONS} sessions)", Peer(peer));
            return;
        }
        sched::spawn("telnetd", move || session(handle, peer));
    }
}

struct Peer(Option<IpEndpoint>);

impl core::fmt::Display for Peer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(e) => write!(f, "{e}"),
            None => f.write_str("?"),
        }
    }
}

/// A session task: the connection becomes its terminal, then a shell runs
/// until `exit`/`logout` or the client goes away.
fn session(handle: SocketHandle, peer: Option<IpEndpoint>) {
    let stream = Arc::new(TelnetStream::new(handle));
    stream.send_raw(&[IAC, WILL, OPT_ECHO, IAC, WILL, OPT_SGA]);
    tty::attach(sched::current_pid(), stream.clone());
    klog!("telnet: session from {} (pid {})", Peer(peer), sched::current_pid());
    let motd = vfs::with(|fs| fs.lookup("/etc/motd").and_then(|id| fs.read_all(id, 64 * 1024)));
    if let Ok(text) = motd {
        tty::write(&text);
    }
    Shell::new().run_session();
    tty::write(b"logout\n");
    drop(tty::detach(sched::current_pid()));
    stream.close();
    SESSIONS.fetch_sub(1, Ordering::AcqRel);
    klog!("telnet: session from {} ended", Peer(peer));
}

/// Telnet input decoding state.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decode {
    Data,
    /// After a CR: a following LF or NUL is part of the same line end.
    AfterCr,
    Iac,
    /// After IAC WILL/WONT/DO/DONT: the option byte.
    Option,
    Sub,
    SubIac,
}

struct StreamState {
    input: VecDeque<u8>,
    decode: Decode,
    at_line_start: bool,
    closed: bool,
}

/// One telnet connection as a terminal.
pub struct TelnetStream {
    handle: SocketHandle,
    state: IrqMutex<StreamState>,
}

impl TelnetStream {
    fn new(handle: SocketHandle) -> Self {
        let state = StreamState { input: VecDeque::new(), decode: Decode::Data, at_line_start: true, closed: false };
        Self { handle, state: IrqMutex::new(state) }
    }

    /// Decodes received bytes into terminal input.
    fn decode(state: &mut StreamState, bytes: &[u8]) {
        for &b in bytes {
            state.decode = match (state.decode, b) {
                (Decode::Data | Decode::AfterCr, IAC) => Decode::Iac,
                (Decode::AfterCr, b'\n' | 0) => Decode::Data,
                (Decode::Data | Decode::AfterCr, b'\r') => {
                    state.input.push_back(b'\r');
                    Decode::AfterCr
                }
                (Decode::Data | Decode::AfterCr, b) => {
                    state.input.push_back(b);
                    Decode::Data
                }
                (Decode::Iac, IAC) => {
                    state.input.push_back(IAC);
                    Decode::Data
                }
                (Decode::Iac, WILL..=DONT) => Decode::Option,
                (Decode::Iac, SB) => Decode::Sub,
                (Decode::Iac, _) | (Decode::Option, _) => Decode::Data,
                (Decode::Sub, IAC) => Decode::SubIac,
                (Decode::Sub, _) => Decode::Sub,
                (Decode::SubIac, SE) => Decode::Data,
                (Decode::SubIac, _) => Decode::Sub,
            };
        }
    }

    /// Sends bytes as they are, waiting for room; drops them once the
    /// connection is closed.
    fn send_raw(&self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let sent = with_stack(|s| {
                let socket = s.sockets.get_mut::<tcp::Socket>(self.handle);
                if !socket.may_send() {
                    return None;
                }
                socket.send_slice(bytes).ok()
            })
            .flatten();
            let Some(n) = sent else {
                self.state.lock().closed = true;
                return;
            };
            bytes = &bytes[n..];
            kick();
            if !bytes.is_empty() {
                wait_until(|| {
                    with_stack(|s| {
                        let socket = s.sockets.get::<tcp::Socket>(self.handle);
                        socket.can_send() || !socket.may_send()
                    })
                    .unwrap_or(true)
                });
            }
        }
    }

    /// Closes the connection (gracefully); the socket is removed once closed.
    fn close(&self) {
        let _ = with_stack(|s| {
            s.sockets.get_mut::<tcp::Socket>(self.handle).close();
            s.orphan(false, self.handle);
        });
        self.state.lock().closed = true;
        kick();
    }
}

impl tty::Stream for TelnetStream {
    fn read_byte(&self) -> Option<u8> {
        let mut chunk = [0u8; 256];
        loop {
            {
                let mut state = self.state.lock();
                if let Some(b) = state.input.pop_front() {
                    return Some(b);
                }
                if state.closed {
                    return None;
                }
            }
            let got = with_stack(|s| {
                let socket = s.sockets.get_mut::<tcp::Socket>(self.handle);
                if socket.can_recv() {
                    socket.recv_slice(&mut chunk).ok()
                } else if socket.may_recv() {
                    Some(0)
                } else {
                    None
                }
            })
            .flatten();
            match got {
                None => return None,
                Some(0) => wait_until(|| {
                    with_stack(|s| {
                        let socket = s.sockets.get::<tcp::Socket>(self.handle);
                        socket.can_recv() || !socket.may_recv()
                    })
                    .unwrap_or(true)
                }),
                Some(n) => {
                    Self::decode(&mut self.state.lock(), &chunk[..n]);
                    kick(); // the window opened
                }
            }
        }
    }

    fn write(&self, bytes: &[u8]) {
        if self.state.lock().closed {
            return;
        }
        let mut out = Vec::with_capacity(bytes.len() + 8);
        for &b in bytes {
            match b {
                b'\n' => out.extend_from_slice(b"\r\n"),
                IAC => out.extend_from_slice(&[IAC, IAC]),
                b => out.push(b),
            }
        }
        if let Some(&last) = bytes.last() {
            self.state.lock().at_line_start = last == b'\n';
        }
        self.send_raw(&out);
    }

    fn at_line_start(&self) -> bool {
        self.state.lock().at_line_start
    }
}

