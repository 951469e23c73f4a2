//! Tests that compare against a real LKL tree are `#[ignore]`d unless
//! EMBCTL_LKL_TREE names one when they are compiled, so cargo reports them as
//! ignored, never as passed.
fn main() {
    println!("cargo:rustc-check-cfg=cfg(lkl_tree)");
    println!("cargo:rerun-if-env-changed=EMBCTL_LKL_TREE");
    if std::env::var_os("EMBCTL_LKL_TREE").is_some_and(|t| !t.is_empty()) {
        println!("cargo:rustc-cfg=lkl_tree");
    }
}
