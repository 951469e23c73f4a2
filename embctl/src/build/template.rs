//! Kernel configuration templates, in Embox's spirit: each folder
//! `kernel/templates/<name>/` with a `template.toml` is one configuration
//! (`x86/qemu`, `x86/lkl-qemu`, …). The kernel's own build script reads the
//! same file through `EMBOX_TEMPLATE_DIR`; embctl reads it for what it
//! decides itself: cargo features, QEMU memory, whether LKL is built.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::workspace::Workspace;

/// The template `embctl build` and `embctl run` use without `--template`.
pub const DEFAULT_TEMPLATE: &str = "x86/qemu";
const FILE_NAME: &str = "template.toml";

/// One parsed `template.toml`. Unknown keys are allowed: they belong to the
/// kernel's build script.
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateConfig {
    pub description: String,
    #[serde(default)]
    pub kernel: KernelSection,
    #[serde(default)]
    pub qemu: QemuSection,
    #[serde(default)]
    pub lkl: LklSection,
    #[serde(default)]
    pub rootfs: RootfsSection,
}

/// `[rootfs]`: what goes into the initramfs besides `rootfs/`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RootfsSection {
    /// Debian i386 packages, unpacked with their library dependencies
    /// (`build::packages`).
    #[serde(default)]
    pub packages: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct KernelSection {
    pub heap_kib: Option<u32>,
    pub timer_hz: Option<u32>,
    /// Cargo features of the `embox` crate.
    #[serde(default)]
    pub features: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct QemuSection {
    #[serde(default = "default_memory_mib")]
    pub memory_mib: u32,
}

impl Default for QemuSection {
    fn default() -> Self {
        Self { memory_mib: default_memory_mib() }
    }
}

fn default_memory_mib() -> u32 {
    128
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LklSection {
    #[serde(default)]
    pub enabled: bool,
}

/// A template found in the workspace.
#[derive(Debug, Clone)]
pub struct Template {
    /// `x86/qemu`: the folder under `kernel/templates/`.
    pub name: String,
    pub config: TemplateConfig,
}

impl TemplateConfig {
    /// The parameters in one line: `heap 8192 KiB, timer 1000 Hz, QEMU 128 MiB, LKL off`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(kib) = self.kernel.heap_kib {
            parts.push(format!("heap {kib} KiB"));
        }
        if let Some(hz) = self.kernel.timer_hz {
            parts.push(format!("timer {hz} Hz"));
        }
        parts.push(format!("QEMU {} MiB", self.qemu.memory_mib));
        parts.push(format!("LKL {}", if self.lkl.enabled { "on" } else { "off" }));
        if !self.rootfs.packages.is_empty() {
            parts.push(format!("packages {}", self.rootfs.packages.join(",")));
        }
        if !self.kernel.features.is_empty() {
            parts.push(format!("features {}", self.kernel.features.join(",")));
        }
        parts.join(", ")
    }
}

impl Template {
    /// The template directory as the build container sees it (workspace at /ws).
    pub fn container_dir(&self) -> String {
        format!("/ws/kernel/templates/{}", self.name)
    }
}

pub fn templates_dir(ws: &Workspace) -> PathBuf {
    ws.kernel_dir().join("templates")
}

/// Every template under `kernel/templates/`, sorted by name.
pub fn discover(ws: &Workspace) -> Result<Vec<Template>> {
    let root = templates_dir(ws);
    if !root.is_dir() {
        bail!("no templates folder at {}; the kernel's configurations live there as <name>/template.toml", root.display());
    }
    let mut found = Vec::new();
    collect(&root, &root, &mut found)?;
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn collect(root: &Path, dir: &Path, found: &mut Vec<Template>) -> Result<()> {
    let file = dir.join(FILE_NAME);
    if file.is_file() {
        let name = dir
            .strip_prefix(root)
            .expect("walk stays under root")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        found.push(Template { name, config: parse(&file)? });
    }
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            collect(root, &entry.path(), found)?;
        }
    }
    Ok(())
}

fn parse(file: &Path) -> Result<TemplateConfig> {
    let text = fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid template (expected description, [kernel], [qemu], [lkl])", file.display()))
}

impl TemplateConfig {
    /// The kernel's heap, as the kernel's build script resolves it.
    pub fn heap_kib(&self) -> u32 {
        self.kernel.heap_kib.unwrap_or(crate::qemu::DEFAULT_HEAP_KIB)
    }

    /// The ranges the kernel's build script accepts (kernel/kernel/build.rs), and
    /// a QEMU memory that can hold the heap: checked here so a bad value gets a
    /// reason instead of a panic inside cargo's output or a kernel that cannot boot.
    fn validate(&self, file: &Path) -> Result<()> {
        let check = |key: &str, value: Option<u32>, range: std::ops::RangeInclusive<u32>| match value {
            Some(v) if !range.contains(&v) => {
                bail!("{}: [kernel] {key} = {v} is out of range {}..={}", file.display(), range.start(), range.end())
            }
            _ => Ok(()),
        };
        check("heap_kib", self.kernel.heap_kib, 256..=524_288)?;
        for name in &self.rootfs.packages {
            if !super::packages::is_package_name(name) {
                bail!(
                    "{}: [rootfs] packages: {name:?} is not a Debian package name (lower-case letters, digits, + - .; e.g. \"coreutils\")",
                    file.display()
                );
            }
        }
        check("timer_hz", self.kernel.timer_hz, 19..=10_000)?;
        crate::qemu::check_memory(self.qemu.memory_mib, self.heap_kib(), 0, "[qemu] memory_mib")
            .map_err(|why| anyhow::anyhow!("{}: {why}", file.display()))
    }
}

/// The template called `name` (validated), or an error that lists the available ones.
pub fn find(ws: &Workspace, name: &str) -> Result<Template> {
    let all = discover(ws)?;
    let wanted = name.trim_matches('/');
    if let Some(t) = all.iter().find(|t| t.name == wanted) {
        t.config.validate(&templates_dir(ws).join(&t.name).join("template.toml"))?;
        return Ok(t.clone());
    }
    let names: Vec<_> = all.iter().map(|t| t.name.as_str()).collect();
    bail!(
        "unknown template {name:?}; available: {} (see `embctl templates`)",
        if names.is_empty() { "none".to_string() } else { names.join(", ") }
    )
}

/// `embctl templates`: one line per template, like Embox's `make confload`.
pub fn list(ws: &Workspace) -> Result<()> {
    let all = discover(ws)?;
    let width = all.iter().map(|t| t.name.len()).max().unwrap_or(0);
    for t in &all {
        let mark = if t.name == DEFAULT_TEMPLATE { " (default)" } else { "" };
        crate::ui::print_line(format_args!("{:width$}  {}{mark}", t.name, t.config.description));
        crate::ui::print_line(format_args!("{:width$}  {}", "", t.config.summary()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws_with(templates: &[(&str, &str)]) -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in templates {
            let d = dir.path().join("kernel/templates").join(name);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join(FILE_NAME), body).unwrap();
        }
        let ws = Workspace { root: dir.path().to_path_buf() };
        (dir, ws)
    }

    #[test]
    fn discovers_nested_templates_sorted_with_defaults() {
        let (_d, ws) = ws_with(&[
            ("x86/qemu", "description = \"plain\"\n[kernel]\nheap_kib = 4096\ntimer_hz = 1000\nfeatures = []\n[qemu]\nmemory_mib = 64\n"),
            ("x86/lkl-qemu", "description = \"with LKL\"\n[kernel]\nfeatures = [\"lkl\"]\n[lkl]\nenabled = true\nextra = 1\n"),
        ]);
        let all = discover(&ws).unwrap();
        let names: Vec<_> = all.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["x86/lkl-qemu", "x86/qemu"]);
        assert!(all[0].config.lkl.enabled);
        assert_eq!(all[0].config.kernel.features, ["lkl"]);
        assert_eq!(all[0].config.qemu.memory_mib, 128, "default memory");
        assert_eq!(all[1].config.qemu.memory_mib, 64);
        assert_eq!(all[1].container_dir(), "/ws/kernel/templates/x86/qemu");
        assert_eq!(all[1].config.summary(), "heap 4096 KiB, timer 1000 Hz, QEMU 64 MiB, LKL off");
        assert_eq!(all[0].config.summary(), "QEMU 128 MiB, LKL on, features lkl");
    }

    #[test]
    fn unknown_template_lists_available() {
        let (_d, ws) = ws_with(&[("x86/qemu", "description = \"d\"\n")]);
        let err = find(&ws, "arm/nope").unwrap_err().to_string();
        assert!(err.contains("unknown template \"arm/nope\"") && err.contains("x86/qemu"), "{err}");
        assert_eq!(find(&ws, "x86/qemu/").unwrap().name, "x86/qemu");
    }

    #[test]
    fn bad_toml_names_the_file() {
        let (_d, ws) = ws_with(&[("bad", "description = \n")]);
        let err = format!("{:#}", discover(&ws).unwrap_err());
        assert!(err.contains("bad/template.toml"), "{err}");
    }

    #[test]
    fn template_values_that_cannot_build_or_boot_are_refused_with_the_reason() {
        let file = Path::new("kernel/templates/x/template.toml");
        let config = |text: &str| -> TemplateConfig { toml::from_str(text).unwrap() };
        let err = |text: &str| format!("{:#}", config(text).validate(file).unwrap_err());
        assert!(err("description = \"d\"\n[qemu]\nmemory_mib = 0\n").contains("memory_mib = 0 MiB is too little"));
        assert!(err("description = \"d\"\n[qemu]\nmemory_mib = 12\n").contains("at least 13 MiB"));
        assert!(err("description = \"d\"\n[kernel]\nheap_kib = 0\n").contains("[kernel] heap_kib = 0 is out of range 256..=524288"));
        assert!(err("description = \"d\"\n[kernel]\ntimer_hz = 5\n").contains("timer_hz = 5 is out of range"));
        assert!(err("description = \"d\"\n[qemu]\nmemory_mib = 4096\n").contains("at most 2047 MiB"));
        assert!(err("description = \"d\"\n[kernel]\nheap_kib = 65536\n[qemu]\nmemory_mib = 64\n").contains("at least 69 MiB"));
        config("description = \"d\"\n[kernel]\nheap_kib = 8192\n[qemu]\nmemory_mib = 128\n").validate(file).unwrap();
    }
}
