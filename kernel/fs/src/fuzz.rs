//! Fuzz targets (bolero). `cargo test` runs each on its seed corpus in
//! `src/__fuzz__/` and one second of random inputs; `cargo bolero test
//! embox_fs::fuzz::fuzz_vfs_ops` fuzzes with libFuzzer.

use alloc::string::String;
use alloc::vec::Vec;

use crate::{cpio, Limits, Vfs};

/// Any bytes as an initramfs: the reader ends with members or an error.
#[test]
fn fuzz_cpio() {
    bolero::check!().for_each(|archive: &[u8]| {
        let mut count = 0usize;
        for entry in cpio::Reader::new(archive) {
            match entry {
                Ok(e) => assert!(e.data.len() <= archive.len()),
                Err(_) => break,
            }
            count += 1;
            assert!(count <= archive.len(), "more members than bytes");
        }
    });
}

/// Names the operations use: nested, dotted, trailing slashes, links.
const NAMES: [&str; 12] = ["/tmp/a", "/tmp/a/b", "/tmp/a/../c", "/tmp/c/", "/tmp/l", "/tmp/a/b/..", "/", "/tmp", "a", "", "/tmp/a/./b/", "/tmp/l/x"];

/// Bytes as a program of tree operations (2 bytes per op: op, operands)
/// within small limits: no panic, and the page and node accounting holds.
#[test]
fn fuzz_vfs_ops() {
    bolero::check!().for_each(|program: &[u8]| {
        let limits = Limits { max_pages: 6, max_nodes: 12 };
        let mut vfs: Vfs = Vfs::with_limits(limits);
        let mut open: Vec<u32> = Vec::new();
        for op in program.chunks(2) {
            let (code, arg) = (op[0], op.get(1).copied().unwrap_or(0));
            let a = NAMES[arg as usize % NAMES.len()];
            let b = NAMES[(arg / 16) as usize % NAMES.len()];
            let offset = u64::from(arg) * 1500;
            let _ = match code % 12 {
                0 => vfs.mkdir(a, 0o755).map(drop),
                1 => vfs.create_file(a, 0o644, code & 0x80 != 0).map(drop),
                2 => vfs.lookup(a).and_then(|id| vfs.write_at(id, offset, &[code; 3000]).map(drop)),
                3 => vfs.lookup(a).and_then(|id| vfs.truncate(id, offset)),
                4 => vfs.unlink(a),
                5 => vfs.rmdir(a),
                6 => vfs.rename(a, b),
                7 => vfs.symlink(b, a).map(drop),
                8 => vfs.lookup(a).map(|id| {
                    vfs.open(id);
                    open.push(id);
                }),
                9 => {
                    if let Some(id) = open.pop() {
                        vfs.close(id);
                    }
                    Ok(())
                }
                10 => vfs.lookup(a).and_then(|id| {
                    let mut buf = [0u8; 700];
                    vfs.read_at(id, offset, &mut buf).map(drop)
                }),
                _ => vfs.lookup(a).and_then(|id| vfs.path_of(id)).map(|p: String| assert!(p.starts_with('/'))),
            };
            let (used, max) = vfs.pages();
            assert!(used <= max, "pages over the limit: {used} > {max}");
        }
        // Removing everything gives every page back.
        for id in open.drain(..) {
            vfs.close(id);
        }
        for name in ["/tmp/l", "/tmp/a/b", "/tmp/c", "/tmp/a", "/tmp/a/b", "/tmp/c", "/tmp/a"] {
            let _ = vfs.unlink(name);
            let _ = vfs.rmdir(name);
        }
        // (Only when the ops left /tmp in place and empty.)
        let tmp_empty = vfs.lookup("/tmp").and_then(|id| vfs.read_dir(id)).is_ok_and(|d| d.is_empty());
        let root_clean = vfs.read_dir(vfs.lookup("/").unwrap()).unwrap().iter().all(|e| e.name == "tmp");
        if tmp_empty && root_clean {
            assert_eq!(vfs.pages().0, 0, "pages leaked");
        }
    });
}
