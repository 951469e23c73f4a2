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
use std::path::PathBuf;

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
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    fs::write(out_dir.join("config.rs"), out).unwrap();
}
