//! i386's `socketcall(call, args)` multiplexer, demultiplexed onto the
//! direct socket calls i386 has had since Linux 4.3 (359..=373), which
//! [`crate::route`] forwards. Call numbers and argument counts from
//! `include/uapi/linux/net.h` (`SYS_SOCKET`..`SYS_SENDMMSG`) and the
//! `nargs` table of `net/socket.c`.

use embox_abi::nr as i386;

/// The i386 call a `socketcall` stands for, with the arguments it reads
/// from the caller's array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Demux {
    /// The direct i386 syscall number.
    pub nr: u32,
    /// How many `unsigned long`s to read from the argument array.
    pub nargs: usize,
}

/// `socketcall`'s `call` argument as a direct call. The three calls i386
/// never got a number for are their general forms with the extra
/// arguments zero: `accept` = `accept4(.., 0)`, `send` = `sendto(.., NULL, 0)`,
/// `recv` = `recvfrom(.., NULL, NULL)` (the args array is zero-extended to six).
pub const fn demux(call: u32) -> Option<Demux> {
    let (nr, nargs) = match call {
        1 => (i386::SOCKET, 3),
        2 => (i386::BIND, 3),
        3 => (i386::CONNECT, 3),
        4 => (i386::LISTEN, 2),
        5 => (i386::ACCEPT4, 3),
        6 => (i386::GETSOCKNAME, 3),
        7 => (i386::GETPEERNAME, 3),
        8 => (i386::SOCKETPAIR, 4),
        9 => (i386::SENDTO, 4),
        10 => (i386::RECVFROM, 4),
        11 => (i386::SENDTO, 6),
        12 => (i386::RECVFROM, 6),
        13 => (i386::SHUTDOWN, 2),
        14 => (i386::SETSOCKOPT, 5),
        15 => (i386::GETSOCKOPT, 5),
        16 => (i386::SENDMSG, 3),
        17 => (i386::RECVMSG, 3),
        18 => (i386::ACCEPT4, 4),
        19 => (i386::RECVMMSG, 5),
        20 => (i386::SENDMMSG, 4),
        _ => return None,
    };
    Some(Demux { nr, nargs })
}

/// The six syscall arguments of a demultiplexed call from the `nargs`
/// values read from the user's array (the rest zero).
pub fn args_of(read: &[u32]) -> [u32; 6] {
    let mut out = [0u32; 6];
    for (o, v) in out.iter_mut().zip(read) {
        *o = *v;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_maps() {
        for call in 1..=20 {
            let d = demux(call).unwrap();
            assert!((2..=6).contains(&d.nargs), "{call}");
        }
        assert_eq!(demux(0), None);
        assert_eq!(demux(21), None);
    }

    #[test]
    fn the_calls_without_a_number_use_the_general_form() {
        assert_eq!(
            demux(5),
            Some(Demux {
                nr: i386::ACCEPT4,
                nargs: 3
            })
        );
        assert_eq!(
            demux(9),
            Some(Demux {
                nr: i386::SENDTO,
                nargs: 4
            })
        );
        assert_eq!(
            demux(10),
            Some(Demux {
                nr: i386::RECVFROM,
                nargs: 4
            })
        );
        // accept's flags, send's address and length read as zero
        assert_eq!(args_of(&[3, 0x1000, 0x2000]), [3, 0x1000, 0x2000, 0, 0, 0]);
    }

    #[test]
    fn direct_calls_are_forwarded() {
        for call in [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 18] {
            let d = demux(call).unwrap();
            assert!(
                crate::route::route(d.nr).is_some(),
                "socketcall {call} -> {} has no route",
                d.nr
            );
        }
    }
}
