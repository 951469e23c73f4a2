//! Fuzz targets (bolero). `cargo test` runs each on its seed corpus in
//! `src/__fuzz__/` and one second of random inputs; `cargo bolero test
//! embox_elf::fuzz::fuzz_plan` fuzzes with libFuzzer. Nothing a file holds
//! may panic the planner or the stack builder.

use crate::plan::tests::LIMITS;
use crate::{build_stack, head_len, plan, plan_head, StackInfo};

#[test]
fn fuzz_plan() {
    bolero::check!().for_each(|image: &[u8]| {
        let whole = plan(image, &LIMITS);
        // Planning from the head the loader reads gives the same answer.
        let head = &image[..head_len(&image[..image.len().min(52)]).min(image.len())];
        assert_eq!(plan_head(head, image.len(), &LIMITS).map(|p| p.segments), whole.clone().map(|p| p.segments));
        if let Ok(plan) = whole {
            let runs = plan.page_runs();
            for pair in runs.windows(2) {
                assert!(pair[0].start + pair[0].pages * crate::PAGE_SIZE <= pair[1].start, "runs overlap: {runs:?}");
            }
            for seg in &plan.segments {
                assert!(seg.vaddr >= LIMITS.start && seg.end() <= LIMITS.end);
            }
        }
    });
}

#[test]
fn fuzz_stack() {
    bolero::check!().for_each(|input: &[u8]| {
        let plan = plan(&crate::plan::tests::static_exec(), &LIMITS).expect("the test image plans");
        // Arguments and environment: the input split at 0xff bytes, the
        // first half argv, the rest envp (NUL bytes inside are an error).
        let pieces: Vec<&[u8]> = input.split(|&b| b == 0xff).collect();
        let (args, env) = pieces.split_at(pieces.len() / 2);
        let info = StackInfo::root(args, env, b"/bin/fuzz", [7; 16], 0);
        let limit = 1 + input.first().copied().unwrap_or(0) as usize * 64;
        if let Ok(stack) = build_stack(0xbfff_f000, limit, &plan, &info) {
            assert!(stack.bytes.len() <= limit, "the stack image exceeds its limit");
            assert_eq!(stack.sp as usize + stack.bytes.len(), 0xbfff_f000);
            assert_eq!(stack.sp % 16, 0, "the initial sp is 16-byte aligned");
        }
    });
}
