//! The one place that names concrete backends: cargo features decide what is compiled in,
//! `--device` picks among them at run time.

use std::sync::{Arc, Mutex};

use anyhow::{Result, bail};
use burn::tensor::Device;
use clap::ValueEnum;

/// Backends `--device` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceChoice {
    /// The best compiled-in backend that works here: CUDA, then wgpu on a real GPU (not a
    /// software Vulkan driver), then flex, then ndarray.
    Auto,
    /// Pure-Rust CPU backend (the default build).
    Flex,
    /// Burn's older CPU backend (`--features ndarray`).
    Ndarray,
    /// Vulkan / Metal / DX12 through wgpu (`--features wgpu`).
    Wgpu,
    /// NVIDIA GPU (`--features cuda`; its build downloads an LLVM bundle).
    Cuda,
}

impl DeviceChoice {
    /// The backends this binary was built with, best first.
    pub fn compiled() -> Vec<DeviceChoice> {
        let mut all = Vec::new();
        if cfg!(feature = "cuda") {
            all.push(DeviceChoice::Cuda);
        }
        if cfg!(feature = "wgpu") {
            all.push(DeviceChoice::Wgpu);
        }
        if cfg!(feature = "flex") {
            all.push(DeviceChoice::Flex);
        }
        if cfg!(feature = "ndarray") {
            all.push(DeviceChoice::Ndarray);
        }
        all
    }

    /// How long rayon's threads should spin for work after each step on this backend: the
    /// own CPU kernels' parallel sections run on flex only (see [`crate::spin_wait`]).
    pub fn spin_wait(self) -> Option<std::time::Duration> {
        (self == DeviceChoice::Flex)
            .then(crate::spin_wait)
            .flatten()
    }

    fn feature(self) -> &'static str {
        match self {
            DeviceChoice::Auto => "auto",
            DeviceChoice::Flex => "flex",
            DeviceChoice::Ndarray => "ndarray",
            DeviceChoice::Wgpu => "wgpu",
            DeviceChoice::Cuda => "cuda",
        }
    }
}

/// The device for `choice`, checked by running one small operation on it.
pub fn open(choice: DeviceChoice) -> Result<(DeviceChoice, Device)> {
    if choice == DeviceChoice::Auto {
        let mut failures = Vec::new();
        for candidate in DeviceChoice::compiled() {
            let opened = if candidate == DeviceChoice::Wgpu {
                open_wgpu_hardware()
            } else {
                open(candidate)
            };
            match opened {
                Ok(found) => return Ok(found),
                Err(err) => {
                    // A binary built with CUDA was built to use it: say why `auto` passes it
                    // over instead of quietly training on the next backend.
                    if candidate == DeviceChoice::Cuda {
                        eprintln!("note: --device auto: {err:#}; trying the next backend");
                    }
                    failures.push(format!("{}: {err:#}", candidate.feature()))
                }
            }
        }
        bail!(
            "no compiled-in backend works on this machine ({})",
            failures.join("; ")
        );
    }
    let device = construct(choice)?;
    probe(&device).map_err(|reason| {
        anyhow::anyhow!(
            "the {} backend is compiled in but does not run here: {reason}",
            choice.feature()
        )
    })?;
    Ok((choice, device))
}

/// wgpu on a real GPU only: `auto` must not pick a software Vulkan driver (lavapipe,
/// llvmpipe), which trains tens of times slower than flex on the same cores. `--device wgpu`
/// takes whatever adapter wgpu prefers, software ones included.
fn open_wgpu_hardware() -> Result<(DeviceChoice, Device)> {
    #[cfg(feature = "wgpu")]
    {
        use burn::tensor::DeviceKind;
        let mut failures = Vec::new();
        for kind in [
            DeviceKind::DiscreteGpu(0),
            DeviceKind::IntegratedGpu(0),
            DeviceKind::VirtualGpu(0),
        ] {
            let device = Device::wgpu(kind.clone());
            match probe(&device) {
                Ok(()) => return Ok((DeviceChoice::Wgpu, device)),
                Err(reason) => failures.push(format!("{kind:?}: {reason}")),
            }
        }
        bail!("no GPU adapter ({})", failures.join("; "))
    }
    #[cfg(not(feature = "wgpu"))]
    construct(DeviceChoice::Wgpu).map(|d| (DeviceChoice::Wgpu, d))
}

fn construct(choice: DeviceChoice) -> Result<Device> {
    let missing = || {
        anyhow::anyhow!(
            "this binary was built without the `{0}` backend; rebuild with `cargo run --release -p cli --features {0} -- ...` (compiled in: {1})",
            choice.feature(),
            DeviceChoice::compiled()
                .iter()
                .map(|c| c.feature())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    match choice {
        DeviceChoice::Auto => unreachable!("resolved by open"),
        DeviceChoice::Flex => {
            #[cfg(feature = "flex")]
            return Ok(Device::flex());
            #[cfg(not(feature = "flex"))]
            Err(missing())
        }
        DeviceChoice::Ndarray => {
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)] // still offered for comparison
            return Ok(Device::ndarray());
            #[cfg(not(feature = "ndarray"))]
            Err(missing())
        }
        DeviceChoice::Wgpu => {
            #[cfg(feature = "wgpu")]
            return Ok(Device::wgpu(Default::default()));
            #[cfg(not(feature = "wgpu"))]
            Err(missing())
        }
        DeviceChoice::Cuda => {
            #[cfg(feature = "cuda")]
            return cuda_ready().map(|()| Device::cuda(0));
            #[cfg(not(feature = "cuda"))]
            Err(missing())
        }
    }
}

/// Asks the NVIDIA driver whether CUDA can run here before Burn's runtime is started: that
/// runtime initialises the device on a thread of its own and unwraps every driver call there, so
/// without a working driver the caller sees only the thread's death (`RecvError`). The probe
/// (crate `cuda-probe`) names what is missing: the driver's library, a device, a new enough
/// driver, and what to do.
#[cfg(feature = "cuda")]
fn cuda_ready() -> Result<()> {
    let others: Vec<String> = DeviceChoice::compiled()
        .into_iter()
        .filter(|c| *c != DeviceChoice::Cuda)
        .map(|c| format!("--device {}", c.feature()))
        .collect();
    cuda_probe::probe().map(|_| ()).map_err(|err| {
        let instead = if others.is_empty() {
            String::new()
        } else {
            format!(
                " (or use another backend of this binary: {})",
                others.join(", ")
            )
        };
        anyhow::anyhow!("the cuda backend is compiled in but does not run here: {err}{instead}")
    })
}

/// GPU runtimes panic when no adapter or driver is found; turn that into an error. The panic
/// that says why may happen on a thread of the runtime's own, the caller then seeing only a
/// closed channel (`RecvError`): the first panic message of any thread during the probe is the
/// reason given.
fn probe(device: &Device) -> std::result::Result<(), String> {
    let device = device.clone();
    let first: Arc<Mutex<Option<String>>> = Arc::default();
    let hook = std::panic::take_hook();
    let seen = Arc::clone(&first);
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut first) = seen.lock() {
            first.get_or_insert_with(|| panic_text(info.payload()));
        }
    }));
    let outcome = std::panic::catch_unwind(move || {
        let x = burn::tensor::Tensor::<1>::ones([4], &device);
        x.sum().into_scalar::<f32>() as f64
    });
    std::panic::set_hook(hook);
    match outcome {
        Ok(sum) if (sum - 4.0).abs() < 1e-6 => Ok(()),
        Ok(sum) => Err(format!("a test sum gave {sum} instead of 4")),
        Err(panic) => Err(first
            .lock()
            .ok()
            .and_then(|mut first| first.take())
            .unwrap_or_else(|| panic_text(&*panic))),
    }
}

/// A panic's message, when it has one.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "it panicked while starting".to_string())
}
