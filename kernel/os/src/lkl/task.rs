//! Each Linux process its own LKL process, each of its threads a thread of
//! that LKL process.
//!
//! LKL finds the host task a forwarded call runs in through its TLS key
//! (`tls_get(task_key)`), and a thread without one gets a new host task on
//! its first call: in LKL 6.0 always a `CLONE_THREAD` thread of `host0`, so
//! every program would share one LKL pid, `/proc/self` and signal state, and
//! start with host0's credentials. With `patches/lkl-tree/host-task-clone.patch`
//! LKL has `host_task_clone(thread, &task)`: the calling thread clones its
//! own host task, as a new process (its child: credentials copied) or as a
//! thread of its group. So `fork` and `load_app` clone a process in the
//! caller's context and `clone(CLONE_THREAD)` a thread, and the new task is
//! handed to the new thread's TLS before it runs ([`HostTask::hand_to`]);
//! when the thread ends, LKL's own TLS destructor (`del_host_task`) ends the
//! LKL task. LKL's processes are children of host0's group, which ignores
//! SIGCHLD ([`init`]), so an ended one is reaped at once and LKL's task count
//! stays flat. An LKL without the patch answers ENOSYS, and every thread
//! keeps LKL's own per-thread host task.

use super::Arg;
use crate::hal::sync::IrqMutex;
use crate::sched::Pid;
use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicBool, Ordering};

/// `__NR_arch_specific_syscall + 1`, added by host-task-clone.patch.
const NR_HOST_TASK_CLONE: u32 = 245;
#[cfg(feature = "lkl")]
const NR_RT_SIGACTION: u32 = 134;
const NR_PRCTL: u32 = 167;
const ENOSYS: isize = 38;

/// Cleared when LKL lacks `host_task_clone`.
static SUPPORTED: AtomicBool = AtomicBool::new(true);

/// Our task -> its LKL task's (thread group id, thread id), for `ps`.
static IDS: IrqMutex<BTreeMap<Pid, (i32, i32)>> = IrqMutex::new(BTreeMap::new());

/// At the end of LKL's boot (in the boot task, a thread of host0): host0's
/// group ignores SIGCHLD, and so do the processes cloned from it, so LKL
/// reaps every ended LKL process itself. And it is their child subreaper:
/// LKL has no init to adopt orphans (it sets `child_reaper` to NULL), so
/// without one the children of an LKL process that ends first would be
/// left with no parent, and LKL would fault when they end.
#[cfg(feature = "lkl")]
pub(super) fn init() {
    const SIGCHLD: isize = 17;
    const SIG_IGN: u32 = 1;
    const PR_SET_CHILD_SUBREAPER: isize = 36;
    let mut action = [0u8; 32];
    action[..4].copy_from_slice(&SIG_IGN.to_le_bytes());
    let ignored = crate::hal::lkl::kernel::syscall(NR_RT_SIGACTION, &mut [Arg::Int(SIGCHLD), Arg::In(&action), Arg::Null, Arg::Int(8)]);
    let subreaper = crate::hal::lkl::kernel::syscall(NR_PRCTL, &mut [Arg::Int(PR_SET_CHILD_SUBREAPER), Arg::Int(1)]);
    if ignored < 0 || subreaper < 0 {
        crate::klog!(
            "lkl: setting up host0 as the reaper of LKL processes failed ({ignored}, {subreaper}); programs share LKL's host0 process"
        );
        SUPPORTED.store(false, Ordering::Relaxed);
    }
}

/// A new LKL host task, not yet handed to a thread: ended when dropped.
pub struct HostTask {
    task: usize,
    ids: (i32, i32),
}

/// Clones the caller's LKL host task: a new LKL process (`thread` false) or
/// a thread of the caller's LKL process. None when LKL is not up, lacks
/// `host_task_clone`, or failed (the new thread then gets LKL's own
/// per-thread host task on its first call). May sleep: call with interrupts
/// enabled.
pub fn clone(thread: bool) -> Option<HostTask> {
    if !super::is_up() || !SUPPORTED.load(Ordering::Relaxed) {
        return None;
    }
    let mut out = [0u8; core::mem::size_of::<usize>()];
    let tid = super::syscall(NR_HOST_TASK_CLONE, &mut [Arg::Int(thread as isize), Arg::Out(&mut out)]).ok()?;
    if tid == -ENOSYS {
        SUPPORTED.store(false, Ordering::Relaxed);
        crate::klog!("lkl: this LKL has no host_task_clone (patches/lkl-tree not applied): programs share LKL's host0 process");
        return None;
    }
    let task = usize::from_le_bytes(out);
    if tid <= 0 || task == 0 {
        crate::klog::record(format_args!("lkl: host_task_clone failed ({tid})"));
        return None;
    }
    let tgid = if thread { IDS.lock().get(&crate::sched::current_pid()).map_or(0, |ids| ids.0) } else { tid as i32 };
    Some(HostTask { task, ids: (tgid, tid as i32) })
}

impl HostTask {
    /// Makes the task `pid`'s LKL host task (its first forwarded call runs
    /// there). `pid` must not have run yet. Never blocks.
    pub fn hand_to(self, pid: Pid) {
        let this = core::mem::ManuallyDrop::new(self);
        if super::host::set_task_of(pid, this.task) {
            IDS.lock().insert(pid, this.ids);
        } else {
            // No task key yet (cannot be once LKL is up) or no such task.
            super::host::end_task(this.task);
        }
    }
}

impl Drop for HostTask {
    /// Never handed over (the new thread could not be made): LKL's
    /// destructor ends the task, run by the caller's thread.
    fn drop(&mut self) {
        super::host::end_task(self.task);
    }
}

/// Names the caller's LKL process after its program (`Name:` in LKL's
/// /proc/self/status, LKL's `ps`), as exec does on Linux; LKL keeps 15
/// bytes.
pub fn name(program: &str) {
    if !super::is_up() || !SUPPORTED.load(Ordering::Relaxed) {
        return;
    }
    const PR_SET_NAME: isize = 15;
    let mut comm = [0u8; 16];
    let n = program.len().min(15);
    comm[..n].copy_from_slice(&program.as_bytes()[..n]);
    let _ = super::syscall(NR_PRCTL, &mut [Arg::Int(PR_SET_NAME), Arg::In(&comm)]);
}

/// The LKL (thread group id, thread id) of `pid`'s host task, when we made
/// it (0 for an unknown group id).
pub fn ids(pid: Pid) -> Option<(i32, i32)> {
    IDS.lock().get(&pid).copied()
}

/// Task `pid` ended.
pub(super) fn forget(pid: Pid) {
    IDS.lock().remove(&pid);
}
