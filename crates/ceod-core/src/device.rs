//! Choosing the compute device: `cpu`, `cuda:N`, `metal` or `auto`.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;

use crate::error::CoreError;

/// A device as written on a command line: `cpu`, `cuda` (= `cuda:0`), `cuda:N`, `metal` or `auto`.
///
/// `auto` takes the first CUDA device if this build has the `cuda` feature and a GPU is present,
/// then Metal likewise, and the CPU otherwise.
///
/// ```
/// use ceod_core::DeviceSpec;
///
/// let spec: DeviceSpec = "cuda:1".parse()?;
/// assert_eq!(spec, DeviceSpec::Cuda(1));
/// let cpu = "cpu".parse::<DeviceSpec>()?.device()?;
/// assert!(cpu.is_cpu());
/// # Ok::<(), ceod_core::CoreError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceSpec {
    /// The CPU.
    Cpu,
    /// The CUDA device with this ordinal (needs the `cuda` feature).
    Cuda(usize),
    /// The first Metal device (needs the `metal` feature).
    Metal,
    /// CUDA if available, then Metal, then the CPU.
    #[default]
    Auto,
}

impl DeviceSpec {
    /// Opens the device.
    ///
    /// # Errors
    /// [`CoreError::Device`] when this build lacks the backend's feature or the machine lacks the
    /// device.
    pub fn device(&self) -> Result<Device, CoreError> {
        let unavailable = |e: candle_core::Error| CoreError::Device {
            spec: self.to_string(),
            message: e.to_string(),
        };
        match *self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Cuda(n) => {
                if !candle_core::utils::cuda_is_available() {
                    return Err(CoreError::Device {
                        spec: self.to_string(),
                        message: "this build has no CUDA support (enable the `cuda` feature)"
                            .into(),
                    });
                }
                Device::new_cuda(n).map_err(unavailable)
            }
            DeviceSpec::Metal => {
                if !candle_core::utils::metal_is_available() {
                    return Err(CoreError::Device {
                        spec: self.to_string(),
                        message: "this build has no Metal support (enable the `metal` feature)"
                            .into(),
                    });
                }
                Device::new_metal(0).map_err(unavailable)
            }
            DeviceSpec::Auto => {
                if candle_core::utils::cuda_is_available()
                    && let Ok(d) = Device::new_cuda(0)
                {
                    return Ok(d);
                }
                if candle_core::utils::metal_is_available()
                    && let Ok(d) = Device::new_metal(0)
                {
                    return Ok(d);
                }
                Ok(Device::Cpu)
            }
        }
    }
}

impl FromStr for DeviceSpec {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => Ok(DeviceSpec::Cuda(0)),
            "metal" => Ok(DeviceSpec::Metal),
            "auto" => Ok(DeviceSpec::Auto),
            _ => match t.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(DeviceSpec::Cuda(n)),
                _ => Err(CoreError::Device {
                    spec: s.to_string(),
                    message: "expected `cpu`, `cuda`, `cuda:N`, `metal` or `auto`".into(),
                }),
            },
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
            DeviceSpec::Metal => write!(f, "metal"),
            DeviceSpec::Auto => write!(f, "auto"),
        }
    }
}

/// Opens the device named by `spec` (`cpu`, `cuda`, `cuda:N`, `metal`, `auto`).
///
/// ```
/// let dev = ceod_core::device("cpu")?;
/// assert!(dev.is_cpu());
/// assert!(ceod_core::device("tpu").is_err());
/// # Ok::<(), ceod_core::CoreError>(())
/// ```
///
/// # Errors
/// See [`DeviceSpec::device`]; an unparsable string is a [`CoreError::Device`] too.
pub fn device(spec: &str) -> Result<Device, CoreError> {
    spec.parse::<DeviceSpec>()?.device()
}
