//! The kernel's one file tree: the initramfs mounted at `/`, with `/tmp`.

use crate::hal;
use crate::hal::sync::IrqMutex;
use embox_fs::{Limits, Page};

/// The kernel's file tree: file data in page frames.
pub type Vfs = embox_fs::Vfs<FramePage>;

static VFS: IrqMutex<Option<Vfs>> = IrqMutex::new(None);
static INITRAMFS: IrqMutex<Option<&'static [u8]>> = IrqMutex::new(None);

/// The initramfs archive the tree was mounted from (LKL's root gets a copy).
pub fn initramfs() -> Option<&'static [u8]> {
    *INITRAMFS.lock()
}

/// A page of file data: a page frame (never the kernel heap), owned.
pub struct FramePage(hal::memory::Frame);

impl FramePage {
    /// Another handle on the same frame (a shared file mapping maps it);
    /// `None` when its reference count is full.
    pub fn share(&self) -> Option<hal::memory::Frame> {
        self.0.view().share()
    }
}

impl Page for FramePage {
    fn zeroed() -> Option<Self> {
        hal::memory::Frame::zeroed().map(FramePage)
    }
    fn read(&self, offset: usize, out: &mut [u8]) {
        self.0.read(offset, out)
    }
    fn write(&mut self, offset: usize, data: &[u8]) {
        self.0.write(offset, data)
    }
}

/// The tree's limits, like a tmpfs's defaults: file data may take half of
/// the free frames, and nodes (each some hundred bytes of heap with its
/// name) an eighth of the kernel heap at most.
fn limits() -> Limits {
    let frames = hal::memory::frame_stats().free as usize;
    let heap = hal::heap::stats().size;
    Limits { max_pages: frames / 2, max_nodes: heap / 2048 }
}

/// Mounts the initramfs (if the loader gave one) at `/`.
pub(crate) fn init(initrd: Option<&'static [u8]>) {
    *INITRAMFS.lock() = initrd;
    let limits = limits();
    let mut vfs = Vfs::with_limits(limits);
    match initrd {
        Some(archive) => match vfs.mount_cpio(archive) {
            Ok(n) => crate::klog!("rootfs: {} entries from the initramfs ({} KiB) mounted at /", n, archive.len() / 1024),
            Err(e) => crate::klog!("rootfs: initramfs unusable, / is empty: {}", e),
        },
        None => crate::klog!("rootfs: no initramfs (boot with -initrd rootfs.cpio); / holds only /tmp"),
    }
    crate::klog!("rootfs: file data up to {} KiB in page frames, {} nodes", limits.max_pages * 4, limits.max_nodes);
    *VFS.lock() = Some(vfs);
}

/// Runs `f` with the file tree. Keep `f` short: interrupts are masked.
pub fn with<R>(f: impl FnOnce(&mut Vfs) -> R) -> R {
    f(VFS.lock().as_mut().expect("vfs used before mount"))
}
