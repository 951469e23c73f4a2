//! The CMOS real-time clock, read once for the wall-clock time at boot
//! (`CLOCK_REALTIME` = that plus the monotonic clock).

use crate::port::Port;

// SAFETY: the CMOS index and data ports on the PC; only this module uses them.
const INDEX: Port<u8> = unsafe { Port::new(0x70) };
// SAFETY: as above.
const DATA: Port<u8> = unsafe { Port::new(0x71) };

fn read(reg: u8) -> u8 {
    INDEX.write(reg | 0x80); // bit 7: keep NMIs disabled while we talk to the chip
    DATA.read()
}

fn updating() -> bool {
    read(0x0a) & 0x80 != 0
}

/// Days from 1970-01-01 to the given civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the Unix epoch, as the RTC says now (it keeps UTC on QEMU).
pub fn unix_time() -> u64 {
    crate::cpu::without_interrupts(|| {
        // Read twice until equal, outside an update cycle, so no field rolls over mid-read.
        let snapshot = || {
            while updating() {}
            [read(0x00), read(0x02), read(0x04), read(0x07), read(0x08), read(0x09), read(0x32), read(0x0b)]
        };
        let mut r = snapshot();
        loop {
            let again = snapshot();
            if again == r {
                break;
            }
            r = again;
        }
        let status_b = r[7];
        let bcd = |v: u8| if status_b & 0x04 == 0 { (v & 0x0f) + (v >> 4) * 10 } else { v };
        let (sec, min) = (bcd(r[0]) as i64, bcd(r[1]) as i64);
        let hour_raw = r[2];
        let mut hour = bcd(hour_raw & 0x7f) as i64;
        if status_b & 0x02 == 0 && hour_raw & 0x80 != 0 {
            hour = (hour + 12) % 24; // 12-hour mode, PM
        }
        let (day, month) = (bcd(r[3]) as i64, bcd(r[4]) as i64);
        let century = match bcd(r[6]) {
            c @ 19..=21 => c as i64,
            _ => 20,
        };
        let year = century * 100 + bcd(r[5]) as i64;
        let days = days_from_civil(year, month, day);
        (days * 86_400 + hour * 3600 + min * 60 + sec).max(0) as u64
    })
}
