//! Asks the NVIDIA driver, before Burn's CUDA backend starts, whether CUDA can run here, and says
//! in a sentence what is missing when it cannot: the driver's library, a device, a new enough
//! driver.
//!
//! Why a probe of our own: Burn's CUDA runtime initialises the device on a thread of its own and
//! unwraps every driver call, so on a machine without a working driver all the caller sees is
//! that thread's death (`RecvError`). This crate opens the driver's library at run time
//! (`libcuda.so.1`; nothing is linked, so a binary built with CUDA starts everywhere) and calls
//! the three entry points that decide it: `cuDriverGetVersion`, `cuInit(0)`, `cuDeviceGetCount`.
//!
//! Its own crate because it is FFI: the workspace denies `unsafe`, `arcface-core` forbids it,
//! `kernels` holds the CPU kernels' (a dependency of the model, which has no business loading
//! a GPU driver), and this code is the command line's alone. It is compiled and tested in every
//! build, with or without the `cuda` feature.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))] // a failed unwrap is a failed test

use std::ffi::{CStr, OsStr, c_char, c_int, c_uint};
use std::fmt;

/// The driver's library, as the NVIDIA driver installs it.
#[cfg(target_os = "windows")]
pub const DRIVER_LIBRARY: &str = "nvcuda.dll";
/// The driver's library, as the NVIDIA driver installs it.
#[cfg(not(target_os = "windows"))]
pub const DRIVER_LIBRARY: &str = "libcuda.so.1";

/// The oldest driver Burn's CUDA backend runs on: burn-cuda 0.22 requires CUDA 12.x, and
/// cubecl-cuda calls driver functions that appeared in 12.0 (`cuTensorMapEncodeTiled`).
pub const MIN_DRIVER: CudaVersion = CudaVersion(12000);

/// A CUDA version as the driver reports it: 12040 is 12.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CudaVersion(pub i32);

impl fmt::Display for CudaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0 / 1000, (self.0 % 1000) / 10)
    }
}

/// A working driver: what the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CudaDriver {
    /// The newest CUDA version the driver supports.
    pub version: CudaVersion,
    /// CUDA devices visible to this process (at least 1).
    pub devices: u32,
}

/// A driver call's failure: the `CUresult` and, when the driver could say, its name and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverError {
    pub code: i32,
    pub name: Option<String>,
    pub text: Option<String>,
}

impl fmt::Display for DriverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} ({})", self.code)?,
            None => write!(f, "error {}", self.code)?,
        }
        if let Some(text) = &self.text {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

// The `CUresult`s the probe tells apart (cuda.h).
const CUDA_SUCCESS: i32 = 0;
const CUDA_ERROR_STUB_LIBRARY: i32 = 34;
const CUDA_ERROR_INSUFFICIENT_DRIVER: i32 = 35;
const CUDA_ERROR_DEVICE_UNAVAILABLE: i32 = 46;
const CUDA_ERROR_NO_DEVICE: i32 = 100;
const CUDA_ERROR_OPERATING_SYSTEM: i32 = 304;
const CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: i32 = 803;
const CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE: i32 = 804;
const CUDA_ERROR_UNKNOWN: i32 = 999;

/// Why CUDA cannot run here. Each message names what is missing and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum CudaProbeError {
    #[error(
        "{library}, the CUDA library of NVIDIA's driver, cannot be loaded ({reason}): this machine has no NVIDIA driver, \
         or the library is not on the loader's path. Install the NVIDIA driver (Debian/Ubuntu: the `nvidia-driver` or \
         `libcuda1` package; in a container, start it with NVIDIA's container toolkit, e.g. `docker run --gpus all`), \
         then check with `nvidia-smi`"
    )]
    NoLibrary { library: String, reason: String },

    #[error(
        "{library} has no `{symbol}`, so it is not NVIDIA's driver library ({reason}): reinstall the NVIDIA driver"
    )]
    MissingSymbol {
        library: String,
        symbol: &'static str,
        reason: String,
    },

    #[error(
        "the NVIDIA driver (CUDA {version}) finds no CUDA device{code}: check `nvidia-smi`, and \
         CUDA_VISIBLE_DEVICES if it is set (an empty or wrong value hides every device)",
        version = version.map_or_else(|| "version unknown".to_string(), |v| v.to_string()),
        code = code.as_ref().map_or_else(String::new, |c| format!(" (cuInit: {c})"))
    )]
    NoDevice {
        version: Option<CudaVersion>,
        code: Option<DriverError>,
    },

    #[error(
        "the NVIDIA driver supports CUDA {found}, but Burn's CUDA backend needs CUDA {needed} or newer: update \
         the NVIDIA driver (release 525 or newer supports 12.0)",
        needed = MIN_DRIVER
    )]
    DriverTooOld { found: CudaVersion },

    #[error("the NVIDIA driver does not start (cuInit: {code}): {advice}")]
    InitFailed {
        code: DriverError,
        advice: &'static str,
    },

    #[error("the NVIDIA driver's {call} failed: {code}")]
    CallFailed {
        call: &'static str,
        code: DriverError,
    },

    #[error("CUDA does not exist on macOS: NVIDIA's driver is for Linux and Windows")]
    Unsupported,
}

/// Probes the driver this machine would give Burn: [`DRIVER_LIBRARY`].
pub fn probe() -> Result<CudaDriver, CudaProbeError> {
    if cfg!(target_os = "macos") {
        return Err(CudaProbeError::Unsupported);
    }
    probe_library(OsStr::new(DRIVER_LIBRARY))
}

/// Probes the driver library at `library` (a file name searched the loader's way, or a path).
pub fn probe_library(library: &OsStr) -> Result<CudaDriver, CudaProbeError> {
    let name = library.to_string_lossy().into_owned();
    let lib = ffi::Driver::open(library).map_err(|reason| CudaProbeError::NoLibrary {
        library: name.clone(),
        reason,
    })?;
    let missing = |(symbol, reason)| CudaProbeError::MissingSymbol {
        library: name.clone(),
        symbol,
        reason,
    };

    // The version first: the driver answers it before cuInit, and it makes the other failures
    // clearer.
    let asked_version = lib.driver_version().map_err(missing)?;
    let version = asked_version.ok();
    let init = lib.init().map_err(missing)?;
    if init != CUDA_SUCCESS {
        let code = lib.describe(init);
        return Err(match init {
            CUDA_ERROR_NO_DEVICE => CudaProbeError::NoDevice {
                version,
                code: Some(code),
            },
            CUDA_ERROR_INSUFFICIENT_DRIVER => match version {
                Some(found) if found < MIN_DRIVER => CudaProbeError::DriverTooOld { found },
                _ => CudaProbeError::InitFailed {
                    code,
                    advice: "the driver is too old for this program or does not match its kernel module: update the NVIDIA driver",
                },
            },
            other => CudaProbeError::InitFailed {
                code,
                advice: init_advice(other),
            },
        });
    }
    let version = match asked_version {
        Ok(v) => v,
        Err(code) => {
            return Err(CudaProbeError::CallFailed {
                call: "cuDriverGetVersion",
                code: lib.describe(code),
            });
        }
    };
    let devices = match lib.device_count().map_err(missing)? {
        Ok(n) => n,
        Err(code) => {
            return Err(CudaProbeError::CallFailed {
                call: "cuDeviceGetCount",
                code: lib.describe(code),
            });
        }
    };
    if devices <= 0 {
        return Err(CudaProbeError::NoDevice {
            version: Some(version),
            code: None,
        });
    }
    if version < MIN_DRIVER {
        return Err(CudaProbeError::DriverTooOld { found: version });
    }
    Ok(CudaDriver {
        version,
        devices: devices.unsigned_abs(),
    })
}

/// What to do when cuInit fails with `code` (other than "no device" and "too old").
fn init_advice(code: i32) -> &'static str {
    match code {
        CUDA_ERROR_STUB_LIBRARY => {
            "the library loaded is the CUDA toolkit's stub (a `stubs` folder on LD_LIBRARY_PATH), not the driver's: \
             take that folder off LD_LIBRARY_PATH, or install the NVIDIA driver"
        }
        CUDA_ERROR_SYSTEM_DRIVER_MISMATCH => {
            "libcuda and the loaded kernel module come from different driver versions: reboot after a driver \
             update, or reinstall the driver"
        }
        CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE => {
            "a CUDA forward-compatibility libcuda is loaded on a GPU that does not support it: take the `compat` \
             folder off LD_LIBRARY_PATH, or update the NVIDIA driver"
        }
        CUDA_ERROR_DEVICE_UNAVAILABLE => {
            "the GPU is busy or unavailable (in exclusive-process mode another process holds it): see `nvidia-smi`"
        }
        CUDA_ERROR_OPERATING_SYSTEM | CUDA_ERROR_UNKNOWN => {
            "check that the NVIDIA kernel module is loaded (`nvidia-smi` works) and that this user may open \
             /dev/nvidia*; in a container, start it with NVIDIA's container toolkit (`--gpus all`)"
        }
        _ => {
            "check the driver with `nvidia-smi`; reinstalling or updating the NVIDIA driver usually helps"
        }
    }
}

/// The FFI: all of this crate's `unsafe` code.
#[allow(unsafe_code)]
mod ffi {
    use super::*;
    use libloading::Library;

    // The driver API's signatures (cuda.h). `CUresult` is a C enum, an `int`; `extern "system"` is
    // the C convention on Linux and CUDAAPI (__stdcall, the same on x64) on Windows.
    type CuInit = unsafe extern "system" fn(flags: c_uint) -> c_int;
    type CuIntOut = unsafe extern "system" fn(out: *mut c_int) -> c_int;
    type CuErrorText = unsafe extern "system" fn(error: c_int, text: *mut *const c_char) -> c_int;

    /// The opened driver library. Never unloaded: once cuInit ran, the driver may have started
    /// threads of its own, and Burn's runtime opens the same library again anyway.
    pub struct Driver {
        lib: &'static Library,
    }

    type Missing = (&'static str, String);

    /// The loader's own words: libloading's error says only "dlopen failed" and keeps
    /// `dlerror()`'s message (which file, why) as its source.
    fn reason(error: &libloading::Error) -> String {
        match std::error::Error::source(error) {
            Some(source) => source.to_string(),
            None => error.to_string(),
        }
    }

    impl Driver {
        pub fn open(library: &OsStr) -> Result<Driver, String> {
            // SAFETY: loading a library runs its initialisers. NVIDIA's libcuda has none that
            // matter to this process, and any other library of that name is a broken install that
            // the load or the symbol checks below report.
            let lib = unsafe { Library::new(library) }.map_err(|e| reason(&e))?;
            Ok(Driver {
                lib: Box::leak(Box::new(lib)),
            })
        }

        fn symbol<T: Copy>(&self, name: &'static str) -> Result<T, Missing> {
            let mut with_nul = name.as_bytes().to_vec();
            with_nul.push(0);
            // SAFETY: every `T` this is called with is the function type cuda.h declares for
            // `name`; the symbol lives as long as the library, which is never unloaded.
            unsafe { self.lib.get::<T>(&with_nul[..]) }
                .map(|symbol| *symbol)
                .map_err(|e| (name, reason(&e)))
        }

        /// `cuDriverGetVersion`: the version, or the failing `CUresult`.
        pub fn driver_version(&self) -> Result<Result<CudaVersion, i32>, Missing> {
            let f: CuIntOut = self.symbol("cuDriverGetVersion")?;
            let mut version: c_int = 0;
            // SAFETY: the driver writes one int through a pointer to a live local.
            let status = unsafe { f(&mut version) };
            Ok(if status == CUDA_SUCCESS {
                Ok(CudaVersion(version))
            } else {
                Err(status)
            })
        }

        /// `cuInit(0)`: its `CUresult`.
        pub fn init(&self) -> Result<i32, Missing> {
            let f: CuInit = self.symbol("cuInit")?;
            // SAFETY: cuInit takes flags (0 is the only valid value) and may be called any number
            // of times, from any thread.
            Ok(unsafe { f(0) })
        }

        /// `cuDeviceGetCount`: the count, or the failing `CUresult`.
        pub fn device_count(&self) -> Result<Result<c_int, i32>, Missing> {
            let f: CuIntOut = self.symbol("cuDeviceGetCount")?;
            let mut count: c_int = 0;
            // SAFETY: the driver writes one int through a pointer to a live local.
            let status = unsafe { f(&mut count) };
            Ok(if status == CUDA_SUCCESS {
                Ok(count)
            } else {
                Err(status)
            })
        }

        /// `code` with the driver's own name and text for it, where it has them.
        pub fn describe(&self, code: i32) -> DriverError {
            DriverError {
                code,
                name: self.error_text("cuGetErrorName", code),
                text: self.error_text("cuGetErrorString", code),
            }
        }

        fn error_text(&self, call: &'static str, code: i32) -> Option<String> {
            let f: CuErrorText = self.symbol(call).ok()?;
            let mut text: *const c_char = std::ptr::null();
            // SAFETY: the driver stores a pointer to a static, NUL-terminated string (or returns
            // an error and leaves it null, checked before reading).
            let status = unsafe { f(code, &mut text) };
            if status != CUDA_SUCCESS || text.is_null() {
                return None;
            }
            // SAFETY: non-null and NUL-terminated, per cuda.h, and static.
            Some(
                unsafe { CStr::from_ptr(text) }
                    .to_string_lossy()
                    .into_owned(),
            )
        }
    }
}

#[cfg(test)]
mod tests;
