//! `embctl-base-rootfs prepare`: debootstrap the base image's root filesystem
//! ahead of time (see the library's documentation). scripts/setup-host.sh runs
//! it in the background while embctl compiles; `embctl image build` imports it.

use std::process::ExitCode;

use embctl_base_rootfs::Prepared;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args != ["prepare"] {
        eprintln!(
            "usage: embctl-base-rootfs prepare\n  debootstraps the root filesystem of embctl's base image (as root) into {}\n  \
             (EMBCTL_BASE_ROOTFS_DIR overrides); `embctl image build` imports it instead of running debootstrap",
            Prepared::location().dir.display()
        );
        return ExitCode::from(2);
    }
    match Prepared::location().prepare() {
        Ok(what) => {
            eprintln!("embctl-base-rootfs: {what}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("embctl-base-rootfs: error: {why}; `embctl image build` will run debootstrap itself");
            ExitCode::from(1)
        }
    }
}
