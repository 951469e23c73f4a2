//! smoltcp's `Device` on top of the hal's [`NetDevice`] interface.

use crate::hal::netdev::{NetDevice, MAX_FRAME};
use alloc::boxed::Box;
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
