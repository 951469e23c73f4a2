//! The kernel's one file tree: the initramfs mounted at `/`, with `/tmp`.

use crate::hal::sync::IrqMutex;
use embox_fs::Vfs;

static VFS: IrqMutex<Option<Vfs>> = IrqMutex::new(None);
static INITRAMFS: IrqMutex<Option<&'static [u8]>> = IrqMutex::new(None);

/// The initramfs archive the tree was mounted from (LKL's root gets a copy).
pub fn initramfs() -> Option<&'static [u8]> {
    *INITRAMFS.lock()
}

/// Mounts the initramfs (if the loader gave one) at `/`.
pub(crate) fn init(initrd: Option<&'static [u8]>) {
    *INITRAMFS.lock() = initrd;
    let mut vfs = Vfs::new();
    match initrd {
        Some(archive) => match vfs.mount_cpio(archive) {
            Ok(n) => crate::klog!("rootfs: {} entries from the initramfs ({} KiB) mounted at /", n, archive.len() / 1024),
            Err(e) => crate::klog!("rootfs: initramfs unusable, / is empty: {}", e),
        },
        None => crate::klog!("rootfs: no initramfs (boot with -initrd rootfs.cpio); / holds only /tmp"),
    }
    *VFS.lock() = Some(vfs);
}

/// Runs `f` with the file tree. Keep `f` short: interrupts are masked.
pub fn with<R>(f: impl FnOnce(&mut Vfs) -> R) -> R {
    f(VFS.lock().as_mut().expect("vfs used before mount"))
}
