//! The kernel's own TCP/IP: smoltcp on the NIC the hal found.
//!
//! One [`Stack`] holds the Ethernet interface and the loopback interface
//! (127.0.0.1/8), each with its own socket set (smoltcp dispatches a socket
//! through whichever interface polls it first, so a set belongs to one
//! interface), behind an `IrqMutex`. The `net`
//! kernel thread polls it whenever the NIC interrupts, a task queued work
//! ([`kick`]), or smoltcp's next timer is due; after each poll every task
//! waiting on a socket re-checks its condition ([`crate::wait`]).
//!
//! Shell commands: `ifconfig`, `ping`, `netstat` ([`commands`]); the telnet
//! server gives further `embox>` sessions ([`telnet`]).

mod commands;
mod device;
pub mod socket;
pub mod unix;
pub mod telnet;

pub use crate::wait::{wait_interruptible, wait_until, wait_until_or};
use crate::wait::ticks_for;

use crate::hal::{cpu, netdev::NetDevice, pci, sync::{IrqMutex, SplitU64}, time, trap, virtio_net};
use crate::sched::{self, Pid};
use crate::klog;
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::sync::atomic::{AtomicBool, Ordering};
use device::{Lo, Nic};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::socket::dhcpv4;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Cidr};

/// Network settings from the build template (`[net]`).
#[derive(Debug, Clone, Copy)]
pub struct NetConfig {
    /// Static IPv4 address with prefix (`10.0.2.16/24`); ignored with `dhcp`.
    pub address: &'static str,
    /// Default gateway (`10.0.2.10`); empty for none.
    pub gateway: &'static str,
    /// Ask a DHCP server instead of using `address`/`gateway`.
    pub dhcp: bool,
    /// TCP port of the telnet server; 0 turns it off.
    pub telnet_port: u16,
    /// With LKL: the kernel's own stack's address when LKL's eth0 takes
    /// `address` (the NIC is then shared, see `lkl::netdev`); empty: the
    /// NIC and `address` stay the kernel's.
    pub kernel_address: &'static str,
}

/// The network stack: interfaces, their devices and the sockets.
pub struct Stack {
    pub iface: Interface,
    pub nic: Nic,
    pub lo: Interface,
    pub lo_dev: Lo,
    /// Sockets on eth0.
    pub sockets: SocketSet<'static>,
    /// Sockets on lo (talking to 127.0.0.0/8).
    pub lo_sockets: SocketSet<'static>,
    pub gateway: Option<Ipv4Addr>,
    dhcp: Option<SocketHandle>,
    /// Linux programs' sockets.
    table: socket::Table,
    /// Sockets whose owner is gone; removed once closed (TCP) or flushed (UDP).
    orphans: Vec<Orphan>,
}

/// A socket its owner closed: (on lo?, handle, what is left to do).
type Orphan = (bool, SocketHandle, Leftover);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Leftover {
    /// A TCP connection closing gracefully.
    Closing,
    /// A TCP connection aborted: its RST goes out with the next poll.
    Reset,
    /// A UDP socket's queued datagrams.
    Flush,
}

static STACK: IrqMutex<Option<Stack>> = IrqMutex::new(None);
/// Most polls of one interface in a round while smoltcp has more to send.
const BURST_POLLS: usize = 32;
/// Set by the NIC interrupt and by [`kick`]: the net thread must poll.
static PENDING: AtomicBool = AtomicBool::new(false);
/// Rounds of the net thread (each polls the interfaces and wakes waiters).
static ROUNDS: SplitU64 = SplitU64::new(0);
/// The net thread, while it sleeps.
static POLLER: IrqMutex<Option<Pid>> = IrqMutex::new(None);

/// smoltcp's clock: time since boot.
pub fn now() -> Instant {
    Instant::from_micros(time::since_boot().as_micros() as i64)
}

/// Runs `f` on the stack, if there is one.
pub fn with_stack<R>(f: impl FnOnce(&mut Stack) -> R) -> Option<R> {
    STACK.lock().as_mut().map(f)
}

/// Rounds of the net thread so far (`ifconfig`).
pub fn poll_rounds() -> u64 {
    ROUNDS.load()
}

/// Asks the net thread to poll soon (after a socket was given work).
pub fn kick() {
    PENDING.store(true, Ordering::Release);
    if let Some(pid) = POLLER.lock().take() {
        sched::wake(pid);
    }
}

/// Interrupt context: the NIC raised its line.
fn on_irq() {
    if virtio_net::acknowledge_interrupt() {
        kick();
    }
}

/// Starts the stack and the net thread, with eth0 on the NIC if there is
/// one (logs why not when there is none): loopback (127.0.0.1) works
/// without a NIC, as on Linux.
pub fn init(config: &NetConfig) {
    commands::register();
    let functions = pci::scan();
    // LKL's card on the shared NIC (`lkl::netdev`) takes plain frames: no
    // offloads when LKL gets one.
    let offload = cfg!(not(feature = "lkl")) || config.kernel_address.is_empty();
    let (nic, address) = match virtio_net::VirtioNet::probe(&functions, offload) {
        Ok(dev) => {
            klog!(
                "net: eth0 {} {} irq {} link {}",
                dev.driver(),
                EthernetAddress(dev.mac()),
                dev.irq(),
                if dev.link_up() { "up" } else { "down" }
            );
            let dev: Box<dyn NetDevice> = Box::new(dev);
            #[cfg(feature = "lkl")]
            let (dev, address) = crate::lkl::netdev::attach(dev, config);
            #[cfg(not(feature = "lkl"))]
            let address = config.address;
            (Nic::new(dev), Some(address))
        }
        Err(virtio_net::ProbeError::NotFound) => {
            klog!("net: no NIC ({} PCI functions, none virtio-net); only loopback (embctl run --net adds one)", functions.len());
            (Nic::absent(), None)
        }
        Err(e) => {
            klog!("net: {e}; only loopback");
            (Nic::absent(), None)
        }
    };
    let mut nic = nic;
    let mut iface_config = IfaceConfig::new(HardwareAddress::Ethernet(EthernetAddress(nic.dev.mac())));
    iface_config.random_seed = cpu::rdtsc();
    let mut iface = Interface::new(iface_config, &mut nic, now());
    let mut lo_dev = Lo::new();
    let mut lo = Interface::new(IfaceConfig::new(HardwareAddress::Ip), &mut lo_dev, now());
    lo.update_ip_addrs(|a| {
        let _ = a.push(IpCidr::new(IpAddress::v4(127, 0, 0, 1), 8));
    });
    let mut sockets = SocketSet::new(vec![]);
    let mut gateway = None;
    let mut dhcp = None;
    match address {
        None => {}
        Some(_) if config.dhcp => {
            dhcp = Some(sockets.add(dhcpv4::Socket::new()));
            klog!("net: eth0 asks DHCP for an address");
        }
        Some(address) => {
            match parse_cidr(address) {
                Some(cidr) => {
                    iface.update_ip_addrs(|a| {
                        let _ = a.push(IpCidr::Ipv4(cidr));
                    });
                    klog!("net: eth0 {cidr} (static, from the template)");
                }
                None => klog!("net: template address {address:?} is not ADDR/PREFIX; eth0 has no address"),
            }
            if !config.gateway.is_empty() {
                match config.gateway.parse::<Ipv4Addr>() {
                    Ok(gw) => {
                        let _ = iface.routes_mut().add_default_ipv4_route(gw);
                        gateway = Some(gw);
                    }
                    Err(_) => klog!("net: template gateway {:?} is not an IPv4 address; no default route", config.gateway),
                }
            }
        }
    }
    let irq = nic.present().then(|| nic.dev.irq());
    *STACK.lock() = Some(Stack { iface, nic, lo, lo_dev, sockets, lo_sockets: SocketSet::new(vec![]), gateway, dhcp, table: socket::Table::default(), orphans: Vec::new() });
    if let Some(irq) = irq {
        trap::set_irq_handler(irq, on_irq);
    }
    sched::spawn("net", poll_loop);
    if config.telnet_port != 0 && irq.is_some() {
        telnet::start(config.telnet_port);
    }
}

fn parse_cidr(text: &str) -> Option<Ipv4Cidr> {
    let (addr, prefix) = text.split_once('/')?;
    let addr: Ipv4Addr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
    Some(Ipv4Cidr::new(addr, prefix))
}

impl Stack {
    /// False when eth0 has no NIC under it (only loopback works).
    pub fn has_nic(&self) -> bool {
        self.nic.present()
    }

    /// Whether eth0 may reach `addr` (not on 127.0.0.0/8): an address of
    /// its own and `addr` on its subnet or a gateway. Linux refuses sends
    /// without a route (ENETUNREACH) rather than dropping them.
    pub fn routes_to(&self, addr: Ipv4Addr) -> bool {
        self.iface.ip_addrs().iter().any(|c| match c {
            IpCidr::Ipv4(c) => self.gateway.is_some() || c.contains_addr(&addr),
        })
    }

    /// The socket set for traffic with `addr`: lo for 127.0.0.0/8.
    pub fn sockets_for(&mut self, addr: Ipv4Addr) -> &mut SocketSet<'static> {
        match addr.is_loopback() {
            true => &mut self.lo_sockets,
            false => &mut self.sockets,
        }
    }

    /// One round: the NIC, loopback (twice: what it sends to itself is
    /// received in the second pass), DHCP, orphaned sockets. Returns when the
    /// next poll is due.
    fn poll(&mut self) -> Option<smoltcp::time::Duration> {
        let t = now();
        // smoltcp sends one segment per socket and poll: keep polling while
        // it has more to send right now (a burst), rather than waking the
        // writer between every two segments.
        // The device hears of the burst's frames once, at its end (a VM
        // exit per notification), or when the ring fills.
        self.nic.dev.hold_kicks(true);
        for _ in 0..BURST_POLLS {
            self.iface.poll(t, &mut self.nic, &mut self.sockets);
            if self.iface.poll_delay(t, &self.sockets) != Some(smoltcp::time::Duration::ZERO) || !self.nic.dev.can_send() {
                break;
            }
        }
        // The last frames' buffers back to the device now, not at the next
        // round's first receive.
        self.nic.give_back_frames();
        self.nic.dev.hold_kicks(false);
        for _ in 0..BURST_POLLS {
            self.lo.poll(t, &mut self.lo_dev, &mut self.lo_sockets);
            if self.lo.poll_delay(t, &self.lo_sockets) != Some(smoltcp::time::Duration::ZERO) {
                break;
            }
        }
        self.lo.poll(t, &mut self.lo_dev, &mut self.lo_sockets);
        self.poll_dhcp();
        self.reap_orphans();
        let a = self.iface.poll_delay(t, &self.sockets);
        let b = self.lo.poll_delay(t, &self.lo_sockets);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn poll_dhcp(&mut self) {
        let Some(handle) = self.dhcp else { return };
        let event = self.sockets.get_mut::<dhcpv4::Socket>(handle).poll();
        match event {
            None => {}
            Some(dhcpv4::Event::Configured(config)) => {
                self.iface.update_ip_addrs(|a| {
                    a.clear();
                    let _ = a.push(IpCidr::Ipv4(config.address));
                });
                self.iface.routes_mut().remove_default_ipv4_route();
                self.gateway = config.router;
                if let Some(router) = config.router {
                    let _ = self.iface.routes_mut().add_default_ipv4_route(router);
                }
                klog!("net: DHCP gave eth0 {} (gateway {:?})", config.address, config.router);
            }
            Some(dhcpv4::Event::Deconfigured) => {
                self.iface.update_ip_addrs(|a| a.clear());
                self.iface.routes_mut().remove_default_ipv4_route();
                self.gateway = None;
                klog!("net: DHCP lease lost; eth0 has no address");
            }
        }
    }

    /// Drops a TCP socket its owner no longer uses once it has closed.
    pub fn orphan(&mut self, on_lo: bool, handle: SocketHandle) {
        self.orphans.push((on_lo, handle, Leftover::Closing));
    }

    /// Drops a TCP socket its owner aborted (`abort()`: RST) once the RST is out.
    pub fn orphan_reset(&mut self, on_lo: bool, handle: SocketHandle) {
        self.orphans.push((on_lo, handle, Leftover::Reset));
    }

    /// Drops a UDP socket its owner closed once its queued datagrams are sent.
    pub fn orphan_udp(&mut self, on_lo: bool, handle: SocketHandle) {
        self.orphans.push((on_lo, handle, Leftover::Flush));
    }

    /// After a poll: removes finished orphans. Data arriving for a closed
    /// connection resets it, as on Linux (nobody will read it; the sender
    /// learns with ECONNRESET/EPIPE).
    fn reap_orphans(&mut self) {
        use smoltcp::socket::{tcp, udp};
        let (eth, lo) = (&mut self.sockets, &mut self.lo_sockets);
        self.orphans.retain_mut(|(on_lo, h, left)| {
            let sockets = if *on_lo { &mut *lo } else { &mut *eth };
            let done = match *left {
                Leftover::Flush => sockets.get::<udp::Socket>(*h).send_queue() == 0,
                Leftover::Reset => true,
                Leftover::Closing => {
                    let sock = sockets.get_mut::<tcp::Socket>(*h);
                    if sock.recv_queue() > 0 && sock.is_open() {
                        sock.abort();
                        *left = Leftover::Reset;
                        false
                    } else {
                        matches!(sock.state(), tcp::State::Closed | tcp::State::TimeWait)
                    }
                }
            };
            if done {
                sockets.remove(*h);
            }
            !done
        });
    }
}

/// The net thread: poll, wake socket waiters, sleep until the NIC
/// interrupts, a task kicks, or smoltcp's next timer.
fn poll_loop() {
    loop {
        PENDING.store(false, Ordering::Release);
        ROUNDS.fetch_add(1);
        let delay = with_stack(|s| s.poll()).flatten();
        telnet::accept_sessions();
        crate::wait::notify();
        if delay.is_some_and(|d| d.total_micros() == 0) {
            sched::yield_now();
            continue;
        }
        let until = delay.map(|d| time::ticks() + ticks_for(core::time::Duration::from_micros(d.total_micros())));
        cpu::without_interrupts(|| {
            if !PENDING.load(Ordering::Acquire) {
                *POLLER.lock() = Some(sched::current_pid());
                sched::block(until);
                POLLER.lock().take();
            }
        });
    }
}
