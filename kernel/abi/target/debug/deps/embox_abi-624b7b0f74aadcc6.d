/work/main/kernel/abi/target/debug/deps/embox_abi-624b7b0f74aadcc6.d: src/lib.rs src/consts.rs src/errno.rs src/nr.rs src/types.rs

/work/main/kernel/abi/target/debug/deps/embox_abi-624b7b0f74aadcc6: src/lib.rs src/consts.rs src/errno.rs src/nr.rs src/types.rs

src/lib.rs:
src/consts.rs:
src/errno.rs:
src/nr.rs:
src/types.rs:
