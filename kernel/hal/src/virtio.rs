//! Legacy (transitional) virtio-PCI transport shared by the drivers
//! (`virtio_net`, `virtio_console`): the device's status handshake and
//! feature negotiation over its I/O BAR, DMA blocks from the frame
//! allocator, and split virtqueues whose descriptors each own one fixed-size
//! buffer.
//!
//! Why legacy: its interface is all port I/O (no MMIO window to map), and
//! QEMU's `virtio-*-pci` devices are transitional by default.
//!
//! Memory: each queue's ring is one physically contiguous block (the legacy
//! device takes a single page frame number), and its buffers another block,
//! owned by the driver for the device's lifetime. A lending queue
//! ([`Queue::new_lending`]) instead has one block per buffer, which moves out
//! of the queue with the used entry ([`LentBuffer`]) and back in when posted
//! again: a received frame can be read where the device wrote it, by a
//! holder that owns it meanwhile, without a copy.

use crate::port::{PortBlock, Register};
use crate::layout::{phys_to_virt, PAGE_SIZE};
use crate::pci::Function;
use core::sync::atomic::{fence, Ordering};

pub const VENDOR_VIRTIO: u16 = 0x1af4;

// Legacy register offsets from BAR0.
const REG_DEVICE_FEATURES: Register<u32> = Register::at(0x00);
const REG_GUEST_FEATURES: Register<u32> = Register::at(0x04);
const REG_QUEUE_PFN: Register<u32> = Register::at(0x08);
const REG_QUEUE_SIZE: Register<u16> = Register::at(0x0c);
const REG_QUEUE_SELECT: Register<u16> = Register::at(0x0e);
const REG_QUEUE_NOTIFY: Register<u16> = Register::at(0x10);
const REG_STATUS: Register<u8> = Register::at(0x12);
const REG_ISR: Register<u8> = Register::at(0x13);
/// Device-specific configuration (no MSI-X enabled, so it starts right after the header).
const REG_DEVICE_CONFIG: u16 = 0x14;

const STATUS_ACKNOWLEDGE: u8 = 1;
const STATUS_DRIVER: u8 = 2;
const STATUS_DRIVER_OK: u8 = 4;
const STATUS_FAILED: u8 = 0x80;

/// Descriptor flag: the device writes this buffer (receive side).
const DESC_F_WRITE: u16 = 2;

/// Which way a posted buffer's bytes go (the descriptor's only flag a
/// driver chooses: no chains, no indirect tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The device reads the buffer (transmit, console output).
    DeviceReads,
    /// The device writes the buffer (receive).
    DeviceWrites,
}
const USED_F_NO_NOTIFY: u16 = 1;
const AVAIL_F_NO_INTERRUPT: u16 = 1;

/// A legacy virtio device being started: reset, acknowledged, features
/// negotiated. [`Legacy::ready`] or [`Legacy::fail`] ends the handshake.
#[derive(Clone, Copy)]
pub struct Legacy {
    pub(crate) io: PortBlock,
}

impl Legacy {
    /// Resets the device behind `f` (its I/O BAR 0) and acknowledges it;
    /// None when it has no legacy I/O BAR.
    pub fn begin(f: &Function) -> Option<Legacy> {
        let io = f.io_bar(0)?;
        f.enable_io_and_dma();
        io.write(REG_STATUS, 0); // reset
        io.write(REG_STATUS, STATUS_ACKNOWLEDGE);
        io.write(REG_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
        Some(Legacy { io })
    }

    /// The features the device offers.
    pub fn features(&self) -> u32 {
        self.io.read(REG_DEVICE_FEATURES)
    }

    /// Accepts the features of `wanted` the device offers; returns them.
    pub fn negotiate(&self, wanted: u32) -> u32 {
        let accepted = self.io.read(REG_DEVICE_FEATURES) & wanted;
        self.io.write(REG_GUEST_FEATURES, accepted);
        accepted
    }

    /// The driver is set up: the device may start using the queues.
    pub fn ready(&self) {
        self.io.write(REG_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_DRIVER_OK);
    }

    /// The driver gives up on the device.
    pub fn fail(&self) {
        self.io.write(REG_STATUS, STATUS_FAILED);
    }

    /// The device-specific configuration byte at `offset`.
    pub(crate) fn config8(&self, offset: u16) -> u8 {
        self.io.read(Register::<u8>::at(REG_DEVICE_CONFIG + offset))
    }

    /// The device-specific configuration word at `offset`.
    pub(crate) fn config16(&self, offset: u16) -> u16 {
        self.io.read(Register::<u16>::at(REG_DEVICE_CONFIG + offset))
    }

    /// Reads (and so clears) the interrupt status; true when the device had
    /// raised its (possibly shared) line.
    pub(crate) fn acknowledge_interrupt(&self) -> bool {
        self.io.read(REG_ISR) & 3 != 0
    }
}

/// A block of physically contiguous, zeroed frames owned by the driver
/// forever (rings and buffers live as long as the device).
struct Dma {
    phys: u64,
    virt: usize,
    len: usize,
}

impl Dma {
    fn alloc(bytes: usize) -> Option<Dma> {
        let frames = bytes.div_ceil(PAGE_SIZE);
        let phys = crate::memory::alloc_zeroed_contiguous(frames)?;
        Some(Dma { phys, virt: phys_to_virt(phys), len: frames * PAGE_SIZE })
    }

    fn check(&self, offset: usize, len: usize) {
        assert!(offset + len <= self.len, "DMA access past the end of its block");
    }

    fn read16(&self, offset: usize) -> u16 {
        self.check(offset, 2);
        // SAFETY: in bounds of a block this driver owns, mapped by the
        // physical map, 2-aligned (every offset used is); volatile because
        // the device writes it.
        unsafe { core::ptr::read_volatile((self.virt + offset) as *const u16) }
    }

    fn read32(&self, offset: usize) -> u32 {
        self.check(offset, 4);
        // SAFETY: as for `read16`, 4-aligned.
        unsafe { core::ptr::read_volatile((self.virt + offset) as *const u32) }
    }

    fn write16(&self, offset: usize, value: u16) {
        self.check(offset, 2);
        // SAFETY: as for `read16`.
        unsafe { core::ptr::write_volatile((self.virt + offset) as *mut u16, value) }
    }

    fn write32(&self, offset: usize, value: u32) {
        self.check(offset, 4);
        // SAFETY: as for `read32`.
        unsafe { core::ptr::write_volatile((self.virt + offset) as *mut u32, value) }
    }

    fn write64(&self, offset: usize, value: u64) {
        self.write32(offset, value as u32);
        self.write32(offset + 4, (value >> 32) as u32);
    }

    /// The bytes at `offset..offset + len`, for the CPU to fill or read while
    /// the device does not own them.
    fn bytes_mut(&mut self, offset: usize, len: usize) -> &mut [u8] {
        self.check(offset, len);
        // SAFETY: in bounds of the block, which `&mut self` borrows; the
        // driver only hands out buffers the device does not own (not posted,
        // or returned through the used ring).
        unsafe { core::slice::from_raw_parts_mut((self.virt + offset) as *mut u8, len) }
    }

    /// The bytes at `offset..offset + len`, for the CPU to read while the
    /// device does not own them.
    fn bytes(&self, offset: usize, len: usize) -> &[u8] {
        self.check(offset, len);
        // SAFETY: as for `bytes_mut`; `&self` borrows the block shared, so
        // nothing writes it through this `Dma` meanwhile.
        unsafe { core::slice::from_raw_parts((self.virt + offset) as *const u8, len) }
    }
}

/// A buffer of a lending queue, out of it: the holder owns its bytes (the
/// device no longer does) until [`Queue::post_lent`] gives it back. Its
/// block never moves or goes back to the frame allocator, so the device may
/// be given its address again.
pub struct LentBuffer {
    queue: u16,
    slot: u16,
    dma: Dma,
}

impl LentBuffer {
    /// The buffer's first `len` bytes (at most its size).
    pub fn bytes(&self, len: usize) -> &[u8] {
        self.dma.bytes(0, len)
    }

    pub fn bytes_mut(&mut self, len: usize) -> &mut [u8] {
        self.dma.bytes_mut(0, len)
    }
}

/// Where a queue's buffers are.
enum Buffers {
    /// One block; descriptor `id` owns bytes `id * size..` of it for good.
    Fixed(Dma),
    /// A block per descriptor, None while lent out.
    Lent(alloc::vec::Vec<Option<Dma>>),
}

/// One split virtqueue: descriptor table, available ring, used ring; each
/// descriptor `id` owns buffer `id` of `buf_size` bytes.
pub struct Queue {
    index: u16,
    size: u16,
    ring: Dma,
    buffers: Buffers,
    buf_size: usize,
    avail_off: usize,
    used_off: usize,
    /// Our copy of avail.idx (next free slot).
    avail_idx: u16,
    /// Used entries consumed so far.
    last_used: u16,
}

impl Queue {
    /// Sets up queue `index` of `dev` with up to `buffers` buffers of
    /// `buf_size` bytes; None when the device has no such queue or no
    /// contiguous frames are left.
    pub fn new(dev: &Legacy, index: u16, buffers: u16, buf_size: usize) -> Option<Queue> {
        Self::set_up(dev, index, |count| {
            let block = Dma::alloc(usize::from(count) * buf_size)?;
            Some((Buffers::Fixed(block), buf_size))
        }, buffers)
    }

    /// Sets up queue `index` of `dev` with up to `buffers` buffers of
    /// `buf_size` bytes, each its own block, which [`take_used_lent`]
    /// (Self::take_used_lent) lends out; none is posted yet.
    pub fn new_lending(dev: &Legacy, index: u16, buffers: u16, buf_size: usize) -> Option<Queue> {
        Self::set_up(dev, index, |count| {
            let blocks = (0..count).map(|_| Dma::alloc(buf_size)).collect::<Option<alloc::vec::Vec<_>>>()?;
            Some((Buffers::Lent(blocks.into_iter().map(Some).collect()), buf_size))
        }, buffers)
    }

    /// The ring of queue `index` and `alloc(count)`'s buffers (`count`: at
    /// most `buffers` and the queue's size); tells the device where the ring is.
    fn set_up(dev: &Legacy, index: u16, alloc: impl FnOnce(u16) -> Option<(Buffers, usize)>, buffers: u16) -> Option<Queue> {
        let io = dev.io;
        io.write(REG_QUEUE_SELECT, index);
        let size = io.read(REG_QUEUE_SIZE);
        if size == 0 {
            return None;
        }
        let n = usize::from(size);
        let avail_off = 16 * n;
        let used_off = (avail_off + 6 + 2 * n).next_multiple_of(PAGE_SIZE);
        let ring = Dma::alloc(used_off + 6 + 8 * n)?;
        let count = buffers.min(size);
        let (buffers, buf_size) = alloc(count)?;
        let queue = Queue { index, size, ring, buffers, buf_size, avail_off, used_off, avail_idx: 0, last_used: 0 };
        if let Buffers::Fixed(block) = &queue.buffers {
            for i in 0..count {
                let d = 16 * usize::from(i);
                queue.ring.write64(d, block.phys + (usize::from(i) * buf_size) as u64);
                queue.ring.write32(d + 8, buf_size as u32);
                queue.ring.write16(d + 12, 0);
            }
        }
        io.write(REG_QUEUE_PFN, (queue.ring.phys / PAGE_SIZE as u64) as u32);
        Some(queue)
    }

    /// Asks the device not to interrupt when it uses our buffers (a driver
    /// that polls the used ring; an unacknowledged INTx line shared with
    /// another device would otherwise storm).
    pub fn suppress_interrupts(&self) {
        self.ring.write16(self.avail_off, AVAIL_F_NO_INTERRUPT);
    }

    /// Lets the device interrupt again when it uses our buffers (after
    /// [`suppress_interrupts`](Self::suppress_interrupts)); the caller then
    /// re-checks the used ring, which may have filled in between.
    pub fn allow_interrupts(&self) {
        self.ring.write16(self.avail_off, 0);
        fence(Ordering::SeqCst); // the flag before the caller's re-check
    }

    /// True when the device has returned buffers we have not taken yet.
    pub fn has_used(&self) -> bool {
        fence(Ordering::SeqCst);
        self.ring.read16(self.used_off + 2) != self.last_used
    }

    pub fn buffer_count(&self) -> u16 {
        match &self.buffers {
            Buffers::Fixed(block) => (block.len / self.buf_size).min(usize::from(self.size)) as u16,
            Buffers::Lent(slots) => slots.len() as u16,
        }
    }

    pub fn buf_size(&self) -> usize {
        self.buf_size
    }

    /// Offers descriptor `id` (the first `len` bytes of its buffer) to the
    /// device. Panics on an `id` or `len` past the queue's buffers: the
    /// device would read or write memory the queue does not own.
    pub fn post(&mut self, id: u16, len: usize, direction: Direction) {
        assert!(matches!(self.buffers, Buffers::Fixed(_)), "virtqueue post on a lending queue (post_lent gives its buffers back)");
        assert!(id < self.buffer_count() && len <= self.buf_size, "virtqueue post of buffer {id} with {len} bytes: past the queue's buffers");
        self.publish(id, len, direction);
    }

    /// Gives a buffer this lending queue lent back to the device, its first
    /// `len` bytes offered. Panics on a buffer of another queue, or a `len`
    /// past its end.
    pub fn post_lent(&mut self, lent: LentBuffer, len: usize, direction: Direction) {
        let (index, buf_size) = (self.index, self.buf_size);
        let Buffers::Lent(slots) = &mut self.buffers else { panic!("virtqueue post_lent on a queue that does not lend") };
        let slot = usize::from(lent.slot);
        assert!(lent.queue == index && slot < slots.len() && slots[slot].is_none() && len <= buf_size, "virtqueue post_lent of a buffer not lent by this queue");
        let d = 16 * slot;
        self.ring.write64(d, lent.dma.phys);
        slots[slot] = Some(lent.dma);
        self.publish(slot as u16, len, direction);
    }

    /// Buffers of this lending queue the device does not hold: lent out,
    /// or never posted (`new_lending` posts none).
    pub fn unposted(&mut self) -> alloc::vec::Vec<LentBuffer> {
        let index = self.index;
        let Buffers::Lent(slots) = &mut self.buffers else { return alloc::vec::Vec::new() };
        slots.iter_mut().enumerate().filter_map(|(i, s)| Some(LentBuffer { queue: index, slot: i as u16, dma: s.take()? })).collect()
    }

    /// Puts descriptor `id` (its buffer's address already set) with `len`
    /// bytes into the available ring.
    fn publish(&mut self, id: u16, len: usize, direction: Direction) {
        let d = 16 * usize::from(id);
        self.ring.write32(d + 8, len as u32);
        self.ring.write16(d + 12, if direction == Direction::DeviceWrites { DESC_F_WRITE } else { 0 });
        let slot = usize::from(self.avail_idx % self.size);
        self.ring.write16(self.avail_off + 4 + 2 * slot, id);
        fence(Ordering::SeqCst); // the entry before the index
        self.avail_idx = self.avail_idx.wrapping_add(1);
        self.ring.write16(self.avail_off + 2, self.avail_idx);
    }

    /// Next used entry: (descriptor id, bytes written by the device).
    pub fn take_used(&mut self) -> Option<(u16, usize)> {
        let used_idx = self.ring.read16(self.used_off + 2);
        if used_idx == self.last_used {
            return None;
        }
        fence(Ordering::SeqCst); // the index before the entry
        let slot = usize::from(self.last_used % self.size);
        let id = self.ring.read32(self.used_off + 4 + 8 * slot) as u16;
        let len = self.ring.read32(self.used_off + 8 + 8 * slot) as usize;
        self.last_used = self.last_used.wrapping_add(1);
        (id < self.buffer_count()).then_some((id, len))
    }

    /// Next used entry of a lending queue: its buffer, now the caller's, and
    /// the bytes the device wrote. None when the device returned nothing,
    /// or an id it was never given (that entry is skipped).
    pub fn take_used_lent(&mut self) -> Option<(LentBuffer, usize)> {
        let (id, len) = self.take_used()?;
        let index = self.index;
        let Buffers::Lent(slots) = &mut self.buffers else { panic!("virtqueue take_used_lent on a queue that does not lend") };
        let dma = slots.get_mut(usize::from(id))?.take()?;
        Some((LentBuffer { queue: index, slot: id, dma }, len))
    }

    /// Tells the device there is new work (unless it asked not to be told);
    /// true when it was told (a port write: a VM exit).
    pub fn notify(&self, dev: &Legacy) -> bool {
        fence(Ordering::SeqCst);
        let wanted = self.ring.read16(self.used_off) & USED_F_NO_NOTIFY == 0;
        if wanted {
            dev.io.write(REG_QUEUE_NOTIFY, self.index);
        }
        wanted
    }

    /// Buffer `id`, for the CPU while the device does not hold it.
    pub fn buffer(&mut self, id: u16) -> &mut [u8] {
        let size = self.buf_size;
        match &mut self.buffers {
            Buffers::Fixed(block) => block.bytes_mut(usize::from(id) * size, size),
            Buffers::Lent(_) => panic!("virtqueue buffer() on a lending queue (its buffers are lent, not borrowed)"),
        }
    }
}
