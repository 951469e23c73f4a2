//! `virtiommiotest`: drives the hal's virtio-mmio device model the way
//! LKL's `virtio_mmio` driver does (registers through the same `access`
//! entry point LKL's `iomem_access` lands in, split rings laid out in
//! frames registered as guest memory), in every build. Also feeds it what a
//! broken driver could: rings and buffers outside guest memory, descriptor
//! loops; the queue stops and the kernel lives. One line per area; exits 0
//! only if every check passed.

use super::selftest::{ensure, run_areas, Check};
use crate::hal::sync::IrqMutex;
use crate::hal::virtio_mmio::{self, Backend, GuestBlock, RingError, Transport};
use crate::println;
use crate::shell::{Command, Shell};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

pub(super) fn register() {
    crate::shell::register(Command {
        name: "virtiommiotest",
        usage: "virtiommiotest",
        summary: "self-test of the virtio-mmio device model LKL's network card uses",
        redirects: false,
        run,
    });
}

/// Two pages of "guest memory": rings in the first, buffers in the second.
const PAGES: usize = 2;
const QUEUE: u16 = 8;
const MAC: [u8; 6] = [0x52, 0x54, 0, 0xab, 0xcd, 0xef];
// Ring offsets in the first page, per queue q: desc, avail, used.
fn ring(q: u16) -> (usize, usize, usize) {
    let base = 1024 * q as usize;
    (base, base + 256, base + 512)
}
const TX_FRAME: &[u8] = b"0123456789abcdefghij";

/// The test's device: a transmit notify sends each chain's payload here.
struct Loop {
    transport: IrqMutex<Option<&'static Transport>>,
    sent: IrqMutex<Vec<Vec<u8>>>,
    errors: IrqMutex<Vec<RingError>>,
}

static LOOP: Loop = Loop { transport: IrqMutex::new(None), sent: IrqMutex::new(Vec::new()), errors: IrqMutex::new(Vec::new()) };

impl Backend for Loop {
    fn notify(&self, queue: u16) {
        let Some(t) = *self.transport.lock() else { return };
        loop {
            match t.pop(queue) {
                Ok(Some(chain)) => {
                    let mut out = alloc::vec![0; chain.readable_len().saturating_sub(12)];
                    chain.read(12, &mut out);
                    self.sent.lock().push(out);
                    t.push_used(queue, chain, 0);
                }
                Ok(None) => break,
                Err(e) => {
                    self.errors.lock().push(e);
                    break;
                }
            }
        }
    }
}

/// The device's window and the guest memory, for one run.
struct Bench {
    base: usize,
    transport: &'static Transport,
    memory: GuestBlock,
    virt: usize,
}

impl Bench {
    fn reg(&self, offset: usize) -> Option<u32> {
        let mut b = [0u8; 4];
        virtio_mmio::access(self.base + offset, &mut b, false).then(|| u32::from_le_bytes(b))
    }
    fn set(&self, offset: usize, value: u32) -> bool {
        virtio_mmio::access(self.base + offset, &mut value.to_le_bytes(), true)
    }
    fn poke(&self, offset: usize, data: &[u8]) {
        self.memory.write(offset, data);
    }
    fn peek(&self, offset: usize, len: usize) -> Vec<u8> {
        let mut out = alloc::vec![0; len];
        self.memory.read(offset, &mut out);
        out
    }
    fn u16_at(&self, offset: usize) -> u16 {
        let b = self.peek(offset, 2);
        u16::from_le_bytes([b[0], b[1]])
    }
    /// Descriptor `i` of queue `q`.
    fn desc(&self, q: u16, i: u16, addr: usize, len: u32, flags: u16, next: u16) {
        let mut d = Vec::with_capacity(16);
        d.extend_from_slice(&(addr as u64).to_le_bytes());
        d.extend_from_slice(&len.to_le_bytes());
        d.extend_from_slice(&flags.to_le_bytes());
        d.extend_from_slice(&next.to_le_bytes());
        self.poke(ring(q).0 + 16 * i as usize, &d);
    }
    /// Makes chain `head` available as avail entry `idx` of queue `q`.
    fn offer(&self, q: u16, idx: u16, head: u16) {
        let avail = ring(q).1;
        self.poke(avail + 4 + 2 * (idx % QUEUE) as usize, &head.to_le_bytes());
        self.poke(avail + 2, &idx.wrapping_add(1).to_le_bytes());
    }
    fn setup_queue(&self, q: u16, desc: usize, avail: usize, used: usize) -> bool {
        self.set(0x030, q as u32)
            && self.set(0x038, QUEUE as u32)
            && [(0x080, desc), (0x090, avail), (0x0a0, used)].iter().all(|&(r, a)| self.set(r, a as u32) && self.set(r + 4, 0))
            && self.set(0x044, 1)
    }
}

fn run(_: &mut Shell, _: &[String]) -> i32 {
    let Some(memory) = GuestBlock::new(PAGES) else {
        println!("virtiommiotest: no memory");
        return 1;
    };
    let virt = memory.addr();
    let mut config = Vec::from(MAC);
    config.extend_from_slice(&[0, 0]);
    let Some((base, transport)) = virtio_mmio::register(Box::new(Transport::new(1, 1 << 5, 2, QUEUE, &config))) else {
        println!("virtiommiotest: no free virtio-mmio window");
        return 1;
    };
    transport.set_backend(&LOOP);
    *LOOP.transport.lock() = Some(transport);
    LOOP.sent.lock().clear();
    LOOP.errors.lock().clear();
    let bench = Bench { base, transport, memory, virt };
    let status = run_areas(
        "virtiommiotest",
        &[
            ("registers", &|| registers(&bench)),
            ("negotiation", &|| negotiation(&bench)),
            ("queues", &|| queues(&bench)),
            ("transmit", &|| transmit(&bench)),
            ("receive", &|| receive(&bench)),
            ("bad driver", &|| bad_driver(&bench)),
        ],
    );
    *LOOP.transport.lock() = None;
    virtio_mmio::unregister(base);
    drop(bench);
    status
}

fn registers(b: &Bench) -> Check {
    ensure(b.reg(0x000) == Some(0x7472_6976), || format!("magic {:?}", b.reg(0)))?;
    ensure(b.reg(0x004) == Some(2), || format!("version {:?}", b.reg(4)))?;
    ensure(b.reg(0x008) == Some(1), || format!("device id {:?}", b.reg(8)))?;
    let mac: Vec<u8> = (0..6)
        .map(|i| {
            let mut byte = [0u8; 1];
            virtio_mmio::access(b.base + 0x100 + i, &mut byte, false);
            byte[0]
        })
        .collect();
    ensure(mac == MAC, || format!("config MAC {mac:02x?}"))?;
    ensure(virtio_mmio::ioremap(b.base, 0x200) == Some(b.base), || String::from("ioremap of the window refused"))?;
    ensure(virtio_mmio::ioremap(b.base + 8, 4).is_none(), || String::from("ioremap inside the window accepted"))?;
    let mut x = [0u8; 4];
    ensure(!virtio_mmio::access(virtio_mmio::MMIO_BASE - 4, &mut x, false), || String::from("a read below the windows answered"))?;
    ensure(b.reg(0x0c8).is_none(), || String::from("an unknown register answered"))?;
    ensure(!b.set(0x100, 0), || String::from("the config space accepted a write"))
}

fn negotiation(b: &Bench) -> Check {
    b.set(0x070, 0);
    b.set(0x070, 1 | 2);
    b.set(0x014, 0);
    let low = b.reg(0x010).unwrap_or(0);
    b.set(0x014, 1);
    let high = b.reg(0x010).unwrap_or(0);
    ensure(low & (1 << 5) != 0 && high & 1 != 0, || format!("features offered {high:#x}:{low:#x}"))?;
    // A legacy driver (no VERSION_1) is refused FEATURES_OK.
    b.set(0x024, 1);
    b.set(0x020, 0);
    b.set(0x070, 1 | 2 | 8);
    ensure(b.reg(0x070) == Some(3), || format!("FEATURES_OK kept without VERSION_1 (status {:?})", b.reg(0x070)))?;
    // Accept MAC and VERSION_1 (and a bit never offered, which is dropped).
    b.set(0x024, 0);
    b.set(0x020, 1 << 5 | 1 << 6);
    b.set(0x024, 1);
    b.set(0x020, 1);
    b.set(0x070, 1 | 2 | 8);
    ensure(b.reg(0x070) == Some(11), || format!("status {:?}", b.reg(0x070)))?;
    let f = b.transport.driver_features();
    ensure(f == (1 << 32 | 1 << 5), || format!("driver features {f:#x}"))
}

fn queues(b: &Bench) -> Check {
    b.set(0x030, 0);
    ensure(b.reg(0x034) == Some(QUEUE as u32), || format!("queue size {:?}", b.reg(0x034)))?;
    // A ring outside guest memory is refused.
    let outside = b.virt + PAGES * 4096;
    ensure(!b.setup_queue(0, outside, b.virt + 256, b.virt + 512), || String::from("a descriptor table outside guest memory was accepted"))?;
    ensure(b.reg(0x044) == Some(0), || String::from("queue 0 ready with a bad ring"))?;
    for q in 0..2 {
        let (d, a, u) = ring(q);
        ensure(b.setup_queue(q, b.virt + d, b.virt + a, b.virt + u), || format!("queue {q} refused"))?;
        ensure(b.reg(0x044) == Some(1), || format!("queue {q} not ready"))?;
    }
    b.set(0x070, 1 | 2 | 8 | 4);
    Ok(())
}

fn transmit(b: &Bench) -> Check {
    // Header and frame in two chained descriptors, as virtio_net sends.
    let buf = b.virt + 4096;
    let mut data = alloc::vec![0u8; 12];
    data.extend_from_slice(TX_FRAME);
    b.poke(4096, &data);
    b.desc(1, 0, buf, 12, 1, 1);
    b.desc(1, 1, buf + 12, TX_FRAME.len() as u32, 0, 0);
    b.offer(1, 0, 0);
    ensure(b.set(0x050, 1), || String::from("notify refused"))?;
    let sent = LOOP.sent.lock().clone();
    ensure(sent.len() == 1 && sent[0] == TX_FRAME, || format!("the device sent {sent:?}"))?;
    let used = ring(1).2;
    ensure(b.u16_at(used + 2) == 1 && b.u16_at(used + 4) == 0, || String::from("the chain was not returned in the used ring"))?;
    ensure(b.reg(0x060) == Some(1), || format!("interrupt status {:?}", b.reg(0x060)))?;
    b.set(0x064, 1);
    ensure(b.reg(0x060) == Some(0), || String::from("interrupt not acknowledged"))
}

fn receive(b: &Bench) -> Check {
    ensure(!b.transport.has_available(0), || String::from("receive buffers before any were offered"))?;
    let buf = b.virt + 4096 + 256;
    b.desc(0, 0, buf, 64, 2, 0);
    b.offer(0, 0, 0);
    ensure(b.transport.has_available(0), || String::from("the offered buffer is not seen"))?;
    let chain = match b.transport.pop(0) {
        Ok(Some(c)) => c,
        other => return Err(format!("pop: {:?}", other.map(|c| c.map(|c| c.writable_len())))),
    };
    ensure(chain.writable_len() == 64 && chain.readable_len() == 0, || format!("chain {} writable", chain.writable_len()))?;
    let frame = [0xabu8; 60];
    let written = chain.write(&[&[0u8; 12], &frame]);
    ensure(written == 64, || format!("wrote {written} of 72 bytes into 64"))?;
    b.transport.push_used(0, chain, written as u32);
    let back = b.peek(4096 + 256 + 12, 52);
    ensure(back.iter().all(|&x| x == 0xab), || String::from("the frame is not in the buffer"))?;
    let used = ring(0).2;
    let len = b.peek(used + 8, 4);
    ensure(b.u16_at(used + 2) == 1 && len == [64, 0, 0, 0], || format!("used ring len {len:?}"))
}

fn bad_driver(b: &Bench) -> Check {
    // A buffer outside guest memory: the queue stops, nothing is touched.
    b.desc(1, 2, 0x1000, 100, 0, 0);
    b.offer(1, 1, 2);
    b.set(0x050, 1);
    let errors = LOOP.errors.lock().clone();
    ensure(matches!(errors.as_slice(), [RingError::OutsideGuestMemory(0x1000)]), || format!("errors {errors:?}"))?;
    b.set(0x030, 1);
    ensure(b.reg(0x044) == Some(0), || String::from("the queue still runs after a bad buffer"))?;
    // A descriptor loop, after a reset and a fresh queue.
    b.set(0x070, 0);
    let (d, a, u) = ring(1);
    b.poke(a, &[0u8; 4]);
    b.poke(u, &[0u8; 4]);
    ensure(b.setup_queue(1, b.virt + d, b.virt + a, b.virt + u), || String::from("queue 1 refused again"))?;
    b.desc(1, 3, b.virt + 4096, 4, 1, 3);
    b.offer(1, 0, 3);
    LOOP.errors.lock().clear();
    b.set(0x050, 1);
    let errors = LOOP.errors.lock().clone();
    ensure(matches!(errors.as_slice(), [RingError::BadDescriptor(_)]), || format!("loop: errors {errors:?}"))?;
    // Reset forgets every queue.
    b.set(0x070, 0);
    b.set(0x030, 0);
    ensure(b.reg(0x044) == Some(0) && b.reg(0x070) == Some(0), || String::from("reset left a queue ready"))
}
