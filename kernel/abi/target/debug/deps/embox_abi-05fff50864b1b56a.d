/work/main/kernel/abi/target/debug/deps/embox_abi-05fff50864b1b56a.d: src/lib.rs src/consts.rs src/errno.rs src/nr.rs src/types.rs

/work/main/kernel/abi/target/debug/deps/libembox_abi-05fff50864b1b56a.rlib: src/lib.rs src/consts.rs src/errno.rs src/nr.rs src/types.rs

/work/main/kernel/abi/target/debug/deps/libembox_abi-05fff50864b1b56a.rmeta: src/lib.rs src/consts.rs src/errno.rs src/nr.rs src/types.rs

src/lib.rs:
src/consts.rs:
src/errno.rs:
src/nr.rs:
src/types.rs:
