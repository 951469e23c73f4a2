//! `embctl-base-rootfs prepare [--image DOCKER_DIR]`: debootstrap the base
//! image's root filesystem ahead of time (see the library's documentation);
//! with `--image`, also import it and build the build image from DOCKER_DIR
//! with the docker CLI. scripts/setup-host.sh runs it in the background while
//! embctl compiles; `embctl image build` finds what it made.

use std::path::Path;
use std::process::ExitCode;

use embctl_base_rootfs::Prepared;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prepared = Prepared::location();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["prepare"] => prepared.prepare(),
        ["prepare", "--image", dir] => {
            let log = std::env::var_os("EMBCTL_PREPARE_LOG").unwrap_or_else(|| "stderr".into());
            embctl_base_rootfs::prebuild::prepare_image(&prepared, Path::new(dir), Path::new(&log), |line| {
                eprintln!("embctl-base-rootfs: {line}")
            })
        }
        _ => {
            eprintln!(
                "usage: embctl-base-rootfs prepare [--image DOCKER_DIR]\n  debootstraps the root filesystem of embctl's base image (as root) into {}\n  \
                 (EMBCTL_BASE_ROOTFS_DIR overrides); `embctl image build` imports it instead of running debootstrap.\n  \
                 --image: also imports it and builds the build image from DOCKER_DIR with the docker CLI, as embctl would",
                prepared.dir.display()
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(what) => {
            eprintln!("embctl-base-rootfs: {what}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("embctl-base-rootfs: error: {why}; embctl will make what is missing itself");
            ExitCode::from(1)
        }
    }
}
