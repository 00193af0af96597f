//! `model.device` -> a Burn device.
use burn::tensor::Device;

use crate::error::{Result, user};

/// `auto` and `cpu` run on Burn's flex CPU backend; CUDA needs a build with the `cuda` feature.
pub fn resolve(device: tsfm_config::Device) -> Result<Device> {
    match device {
        tsfm_config::Device::Auto | tsfm_config::Device::Cpu => Ok(Device::flex()),
        tsfm_config::Device::Cuda(n) => Err(user(format!(
            "model.device: cuda:{n} is not available in this build (CPU only); use `--device cpu`"
        ))),
    }
}
