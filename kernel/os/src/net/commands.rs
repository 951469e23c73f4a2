//! Shell commands of the network: `ifconfig`, `ping`, `netstat`.

use super::{kick, wait_until_or, with_stack};
use crate::hal::time;
use crate::shell::{self, Command, Shell, STATUS_USAGE};
use crate::{print, println};
use alloc::string::String;
use alloc::vec;
use core::net::Ipv4Addr;
use core::time::Duration;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::{icmp, tcp, Socket};
use smoltcp::wire::{IpAddress, Icmpv4Packet, Icmpv4Repr};

pub(super) fn register() {
    shell::register(Command { name: "ifconfig", usage: "ifconfig", summary: "show the network interfaces", redirects: false, run: ifconfig });
    shell::register(Command { name: "ping", usage: "ping HOST [-c COUNT] [-s SIZE]", summary: "send ICMP echo requests", redirects: false, run: ping });
    shell::register(Command { name: "netstat", usage: "netstat", summary: "list the sockets of the kernel's TCP/IP", redirects: false, run: netstat });
}

fn no_network() -> i32 {
    println!("embox: no network beyond 127.0.0.1 (no NIC was found at boot; `embctl run --net` gives the guest one)");
    1
}

fn ifconfig(_shell: &mut Shell, _args: &[String]) -> i32 {
    let shown = with_stack(|s| {
        if !s.has_nic() {
            println!("eth0      no NIC (`embctl run --net` gives the guest one)");
        } else {
            show_eth0(s);
        }
        println!("lo        loopback");
        for cidr in s.lo.ip_addrs() {
            println!("          inet {}", cidr);
        }
    });
    if shown.is_none() {
        return no_network();
    }
    0
}

fn show_eth0(s: &super::Stack) {
    let dev = &s.nic.dev;
    let st = dev.stats();
    println!(
        "eth0      {}  HWaddr {}  link {}",
        dev.driver(),
        smoltcp::wire::EthernetAddress(dev.mac()),
        if dev.link_up() { "up" } else { "down" }
    );
    for cidr in s.iface.ip_addrs() {
        println!("          inet {}", cidr);
    }
    if s.iface.ip_addrs().is_empty() {
        println!("          (no address{})", if s.dhcp.is_some() { ": waiting for DHCP" } else { "" });
    }
    if let Some(gw) = s.gateway {
        println!("          gateway {gw}");
    }
    let o = s.nic.offloads();
    let on = |b: bool| if b { "on" } else { "off" };
    println!(
        "          offloads: rx checksum {} tx checksum {} large receive {} segmentation {}",
        on(o.rx_checksum),
        on(o.tx_checksum),
        on(o.rx_large),
        on(o.tx_segmentation)
    );
    println!("          irq {}  interrupts {}  net thread rounds {}", dev.irq(), st.interrupts, super::poll_rounds());
    println!("          RX packets {} bytes {} dropped {} large {}", st.rx_frames, st.rx_bytes, st.rx_dropped, st.rx_large);
    println!(
        "          TX packets {} bytes {} ring full {} too long {} large {} kicks {}",
        st.tx_frames, st.tx_bytes, st.tx_busy, st.tx_dropped, st.tx_large, st.tx_kicks
    );
}

fn netstat(_shell: &mut Shell, _args: &[String]) -> i32 {
    let shown = with_stack(|s| {
        println!("Proto Local Address          Foreign Address        State");
        for (_, socket) in s.sockets.iter().chain(s.lo_sockets.iter()) {
            match socket {
                Socket::Tcp(t) => {
                    let local = t.local_endpoint().map(|e| alloc::format!("{e}"));
                    let local = local.unwrap_or_else(|| match t.listen_endpoint() {
                        e if e.port != 0 => match e.addr {
                            Some(a) => alloc::format!("{a}:{}", e.port),
                            None => alloc::format!("*:{}", e.port),
                        },
                        _ => String::from("*:*"),
                    });
                    let remote = t.remote_endpoint().map(|e| alloc::format!("{e}")).unwrap_or_else(|| String::from("*:*"));
                    println!("tcp   {:<22} {:<22} {}", local, remote, tcp_state(t.state()));
                }
                Socket::Udp(u) => {
                    let e = u.endpoint();
                    let local = match e.addr {
                        Some(a) => alloc::format!("{a}:{}", e.port),
                        None => alloc::format!("*:{}", e.port),
                    };
                    println!("udp   {:<22} {:<22}", local, "*:*");
                }
                Socket::Icmp(_) => println!("icmp  {:<22} {:<22}", "*", "*"),
                Socket::Dhcpv4(_) => println!("udp   {:<22} {:<22} (DHCP client)", "*:68", "*:67"),
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
    });
    if shown.is_none() {
        return no_network();
    }
    0
}

fn tcp_state(state: tcp::State) -> &'static str {
    match state {
        tcp::State::Closed => "CLOSED",
        tcp::State::Listen => "LISTEN",
        tcp::State::SynSent => "SYN_SENT",
        tcp::State::SynReceived => "SYN_RECV",
        tcp::State::Established => "ESTABLISHED",
        tcp::State::FinWait1 => "FIN_WAIT1",
        tcp::State::FinWait2 => "FIN_WAIT2",
        tcp::State::CloseWait => "CLOSE_WAIT",
        tcp::State::Closing => "CLOSING",
        tcp::State::LastAck => "LAST_ACK",
        tcp::State::TimeWait => "TIME_WAIT",
    }
}

/// `ping HOST [-c COUNT] [-s SIZE]`: one request a second, each waited for
/// up to a second; exit status 0 when any reply came.
fn ping(_shell: &mut Shell, args: &[String]) -> i32 {
    let mut count: u32 = 4;
    let mut size: usize = 56;
    let mut host = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-c" => match it.next().and_then(|v| v.parse().ok()).filter(|c| *c > 0) {
                Some(c) => count = c,
                None => return usage("-c needs a count above 0"),
            },
            "-s" => match it.next().and_then(|v| v.parse().ok()).filter(|s| *s <= 1400) {
                Some(s) => size = s,
                None => return usage("-s needs a size of at most 1400 bytes"),
            },
            a if host.is_none() && !a.starts_with('-') => host = Some(a),
            a => return usage(&alloc::format!("unexpected argument {a:?}")),
        }
    }
    let Some(host) = host else { return usage("which host?") };
    let target: Ipv4Addr = match host {
        "localhost" => Ipv4Addr::LOCALHOST,
        h => match h.parse() {
            Ok(a) => a,
            Err(_) => {
                println!("ping: {h}: not an IPv4 address (there is no DNS here)");
                return STATUS_USAGE;
            }
        },
    };
    let ident = (time::since_boot().as_micros() as u16) | 1;
    let socket = icmp::Socket::new(
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 4 * 1500]),
        icmp::PacketBuffer::new(vec![icmp::PacketMetadata::EMPTY; 4], vec![0; 4 * 1500]),
    );
    let Some(handle) = with_stack(|s| {
        if !target.is_loopback() && !s.has_nic() {
            return None;
        }
        let set = s.sockets_for(target);
        let h = set.add(socket);
        let _ = set.get_mut::<icmp::Socket>(h).bind(icmp::Endpoint::Ident(ident));
        Some(h)
    })
    .flatten() else {
        return no_network();
    };
    println!("PING {target} {size} data bytes");
    let payload = vec![0xa5u8; size];
    let caps = ChecksumCapabilities::default();
    let (mut received, mut rtts) = (0u32, (u64::MAX, 0u64, 0u64)); // min, max, sum (µs)
    let started = time::since_boot();
    for seq in 0..count {
        let sent_at = time::since_boot();
        let queued = with_stack(|s| {
            let sock = s.sockets_for(target).get_mut::<icmp::Socket>(handle);
            let repr = Icmpv4Repr::EchoRequest { ident, seq_no: seq as u16, data: &payload };
            match sock.send(repr.buffer_len(), IpAddress::Ipv4(target)) {
                Ok(buf) => {
                    repr.emit(&mut Icmpv4Packet::new_unchecked(buf), &caps);
                    true
                }
                Err(_) => false,
            }
        })
        .unwrap_or(false);
        if !queued {
            println!("ping: cannot queue the request (send buffer full)");
        }
        kick();
        let deadline = sent_at + Duration::from_secs(1);
        let mut reply = None;
        wait_until_or(
            || {
                reply = reply.or_else(|| take_reply(target, handle, ident, seq as u16, &caps));
                reply.is_some()
            },
            deadline,
        );
        match reply {
            Some(bytes) => {
                let rtt = (time::since_boot() - sent_at).as_micros() as u64;
                received += 1;
                rtts = (rtts.0.min(rtt), rtts.1.max(rtt), rtts.2 + rtt);
                println!("{bytes} bytes from {target}: icmp_seq={seq} time={}.{:03} ms", rtt / 1000, rtt % 1000);
            }
            None => println!("no reply from {target}: icmp_seq={seq} (timeout 1 s)"),
        }
        if seq + 1 < count {
            let next = deadline;
            while time::since_boot() < next {
                crate::sched::sleep(next - time::since_boot());
            }
        }
    }
    let _ = with_stack(|s| s.sockets_for(target).remove(handle));
    let elapsed = (time::since_boot() - started).as_millis();
    println!("--- {target} ping statistics ---");
    print!(
        "{count} packets transmitted, {received} received, {}% packet loss, time {elapsed} ms\n",
        (count - received) * 100 / count
    );
    if received > 0 {
        let avg = rtts.2 / u64::from(received);
        println!(
            "rtt min/avg/max = {}.{:03}/{}.{:03}/{}.{:03} ms",
            rtts.0 / 1000,
            rtts.0 % 1000,
            avg / 1000,
            avg % 1000,
            rtts.1 / 1000,
            rtts.1 % 1000
        );
        0
    } else {
        1
    }
}

/// The size of the echo reply for `seq`, if one is in the socket (other
/// packets are dropped).
fn take_reply(target: Ipv4Addr, handle: smoltcp::iface::SocketHandle, ident: u16, seq: u16, caps: &ChecksumCapabilities) -> Option<usize> {
    with_stack(|s| {
        let sock = s.sockets_for(target).get_mut::<icmp::Socket>(handle);
        while let Ok((data, _from)) = sock.recv() {
            let Ok(packet) = Icmpv4Packet::new_checked(data) else { continue };
            if let Ok(Icmpv4Repr::EchoReply { ident: i, seq_no, data: d }) = Icmpv4Repr::parse(&packet, caps) {
                if i == ident && seq_no == seq {
                    return Some(d.len() + 8);
                }
            }
        }
        None
    })
    .flatten()
}

fn usage(why: &str) -> i32 {
    println!("ping: {why}\nusage: ping HOST [-c COUNT] [-s SIZE]");
    STATUS_USAGE
}

