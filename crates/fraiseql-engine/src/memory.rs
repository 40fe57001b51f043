//! Giving freed memory back to the system after a wave of subscriptions ends.
//!
//! glibc's allocator keeps freed heap memory for reuse: after 100,000 subscriptions come and
//! go, tens of MiB stay resident although nothing uses them. Asking it to release its free
//! pages (`malloc_trim`) costs a few milliseconds, so the engine does it only when the number
//! of live subscriptions fell to a quarter of a high-water mark of at least [`WAVE_SIZE`], and
//! never while holding a lock.

/// Waves smaller than this are not worth a trim.
pub const WAVE_SIZE: usize = 10_000;

/// Returns free heap pages to the system where the allocator supports it (glibc); a no-op elsewhere.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
