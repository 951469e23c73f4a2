//! smoltcp's `Device` on top of the hal's [`NetDevice`] interface.

use crate::hal::netdev::{NetDevice, MAX_FRAME};
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// The NIC as smoltcp sees it.
pub struct Nic {
    pub dev: Box<dyn NetDevice>,
    /// Receive buffers to reuse (one frame is copied out of the ring into one).
    spare: Vec<Vec<u8>>,
}

impl Nic {
    pub fn new(dev: Box<dyn NetDevice>) -> Self {
        Self { dev, spare: Vec::new() }
    }
}

pub struct RxToken<'a> {
    frame: Vec<u8>,
    spare: &'a mut Vec<Vec<u8>>,
}

pub struct TxToken<'a> {
    dev: &'a mut dyn NetDevice,
}

impl phy::Device for Nic {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let mut frame = self.spare.pop().unwrap_or_else(|| alloc::vec![0; MAX_FRAME]);
        frame.resize(MAX_FRAME, 0);
        match self.dev.receive(&mut frame) {
            Some(len) => {
                frame.truncate(len);
                Some((RxToken { frame, spare: &mut self.spare }, TxToken { dev: &mut *self.dev }))
            }
            None => {
                self.spare.push(frame);
                None
            }
        }
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        self.dev.can_send().then(|| TxToken { dev: &mut *self.dev })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps.max_burst_size = Some(32);
        caps
    }
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.frame);
        if self.spare.len() < 4 {
            self.spare.push(self.frame);
        }
        r
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut f = Some(f);
        let mut result = None;
        let sent = self.dev.send(len, &mut |buf| result = f.take().map(|f| f(buf)));
        match result {
            Some(r) => r,
            // The ring filled up since `transmit` said there was room (it
            // cannot: one task polls at a time); build the frame anyway and
            // drop it, as a full NIC queue would.
            None => {
                debug_assert!(!sent);
                let mut scratch = alloc::vec![0; len];
                (f.take().expect("closure unused"))(&mut scratch)
            }
        }
    }
}

/// The loopback device (127.0.0.0/8): what is sent is received by the next
/// poll. Unlike smoltcp's `Loopback` it reuses the packets' buffers (no
/// allocation and zeroing per packet) and its MTU is ours: see [`LO_MTU`].
pub struct Lo {
    queue: VecDeque<Vec<u8>>,
    /// Buffers of received packets, back from their receive tokens.
    returned: Vec<Vec<u8>>,
    /// Buffers for the next packets sent.
    spare: Vec<Vec<u8>>,
}

/// The loopback MTU. smoltcp's Nagle test holds back data while a segment
/// is in flight unless a full segment (MSS = MTU - 40) can go; with
/// Linux's 64 KiB MTU and 64 KiB socket buffers a full segment is the whole
/// window, which is seldom free, so writers stalled on acknowledgements
/// (the guest idled more than half the time). 16 KiB segments, four per
/// window: 8.35 -> 17.97 MiB/s over 127.0.0.1 in one boot (TCG).
const LO_MTU: usize = 16 * 1024 + 40;
/// Buffers kept for reuse at most.
const LO_SPARE: usize = 8;

impl Lo {
    pub fn new() -> Self {
        Self { queue: VecDeque::new(), returned: Vec::new(), spare: Vec::new() }
    }

    fn refill(&mut self) {
        if self.spare.is_empty() {
            core::mem::swap(&mut self.spare, &mut self.returned);
        }
    }
}

pub struct LoRxToken<'a> {
    frame: Vec<u8>,
    returned: &'a mut Vec<Vec<u8>>,
}

pub struct LoTxToken<'a> {
    queue: &'a mut VecDeque<Vec<u8>>,
    spare: &'a mut Vec<Vec<u8>>,
}

impl phy::Device for Lo {
    type RxToken<'a> = LoRxToken<'a>;
    type TxToken<'a> = LoTxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(LoRxToken<'_>, LoTxToken<'_>)> {
        self.refill();
        let frame = self.queue.pop_front()?;
        Some((LoRxToken { frame, returned: &mut self.returned }, LoTxToken { queue: &mut self.queue, spare: &mut self.spare }))
    }

    fn transmit(&mut self, _now: Instant) -> Option<LoTxToken<'_>> {
        self.refill();
        Some(LoTxToken { queue: &mut self.queue, spare: &mut self.spare })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = LO_MTU;
        caps.checksum = phy::ChecksumCapabilities::ignored();
        caps
    }
}

impl phy::RxToken for LoRxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.frame);
        if self.returned.len() < LO_SPARE {
            self.returned.push(self.frame);
        }
        r
    }
}

impl phy::TxToken for LoTxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = self.spare.pop().unwrap_or_default();
        // Only bytes beyond the buffer's last length are zeroed; smoltcp
        // writes the whole packet.
        frame.resize(len, 0);
        let r = f(&mut frame);
        self.queue.push_back(frame);
        r
    }
}
