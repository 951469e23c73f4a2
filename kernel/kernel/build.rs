//! Links the kernel with its own linker script and bakes the build template's
//! `[kernel]` table into the image.
//!
//! The template folder comes from `EMBOX_TEMPLATE_DIR` (absolute path; embctl
//! sets it), defaulting to `templates/x86/qemu` of this workspace. Link
//! arguments are passed from here rather than from `.cargo/config.toml`
//! because cargo reads config files relative to the directory it is started
//! in, and embctl starts it at the workspace root.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let target = env::var("TARGET").unwrap();
    if target.starts_with("i686-") || target.starts_with("i586-") {
        let script = manifest_dir.join("link.ld");
        for arg in [
            "-nostartfiles",
            "-nostdlib",
            "-static",
            "-no-pie",
            &format!("-Wl,-T,{}", script.display()),
            "-Wl,--build-id=none",
            "-Wl,-n",
            "-Wl,--no-warn-rwx-segments",
        ] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
        println!("cargo:rerun-if-changed=link.ld");
    }

    println!("cargo:rerun-if-env-changed=EMBOX_TEMPLATE_DIR");
    let template_dir = env::var_os("EMBOX_TEMPLATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("../templates/x86/qemu"));
    let template_file = template_dir.join("template.toml");
    println!("cargo:rerun-if-changed={}", template_file.display());
    let text = fs::read_to_string(&template_file).unwrap_or_else(|e| {
        panic!("cannot read build template {}: {e} (set EMBOX_TEMPLATE_DIR to a folder holding template.toml)", template_file.display())
    });
    let template: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("{}: invalid TOML: {e}", template_file.display()));
    let kernel = template.get("kernel").and_then(|k| k.as_table()).cloned().unwrap_or_default();
    let int = |key: &str, default: i64, range: std::ops::RangeInclusive<i64>| -> i64 {
        let value = match kernel.get(key) {
            None => default,
            Some(v) => v.as_integer().unwrap_or_else(|| {
                panic!("{}: [kernel] {key} must be an integer, found {v:?}", template_file.display())
            }),
        };
        if !range.contains(&value) {
            panic!("{}: [kernel] {key} = {value} is out of range {range:?}", template_file.display());
        }
        value
    };
    let heap_kib = int("heap_kib", 8192, 256..=524_288);
    let timer_hz = int("timer_hz", 1000, 19..=10_000);
    let lkl_memory_mib = int("lkl_memory_mib", 64, 16..=512);
    // Extra words for LKL's kernel command line (after `mem=`), e.g. "initcall_debug".
    let lkl_cmdline = match kernel.get("lkl_cmdline") {
        None => String::new(),
        Some(v) => v
            .as_str()
            .filter(|s| !s.contains('\0'))
            .unwrap_or_else(|| panic!("{}: [kernel] lkl_cmdline must be a string without NUL, found {v:?}", template_file.display()))
            .to_string(),
    };
    // The template's name, as `embctl build --template` spells it.
    let templates_root = manifest_dir.join("../templates");
    let name = match (template_dir.canonicalize(), templates_root.canonicalize()) {
        (Ok(dir), Ok(root)) if dir.starts_with(&root) => dir.strip_prefix(&root).unwrap().display().to_string(),
        _ => template_dir.display().to_string(),
    };

    let mut out = String::new();
    writeln!(out, "/// Name of the build template (folder under kernel/templates).").unwrap();
    writeln!(out, "pub const TEMPLATE: &str = {name:?};").unwrap();
    writeln!(out, "/// Kernel heap size, from `[kernel] heap_kib`.").unwrap();
    writeln!(out, "pub const HEAP_BYTES: usize = {} * 1024;", heap_kib).unwrap();
    writeln!(out, "/// Timer interrupt rate, from `[kernel] timer_hz`.").unwrap();
    writeln!(out, "pub const TIMER_HZ: u32 = {timer_hz};").unwrap();
    writeln!(out, "/// LKL's memory, from `[kernel] lkl_memory_mib` (used with the `lkl` feature).").unwrap();
    writeln!(out, "pub const LKL_MEMORY_MIB: u32 = {lkl_memory_mib};").unwrap();
    writeln!(out, "/// More of LKL's command line, from `[kernel] lkl_cmdline`.").unwrap();
    writeln!(out, "pub const LKL_CMDLINE: &str = {lkl_cmdline:?};").unwrap();
    // [net]: the guest's static address (the seed's 10.0.2.16/24 behind the
    // host's 10.0.2.10), or DHCP; the telnet port (0: no telnet server).
    let net = template.get("net").and_then(|k| k.as_table()).cloned().unwrap_or_default();
    let net_str = |key: &str, default: &str| -> String {
        match net.get(key) {
            None => default.to_string(),
            Some(v) => v
                .as_str()
                .unwrap_or_else(|| panic!("{}: [net] {key} must be a string, found {v:?}", template_file.display()))
                .to_string(),
        }
    };
    let address = net_str("address", "10.0.2.16/24");
    let gateway = net_str("gateway", "10.0.2.10");
    // With LKL: the kernel's own stack's address when LKL's eth0 takes
    // `address` (kernel/os/src/lkl/netdev.rs); empty keeps the NIC ours.
    let kernel_address = net_str("kernel_address", "");
    let dhcp = match net.get("dhcp") {
        None => false,
        Some(v) => v.as_bool().unwrap_or_else(|| panic!("{}: [net] dhcp must be true or false", template_file.display())),
    };
    let telnet_port = match net.get("telnet_port") {
        None => 23,
        Some(v) => v
            .as_integer()
            .filter(|p| (0..=65535).contains(p))
            .unwrap_or_else(|| panic!("{}: [net] telnet_port must be 0..=65535", template_file.display())),
    };
    writeln!(out, "/// Network settings, from `[net]`.").unwrap();
    writeln!(out, "pub const NET_ADDRESS: &str = {address:?};").unwrap();
    writeln!(out, "pub const NET_GATEWAY: &str = {gateway:?};").unwrap();
    writeln!(out, "pub const NET_DHCP: bool = {dhcp};").unwrap();
    writeln!(out, "pub const NET_TELNET_PORT: u16 = {telnet_port};").unwrap();
    writeln!(out, "pub const NET_KERNEL_ADDRESS: &str = {kernel_address:?};").unwrap();
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::write(out_dir.join("config.rs"), out).unwrap();

    if env::var_os("CARGO_FEATURE_LKL").is_some() {
        link_lkl(&manifest_dir, &out_dir);
    }
}

/// Optional members of `struct lkl_host_operations`: present in some LKL
/// versions only (the 2019 tree lacks page_alloc/page_free and memcpy).
const OPTIONAL_HOST_OPS: &[&str] = &["thread_self", "thread_equal", "page_alloc", "memcpy"];

/// With the `lkl` feature: link `$EMBOX_LKL_DIR/lib/lkl.o` (LKL's kernel
/// object, not its POSIX host library) and the host-ops table
/// (`lkl/host_ops.c`) compiled against `$EMBOX_LKL_DIR/include`.
fn link_lkl(manifest_dir: &Path, out_dir: &Path) {
    println!("cargo:rerun-if-env-changed=EMBOX_LKL_DIR");
    let Some(dir) = env::var_os("EMBOX_LKL_DIR").map(PathBuf::from) else {
        panic!(
            "the `lkl` feature needs EMBOX_LKL_DIR, an LKL install directory holding lib/lkl.o and include/ \
             (embctl build -t x86/lkl-qemu sets it; or build LKL with `embctl lkl build`)"
        )
    };
    let lkl_o = dir.join("lib/lkl.o");
    let include = dir.join("include");
    let header = include.join("lkl/asm/host_ops.h");
    for (path, what) in [(&lkl_o, "LKL's kernel object"), (&header, "LKL's installed host_ops.h")] {
        if !path.is_file() {
            panic!(
                "EMBOX_LKL_DIR={}: {what} {} is missing; point EMBOX_LKL_DIR at the install directory of an LKL build (lib/lkl.o, include/)",
                dir.display(),
                path.display()
            );
        }
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let source = manifest_dir.join("lkl/host_ops.c");
    println!("cargo:rerun-if-changed={}", source.display());
    let cc = env::var("EMBOX_LKL_CC").unwrap_or_else(|_| String::from("gcc"));
    let base_flags = ["-m32", "-ffreestanding", "-fno-pic", "-fno-stack-protector", "-O2", "-Wall", "-Werror=incompatible-pointer-types", "-Werror=int-conversion"];

    // Which optional members does this tree's struct have? Ask the compiler.
    let mut has = String::new();
    for op in OPTIONAL_HOST_OPS {
        let probe = out_dir.join(format!("probe_{op}.c"));
        fs::write(&probe, format!("#include <lkl/asm/host_ops.h>\nunsigned long probe = __builtin_offsetof(struct lkl_host_operations, {op});\n")).unwrap();
        let ok = Command::new(&cc)
            .args(base_flags)
            .arg("-I")
            .arg(&include)
            .args(["-c", "-o"])
            .arg(out_dir.join("probe.o"))
            .arg(&probe)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}` for LKL's host-ops table: {e}"))
            .success();
        if ok {
            writeln!(has, "#define EMBOX_LKL_HAS_{op} 1").unwrap();
        }
    }
    let has_file = out_dir.join("lkl_host_ops_has.h");
    fs::write(&has_file, &has).unwrap();

    let object = out_dir.join("lkl_host_ops.o");
    let output = Command::new(&cc)
        .args(base_flags)
        .arg("-I")
        .arg(&include)
        .arg("-include")
        .arg(&has_file)
        .args(["-c", "-o"])
        .arg(&object)
        .arg(&source)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    if !output.status.success() {
        panic!(
            "compiling {} against {} failed (does this LKL tree's struct lkl_host_operations differ from the operations we implement?):\n{}",
            source.display(),
            include.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    println!("cargo:rustc-link-arg-bins={}", object.display());
    println!("cargo:rustc-link-arg-bins={}", lkl_o.display());
}
