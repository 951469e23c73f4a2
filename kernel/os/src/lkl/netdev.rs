//! LKL's network card: a virtio-net device (the hal's virtio-mmio model)
//! that LKL's own `virtio_net` driver drives, bridged to our NIC, so that
//! Linux programs' sockets (forwarded to LKL) reach the outside through
//! LKL's TCP/IP.
//!
//! Who owns the NIC: under a template whose `[net]` names a
//! `kernel_address` (x86/lkl-qemu), LKL's eth0 is the guest at `address`
//! (10.0.2.16: what Linux programs bind, connect from and serve on, what
//! `--publish` forwards to) and the kernel's own smoltcp stack keeps
//! `kernel_address` (10.0.2.17) for the telnet shell and the shell's `ping`.
//! Both sit on the one NIC through a small switch ([`attach`]): LKL's card
//! has its own MAC (the NIC's with the last byte changed), frames for it go
//! to LKL, frames for the NIC's MAC to smoltcp, broadcasts and multicasts
//! to both; both send straight to the NIC. Serving the shell from LKL
//! instead would make the kernel's own console depend on LKL being up.
//!
//! Paths: LKL transmits by writing QUEUE_NOTIFY (in its own thread): the
//! frame goes to the NIC at once. Received frames are queued by the smoltcp
//! thread (which polls the NIC on its interrupt) and the `lkl-net` task puts
//! them into LKL's receive queue and raises LKL's interrupt (which must not
//! be done from interrupt context, nor inside LKL's own MMIO access).

use crate::hal::lkl::{kernel, Arg};
use crate::hal::netdev::{NetDevice, NetStats, Received, TxOffload, MAX_FRAME};
use crate::hal::sync::{IrqMutex, SplitU64};
use crate::hal::virtio_mmio::{self, Backend, Transport};
use crate::klog;
use crate::net::NetConfig;
use crate::sync::WaitQueue;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::ffi::CString;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::sync::atomic::{AtomicBool, Ordering};

/// virtio device type of a network card.
const VIRTIO_ID_NET: u32 = 1;
/// Feature: the config space holds the card's MAC.
const F_MAC: u64 = 1 << 5;
const RX: u16 = 0;
const TX: u16 = 1;
/// Entries per queue.
const QUEUE_MAX: u16 = 256;
/// `struct virtio_net_hdr_v1`: no offloads; `num_buffers` = 1.
const NET_HEADER: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
/// Frames kept for LKL while it has no receive buffer (more are dropped).
const BACKLOG: usize = 256;

/// The NIC both stacks share.
struct Switch {
    nic: IrqMutex<Box<dyn NetDevice>>,
    nic_mac: [u8; 6],
    lkl_mac: [u8; 6],
    /// Frames for LKL, oldest first.
    to_lkl: IrqMutex<VecDeque<Vec<u8>>>,
    to_lkl_dropped: SplitU64,
    lkl_tx_dropped: SplitU64,
}

static SWITCH: IrqMutex<Option<&'static Switch>> = IrqMutex::new(None);

/// LKL's card, once announced.
struct LklNet {
    transport: &'static Transport,
    irq: u32,
    switch: &'static Switch,
    /// A used ring changed on the transmit side: interrupt LKL.
    irq_due: AtomicBool,
    /// Set once a queue error was logged.
    broken: AtomicBool,
}

static CARD: IrqMutex<Option<&'static LklNet>> = IrqMutex::new(None);
/// The `lkl-net` task waits here for frames, buffers or an interrupt to raise.
static WORK: WaitQueue = WaitQueue::new();

/// Where LKL's eth0 and the gateway are, from the template.
static LKL_ADDRESS: IrqMutex<Option<(Ipv4Addr, u8, Option<Ipv4Addr>)>> = IrqMutex::new(None);

/// Called by `net::init` with the NIC it found: when the template gives the
/// kernel's own stack a `kernel_address`, the NIC is shared with LKL (see
/// the module comment) and smoltcp gets a port of the switch and that
/// address. Otherwise the NIC stays smoltcp's alone and LKL gets no card.
pub fn attach(nic: Box<dyn NetDevice>, config: &NetConfig) -> (Box<dyn NetDevice>, &'static str) {
    if config.kernel_address.is_empty() {
        klog!("lkl: the template gives no [net] kernel_address: the NIC stays the kernel's; LKL has only its loopback");
        return (nic, config.address);
    }
    let Some(lkl) = parse_cidr(config.address) else {
        klog!("lkl: template address {:?} is not ADDR/PREFIX; LKL gets no network card", config.address);
        return (nic, config.address);
    };
    let gateway = config.gateway.parse::<Ipv4Addr>().ok();
    *LKL_ADDRESS.lock() = Some((lkl.0, lkl.1, gateway));
    let nic_mac = nic.mac();
    let mut lkl_mac = nic_mac;
    lkl_mac[5] ^= 1;
    let switch: &'static Switch = Box::leak(Box::new(Switch {
        nic: IrqMutex::new(nic),
        nic_mac,
        lkl_mac,
        to_lkl: IrqMutex::new(VecDeque::new()),
        to_lkl_dropped: SplitU64::new(0),
        lkl_tx_dropped: SplitU64::new(0),
    }));
    *SWITCH.lock() = Some(switch);
    (Box::new(KernelPort(switch)), config.kernel_address)
}

fn parse_cidr(text: &str) -> Option<(Ipv4Addr, u8)> {
    let (addr, prefix) = text.split_once('/')?;
    Some((addr.parse().ok()?, prefix.parse().ok().filter(|p| *p <= 32)?))
}

/// The kernel stack's side of the switch.
struct KernelPort(&'static Switch);

impl Switch {
    fn queue_for_lkl(&self, frame: &[u8]) {
        let mut q = self.to_lkl.lock();
        if q.len() >= BACKLOG {
            q.pop_front();
            self.to_lkl_dropped.fetch_add(1);
        }
        q.push_back(frame.to_vec());
    }
}

impl NetDevice for KernelPort {
    fn driver(&self) -> &'static str {
        self.0.nic.lock().driver()
    }
    fn mac(&self) -> [u8; 6] {
        self.0.nic_mac
    }
    fn link_up(&self) -> bool {
        self.0.nic.lock().link_up()
    }
    fn irq(&self) -> u8 {
        self.0.nic.lock().irq()
    }

    /// Drains the NIC until a frame for the kernel comes: LKL's frames are
    /// queued for it on the way, broadcasts go to both, other unicasts (the
    /// NIC is promiscuous) are dropped.
    fn receive(&mut self, buf: &mut [u8]) -> Option<Received> {
        let switch = self.0;
        let mut for_lkl = false;
        let result = loop {
            let Some(Received { len, .. }) = switch.nic.lock().receive(buf) else { break None };
            if len < 14 {
                continue;
            }
            let dst: [u8; 6] = buf[..6].try_into().unwrap_or_default();
            if dst == switch.nic_mac {
                break Some(Received { len, checksum_trusted: false });
            }
            if dst == switch.lkl_mac {
                switch.queue_for_lkl(&buf[..len]);
                for_lkl = true;
                continue;
            }
            if dst[0] & 1 != 0 {
                switch.queue_for_lkl(&buf[..len]);
                for_lkl = true;
                break Some(Received { len, checksum_trusted: false });
            }
        };
        if for_lkl {
            WORK.wake_all();
        }
        result
    }

    fn can_send(&mut self) -> bool {
        self.0.nic.lock().can_send()
    }
    fn send(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8]) -> TxOffload) -> bool {
        self.0.nic.lock().send(len, fill)
    }
    fn stats(&self) -> NetStats {
        self.0.nic.lock().stats()
    }
}

impl Backend for LklNet {
    fn notify(&self, queue: u16) {
        if queue == TX {
            self.transmit();
        }
        WORK.wake_all();
    }
}

impl LklNet {
    /// Sends every frame LKL queued (in LKL's thread, from its notify).
    fn transmit(&self) {
        loop {
            let chain = match self.transport.pop(TX) {
                Ok(Some(chain)) => chain,
                Ok(None) => break,
                Err(e) => {
                    self.fail("transmit", e);
                    break;
                }
            };
            let len = chain.readable_len().saturating_sub(NET_HEADER.len());
            let sent = (14..=MAX_FRAME).contains(&len)
                && self.switch.nic.lock().send(len, &mut |buf| {
                    chain.read(NET_HEADER.len(), &mut buf[..len]);
                    TxOffload::default()
                });
            if !sent {
                self.switch.lkl_tx_dropped.fetch_add(1);
            }
            self.transport.push_used(TX, chain, 0);
            self.irq_due.store(true, Ordering::Release);
        }
    }

    fn fail(&self, what: &str, e: virtio_mmio::RingError) {
        if !self.broken.swap(true, Ordering::Relaxed) {
            klog!("lkl: eth0 {what} queue stopped: {e}");
        }
    }

    /// True when the `lkl-net` task has something to do.
    fn has_work(&self) -> bool {
        self.irq_due.load(Ordering::Acquire) || (!self.switch.to_lkl.lock().is_empty() && self.transport.has_available(RX))
    }

    /// The `lkl-net` task: frames into LKL's receive buffers, then LKL's
    /// interrupt.
    fn run(&self) -> ! {
        loop {
            WORK.wait_until(|| self.has_work());
            let mut delivered = false;
            loop {
                let Some(frame) = self.switch.to_lkl.lock().pop_front() else { break };
                match self.transport.pop(RX) {
                    Ok(Some(chain)) => {
                        let written = chain.write(&[&NET_HEADER[..], &frame[..]]);
                        self.transport.push_used(RX, chain, written as u32);
                        delivered = true;
                    }
                    Ok(None) => {
                        self.switch.to_lkl.lock().push_front(frame);
                        break;
                    }
                    Err(e) => {
                        self.fail("receive", e);
                        break;
                    }
                }
            }
            if self.irq_due.swap(false, Ordering::AcqRel) || delivered {
                kernel::trigger_irq(self.irq);
            }
        }
    }
}

/// Before LKL boots: creates LKL's card on the shared NIC (if [`attach`]
/// shared it) and returns what LKL's command line needs to find it
/// (`virtio_mmio.device=SIZE@ADDR:IRQ`), or an empty string.
pub(super) fn command_line() -> CString {
    let Some(switch) = *SWITCH.lock() else { return CString::default() };
    let irq = match kernel::get_free_irq(c"virtio-net") {
        Ok(irq) => irq,
        Err(e) => {
            klog!("lkl: no free LKL interrupt for eth0 (error {e}); LKL gets no network card");
            return CString::default();
        }
    };
    let mut config = Vec::from(switch.lkl_mac);
    config.extend_from_slice(&[0, 0]); // status (not offered)
    let transport = Box::new(Transport::new(VIRTIO_ID_NET, F_MAC, 2, QUEUE_MAX, &config));
    let Some((base, transport)) = virtio_mmio::register(transport) else {
        klog!("lkl: no virtio-mmio window left; LKL gets no network card");
        return CString::default();
    };
    let card: &'static LklNet =
        Box::leak(Box::new(LklNet { transport, irq, switch, irq_due: AtomicBool::new(false), broken: AtomicBool::new(false) }));
    transport.set_backend(card);
    *CARD.lock() = Some(card);
    let task = crate::sched::spawn("lkl-net", move || card.run());
    crate::sched::with_task(task, |t| t.detached = true);
    let arg = alloc::format!("virtio_mmio.device={}@{:#x}:{}", virtio_mmio::WINDOW, base, irq);
    CString::new(arg).unwrap_or_default()
}

// LKL's (asm-generic) syscall numbers and the ioctls that configure eth0.
const NR_IOCTL: u32 = 29;
const NR_CLOSE: u32 = 57;
const NR_SOCKET: u32 = 198;
const AF_INET: isize = 2;
const SOCK_DGRAM: isize = 2;
const SIOCADDRT: isize = 0x890b;
const SIOCGIFFLAGS: isize = 0x8913;
const SIOCSIFFLAGS: isize = 0x8914;
const SIOCSIFADDR: isize = 0x8916;
const SIOCSIFNETMASK: isize = 0x891c;
const IFF_UP: u16 = 1;
const RTF_UP: u16 = 1;
const RTF_GATEWAY: u16 = 2;

/// `struct ifreq` (i386: 16 bytes of name, a 16-byte union).
fn ifreq(name: &str) -> [u8; 32] {
    let mut r = [0u8; 32];
    r[..name.len()].copy_from_slice(name.as_bytes());
    r
}

/// `struct sockaddr_in` for `addr`.
fn sockaddr_in(addr: Ipv4Addr) -> [u8; 16] {
    let mut s = [0u8; 16];
    s[..2].copy_from_slice(&(AF_INET as u16).to_le_bytes());
    s[4..8].copy_from_slice(&addr.octets());
    s
}

/// Called from the `lkl-boot` task, before Linux programs may use LKL.
fn ioctl(fd: isize, request: isize, arg: &mut [u8]) -> Result<(), isize> {
    match kernel::syscall(NR_IOCTL, &mut [Arg::Int(fd), Arg::Int(request), Arg::Out(arg)]) {
        r if r < 0 => Err(-r),
        _ => Ok(()),
    }
}

/// Sets `name` up (keeping its other flags).
fn set_up(fd: isize, name: &str) -> Result<(), isize> {
    let mut r = ifreq(name);
    ioctl(fd, SIOCGIFFLAGS, &mut r)?;
    let flags = u16::from_le_bytes([r[16], r[17]]) | IFF_UP;
    r[16..18].copy_from_slice(&flags.to_le_bytes());
    ioctl(fd, SIOCSIFFLAGS, &mut r)
}

/// After LKL booted (in the `lkl-boot` task, before programs may use
/// LKL): brings lo up, gives eth0 the template's address and brings it up,
/// adds the default route. Logs what it did or why not.
pub(super) fn configure() {
    let fd = kernel::syscall(NR_SOCKET, &mut [Arg::Int(AF_INET), Arg::Int(SOCK_DGRAM), Arg::Int(0)]);
    if fd < 0 {
        klog!("lkl: no inet socket to configure the network with (error {})", -fd);
        return;
    }
    if let Err(e) = set_up(fd, "lo") {
        klog!("lkl: bringing lo up failed: error {e}");
    }
    let card = *CARD.lock();
    let address = *LKL_ADDRESS.lock();
    if let (Some(card), Some((addr, prefix, gateway))) = (card, address) {
        match configure_eth0(fd, addr, prefix, gateway) {
            Ok(()) => klog!(
                "lkl: eth0 {addr}/{prefix} (MAC {}), gateway {}: Linux programs' sockets reach the network through LKL",
                mac_text(card.switch.lkl_mac),
                gateway.map_or(alloc::string::String::from("none"), |g| alloc::format!("{g}"))
            ),
            Err((what, e)) => klog!("lkl: configuring eth0 failed at {what}: error {e}"),
        }
    }
    kernel::syscall(NR_CLOSE, &mut [Arg::Int(fd)]);
}

fn configure_eth0(fd: isize, addr: Ipv4Addr, prefix: u8, gateway: Option<Ipv4Addr>) -> Result<(), (&'static str, isize)> {
    let mut r = ifreq("eth0");
    r[16..32].copy_from_slice(&sockaddr_in(addr));
    ioctl(fd, SIOCSIFADDR, &mut r).map_err(|e| ("SIOCSIFADDR", e))?;
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    let mut r = ifreq("eth0");
    r[16..32].copy_from_slice(&sockaddr_in(Ipv4Addr::from(mask)));
    ioctl(fd, SIOCSIFNETMASK, &mut r).map_err(|e| ("SIOCSIFNETMASK", e))?;
    set_up(fd, "eth0").map_err(|e| ("SIOCSIFFLAGS", e))?;
    if let Some(gw) = gateway {
        // struct rtentry (i386): dst at 4, gateway at 20, genmask at 36,
        // flags at 52; 84 bytes.
        let mut rt = [0u8; 84];
        rt[4..20].copy_from_slice(&sockaddr_in(Ipv4Addr::UNSPECIFIED));
        rt[20..36].copy_from_slice(&sockaddr_in(gw));
        rt[36..52].copy_from_slice(&sockaddr_in(Ipv4Addr::UNSPECIFIED));
        rt[52..54].copy_from_slice(&(RTF_UP | RTF_GATEWAY).to_le_bytes());
        ioctl(fd, SIOCADDRT, &mut rt).map_err(|e| ("SIOCADDRT", e))?;
    }
    Ok(())
}

fn mac_text(mac: [u8; 6]) -> alloc::string::String {
    alloc::format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
}

/// Counters for `ifconfig`-style reports: (frames dropped on the way to
/// LKL, LKL frames the NIC refused). None without LKL's card.
pub fn dropped() -> Option<(u64, u64)> {
    let switch = (*SWITCH.lock())?;
    Some((switch.to_lkl_dropped.load(), switch.lkl_tx_dropped.load()))
}
