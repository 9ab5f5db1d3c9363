//! The probe against this machine's driver (none on the development machine and CI) and against
//! fake drivers: small C libraries with the driver's entry points, built here with the C compiler
//! that links Rust programs, each answering the way a broken installation does.

use super::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fake driver's answers.
struct Fake {
    version: i32,
    version_status: i32,
    init: i32,
    count: i32,
    /// Leave out `cuDeviceGetCount`, as a library that is not the driver would.
    without_count: bool,
    /// Leave out `cuGetErrorName`/`cuGetErrorString`.
    without_error_names: bool,
}

impl Default for Fake {
    fn default() -> Self {
        Fake {
            version: 12040,
            version_status: 0,
            init: 0,
            count: 1,
            without_count: false,
            without_error_names: false,
        }
    }
}

const FAKE_DRIVER: &str = r#"
static const char *name_of(int code) {
    switch (code) {
    case 34: return "CUDA_ERROR_STUB_LIBRARY";
    case 35: return "CUDA_ERROR_INSUFFICIENT_DRIVER";
    case 100: return "CUDA_ERROR_NO_DEVICE";
    case 999: return "CUDA_ERROR_UNKNOWN";
    default: return 0;
    }
}
int cuDriverGetVersion(int *v) { *v = VERSION; return VERSION_STATUS; }
int cuInit(unsigned int flags) { return flags == 0 ? INIT : 1; }
#ifndef WITHOUT_COUNT
int cuDeviceGetCount(int *n) { *n = COUNT; return 0; }
#endif
#ifndef WITHOUT_ERROR_NAMES
int cuGetErrorName(int code, const char **s) { *s = name_of(code); return *s ? 0 : 1; }
int cuGetErrorString(int code, const char **s) {
    *s = code == 100 ? "no CUDA-capable device is detected" : 0;
    return *s ? 0 : 1;
}
#endif
"#;

/// Builds `fake` as a shared library in `dir`; `None` (the test then skips, saying so) where no
/// C compiler is at hand: Rust's own linking needs one on Linux, so CI always has it.
fn build(dir: &Path, name: &str, fake: &Fake) -> Option<PathBuf> {
    if !cfg!(target_os = "linux") {
        eprintln!("skipped: the fake drivers are built for Linux only");
        return None;
    }
    let source = dir.join(format!("{name}.c"));
    std::fs::write(&source, FAKE_DRIVER).unwrap();
    let library = dir.join(format!("lib{name}.so"));
    let mut cc = Command::new(std::env::var_os("CC").unwrap_or_else(|| "cc".into()));
    cc.args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .arg(format!("-DVERSION={}", fake.version))
        .arg(format!("-DVERSION_STATUS={}", fake.version_status))
        .arg(format!("-DINIT={}", fake.init))
        .arg(format!("-DCOUNT={}", fake.count));
    if fake.without_count {
        cc.arg("-DWITHOUT_COUNT");
    }
    if fake.without_error_names {
        cc.arg("-DWITHOUT_ERROR_NAMES");
    }
    match cc.output() {
        Ok(out) if out.status.success() => Some(library),
        Ok(out) => panic!(
            "the fake driver did not compile:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => {
            eprintln!("skipped: no C compiler to build a fake driver ({e})");
            None
        }
    }
}

fn probe_fake(name: &str, fake: Fake) -> Option<Result<CudaDriver, CudaProbeError>> {
    let dir = tempfile::tempdir().unwrap();
    let library = build(dir.path(), name, &fake)?;
    Some(probe_library(library.as_os_str()))
}

#[test]
fn this_machine_either_has_a_driver_or_says_which_library_is_missing() {
    match probe() {
        Ok(driver) => {
            assert!(driver.devices >= 1);
            assert!(driver.version >= MIN_DRIVER);
        }
        Err(err @ CudaProbeError::NoLibrary { .. }) => {
            let message = err.to_string();
            assert!(message.contains(DRIVER_LIBRARY), "{message}");
            assert!(message.contains("Install the NVIDIA driver"), "{message}");
        }
        // A driver without a device, or a broken one: the message must still say what.
        Err(err) => assert!(err.to_string().contains("NVIDIA driver"), "{err}"),
    }
}

#[test]
fn a_library_that_is_not_there_is_named() {
    let err = probe_library(OsStr::new("libarcface-no-such-driver.so.1")).unwrap_err();
    assert!(matches!(err, CudaProbeError::NoLibrary { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with("libarcface-no-such-driver.so.1, the CUDA library of NVIDIA's driver, cannot be loaded ("),
        "{message}"
    );
    assert!(message.contains("nvidia-smi"), "{message}");
    // The loader's reason, not libloading's bare "dlopen failed".
    assert!(
        message.contains("cannot open shared object file"),
        "{message}"
    );
}

#[test]
fn a_working_driver_gives_its_version_and_devices() {
    let Some(found) = probe_fake(
        "cuda_ok",
        Fake {
            count: 2,
            ..Fake::default()
        },
    ) else {
        return;
    };
    assert_eq!(
        found.unwrap(),
        CudaDriver {
            version: CudaVersion(12040),
            devices: 2
        }
    );
}

#[test]
fn no_device_is_said_with_the_drivers_own_words() {
    let Some(found) = probe_fake(
        "cuda_nodev",
        Fake {
            init: 100,
            ..Fake::default()
        },
    ) else {
        return;
    };
    let err = found.unwrap_err();
    assert!(matches!(err, CudaProbeError::NoDevice { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the NVIDIA driver (CUDA 12.4) finds no CUDA device (cuInit: CUDA_ERROR_NO_DEVICE (100): no CUDA-capable \
         device is detected): check `nvidia-smi`, and CUDA_VISIBLE_DEVICES if it is set (an empty or wrong value \
         hides every device)"
    );
}

#[test]
fn zero_devices_after_a_good_init_is_no_device_too() {
    let Some(found) = probe_fake(
        "cuda_zero",
        Fake {
            count: 0,
            ..Fake::default()
        },
    ) else {
        return;
    };
    let err = found.unwrap_err().to_string();
    assert!(
        err.starts_with("the NVIDIA driver (CUDA 12.4) finds no CUDA device: "),
        "{err}"
    );
}

#[test]
fn an_old_driver_names_both_versions() {
    let Some(found) = probe_fake(
        "cuda_old",
        Fake {
            version: 11080,
            ..Fake::default()
        },
    ) else {
        return;
    };
    let err = found.unwrap_err();
    assert!(
        matches!(
            err,
            CudaProbeError::DriverTooOld {
                found: CudaVersion(11080)
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(
            "the NVIDIA driver supports CUDA 11.8, but Burn's CUDA backend needs CUDA 12.0 or newer"
        ),
        "{message}"
    );
}

#[test]
fn insufficient_driver_from_cuinit_is_too_old() {
    let Some(found) = probe_fake(
        "cuda_insufficient",
        Fake {
            version: 11040,
            init: 35,
            ..Fake::default()
        },
    ) else {
        return;
    };
    assert!(
        matches!(
            found,
            Err(CudaProbeError::DriverTooOld {
                found: CudaVersion(11040)
            })
        ),
        "{found:?}"
    );
}

#[test]
fn the_toolkit_stub_is_recognised() {
    let Some(found) = probe_fake(
        "cuda_stub",
        Fake {
            init: 34,
            ..Fake::default()
        },
    ) else {
        return;
    };
    let message = found.unwrap_err().to_string();
    assert!(
        message.starts_with(
            "the NVIDIA driver does not start (cuInit: CUDA_ERROR_STUB_LIBRARY (34)): "
        ),
        "{message}"
    );
    assert!(message.contains("stub"), "{message}");
}

#[test]
fn an_unnamed_failure_still_gives_its_code_and_advice() {
    let fake = Fake {
        init: 999,
        without_error_names: true,
        ..Fake::default()
    };
    let Some(found) = probe_fake("cuda_unknown", fake) else {
        return;
    };
    let message = found.unwrap_err().to_string();
    assert!(
        message.starts_with("the NVIDIA driver does not start (cuInit: error 999): "),
        "{message}"
    );
    assert!(message.contains("/dev/nvidia"), "{message}");
}

#[test]
fn a_library_without_the_drivers_entry_points_is_not_the_driver() {
    let Some(found) = probe_fake(
        "cuda_partial",
        Fake {
            without_count: true,
            ..Fake::default()
        },
    ) else {
        return;
    };
    let err = found.unwrap_err();
    assert!(
        matches!(
            err,
            CudaProbeError::MissingSymbol {
                symbol: "cuDeviceGetCount",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("reinstall the NVIDIA driver"),
        "{err}"
    );
}

#[test]
fn a_failing_version_query_is_reported() {
    let Some(found) = probe_fake(
        "cuda_noversion",
        Fake {
            version_status: 999,
            ..Fake::default()
        },
    ) else {
        return;
    };
    let message = found.unwrap_err().to_string();
    assert_eq!(
        message,
        "the NVIDIA driver's cuDriverGetVersion failed: CUDA_ERROR_UNKNOWN (999)"
    );
}

#[test]
fn versions_print_as_cuda_writes_them() {
    assert_eq!(CudaVersion(12040).to_string(), "12.4");
    assert_eq!(CudaVersion(11080).to_string(), "11.8");
    assert_eq!(CudaVersion(13000).to_string(), "13.0");
    assert_eq!(MIN_DRIVER.to_string(), "12.0");
}
