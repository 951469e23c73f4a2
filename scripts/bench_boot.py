#!/usr/bin/env python3
"""Boot benchmark, run *inside* the build image by scripts/bench-boot.sh so the
container's own start-up is not counted.

Boots the kernel RUNS times with the QEMU command line embctl uses (passed in
after `--`; more lines with `--boot LABEL LINE`, booted in turn), and per run
measures:
  wall   QEMU process start -> `embox> ` on the serial console (host clock),
         and -> the first console byte (the kernel prints its first line
         after the hal's start-up); minus the kernel's own figure below:
         QEMU's start-up and the firmware's, to the kernel's first instruction
  kernel kernel entry -> prompt: the last kernel-log timestamp before the
         prompt ([ s.us ] lines count from the kernel's first instruction)
then types `poweroff` and requires QEMU's exit status 33 (isa-debug-exit 0x10).
"""
import argparse, os, re, select, shlex, statistics, subprocess, sys, time

PROMPT = b"embox> "
STAMP = re.compile(rb"\[\s*(\d+\.\d+)\]")

def boot_once(argv, timeout):
    start = time.perf_counter()
    qemu = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    console = b""
    first_byte = None
    deadline = start + timeout
    while PROMPT not in console:
        left = deadline - time.perf_counter()
        if left <= 0 or not select.select([qemu.stdout], [], [], left)[0]:
            qemu.kill()
            sys.exit(f"no prompt within {timeout}s; console:\n{console.decode(errors='replace')}")
        chunk = os.read(qemu.stdout.fileno(), 65536)
        if not chunk:
            sys.exit(f"QEMU exited ({qemu.wait()}) before the prompt; console:\n{console.decode(errors='replace')}")
        if first_byte is None:
            first_byte = time.perf_counter() - start
        console += chunk
    wall = time.perf_counter() - start
    stamps = STAMP.findall(console[: console.index(PROMPT)])
    kernel = float(stamps[-1]) if stamps else float("nan")
    qemu.stdin.write(b"poweroff\n")
    qemu.stdin.flush()
    try:
        status = qemu.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        qemu.kill()
        sys.exit("`poweroff` did not end QEMU")
    if status != 33:
        sys.exit(f"QEMU exited with {status}, expected 33 (poweroff)")
    return wall, kernel, time.perf_counter() - start, first_byte

def ms(values):
    return "min {:7.1f}  median {:7.1f}  max {:7.1f} ms".format(
        min(values) * 1e3, statistics.median(values) * 1e3, max(values) * 1e3)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--label", default="")
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--boot", nargs=2, action="append", default=[], metavar=("LABEL", "LINE"),
                    help="another kernel/QEMU line (one shell-split string), booted in turn with the others")
    ap.add_argument("argv", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    boots = [(label, shlex.split(line)) for label, line in args.boot]
    if argv:
        boots.append((args.label, argv))
    for _, each in boots:
        boot_once(each, args.timeout)  # warm the page cache; not counted
    # In turn, so that the host's load changes hit every line alike.
    runs = {label: [] for label, _ in boots}
    for _ in range(args.runs):
        for label, each in boots:
            runs[label].append(boot_once(each, args.timeout))
    for label, _ in boots:
        print(f"{label}: {args.runs} boots")
        print(f"  QEMU start -> embox> prompt (wall):   {ms([r[0] for r in runs[label]])}")
        print(f"  QEMU start -> first console byte:     {ms([r[3] for r in runs[label]])}")
        print(f"  QEMU start -> kernel entry (wall - kernel log): {ms([r[0] - r[1] for r in runs[label]])}")
        print(f"  kernel entry -> prompt (kernel log):  {ms([r[1] for r in runs[label]])}")
        print(f"  QEMU start -> poweroff -> exit (wall): {ms([r[2] for r in runs[label]])}")

if __name__ == "__main__":
    main()
