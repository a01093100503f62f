//! glibc allocator settings for processes that run the CPU path.

/// Keeps glibc's `malloc` from returning large blocks to the system between steps: raises the
/// mmap threshold (blocks above it are a fresh `mmap` on every allocation, page-faulted in on
/// first touch, and unmapped on free) and the trim threshold. This is what
/// `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` do, set from inside the process; candle
/// allocates every intermediate tensor anew, so a training step or a batch of 32 otherwise pays
/// page faults on each of its large tensors (docs/PERFORMANCE.md, "Fast CPU path").
///
/// Call it once, early in `main`, before threads allocate. Returns whether the settings were
/// applied: `false` off glibc (other allocators do not have this behaviour) or when glibc refused
/// them.
///
/// ```
/// // Safe to call more than once; the result does not change what the program computes.
/// let _applied = ceod_core::cpu::tune_allocator();
/// ```
pub fn tune_allocator() -> bool {
    imp::tune()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use std::ffi::c_int;

    // From glibc's <malloc.h>.
    const M_TRIM_THRESHOLD: c_int = -1;
    const M_MMAP_THRESHOLD: c_int = -3;

    unsafe extern "C" {
        fn mallopt(param: c_int, value: c_int) -> c_int;
    }

    pub(super) fn tune() -> bool {
        // glibc caps the mmap threshold (32 MiB on 64-bit systems): try 1 GiB, then the cap.
        // SAFETY: `mallopt` only changes allocator parameters; any value is accepted or refused
        // (return 0), never undefined behaviour.
        let mmap = unsafe {
            mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1 || mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
        };
        // SAFETY: as above.
        let trim = unsafe { mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 };
        mmap && trim
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub(super) fn tune() -> bool {
        false
    }
}
