//! Which kernels this CPU can run, found at run time (as llama.cpp does):
//! the binary is built for plain x86-64, so the SIMD kernels are compiled
//! with their own target features and may only run where detection says.

/// Proof that detection ran: private, so only `Kernel::available` makes the
/// SIMD variants and the `unsafe` calls they guard rest on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Detected(());

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kernel {
    /// Plain Rust on the exact (float) input.
    Scalar,
    /// AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2(Detected),
    /// AVX-512 F, BW and VL, plus AVX2 and FMA (the legacy formats' kernels).
    #[cfg(target_arch = "x86_64")]
    Avx512(Detected),
    /// The above and AVX-512 VNNI.
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni(Detected),
    /// The above and AMX tiles with int8 products, enabled for this process
    /// (the prefill of k-quants; decode stays on the vector kernels).
    #[cfg(target_arch = "x86_64")]
    Amx(Detected),
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub(super) fn detect() -> Self {
        static BEST: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| *Self::available().last().unwrap_or(&Kernel::Scalar))
    }

    /// The kernel's name without its proof of detection: "Avx512Vnni".
    pub(super) fn name(self) -> String {
        let name = format!("{self:?}");
        name.split('(').next().unwrap_or(&name).to_string()
    }

    /// Every kernel this CPU runs, slowest (scalar) first.
    pub(super) fn available() -> Vec<Kernel> {
        #[allow(unused_mut)]
        let mut kernels = vec![Kernel::Scalar];
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            kernels.push(Kernel::Avx2(Detected(())));
            if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512vl")
            {
                kernels.push(Kernel::Avx512(Detected(())));
                if std::is_x86_feature_detected!("avx512vnni") {
                    kernels.push(Kernel::Avx512Vnni(Detected(())));
                    if super::amx::available() {
                        kernels.push(Kernel::Amx(Detected(())));
                    }
                }
            }
        }
        kernels
    }
}
