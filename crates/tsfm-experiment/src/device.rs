//! `model.device` -> a Burn device.
use burn::tensor::Device;

use crate::error::Result;

/// `auto` and `cpu` run on Burn's flex CPU backend (`auto` never picks a GPU on its own: a run's
/// numbers should not depend on which machine it lands on); `cuda[:N]` needs a build with the
/// `cuda` feature.
pub fn resolve(device: tsfm_config::Device) -> Result<Device> {
    match device {
        tsfm_config::Device::Auto | tsfm_config::Device::Cpu => Ok(Device::flex()),
        tsfm_config::Device::Cuda(n) => cuda(n),
    }
}

/// CUDA device `n` (the driver is loaded when the first tensor is made there).
#[cfg(feature = "cuda")]
fn cuda(n: u32) -> Result<Device> {
    Ok(Device::cuda(n as usize))
}

#[cfg(not(feature = "cuda"))]
fn cuda(n: u32) -> Result<Device> {
    Err(crate::error::user(format!(
        "model.device: cuda:{n} is not available in this build (CPU only); use `--device cpu`, \
         or build with `cargo build --release --features cuda`"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_and_cpu_are_the_flex_backend() {
        for d in [tsfm_config::Device::Auto, tsfm_config::Device::Cpu] {
            assert_eq!(resolve(d).unwrap(), Device::flex());
        }
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_in_a_cpu_build_says_how_to_get_it() {
        let e = resolve(tsfm_config::Device::Cuda(1))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "model.device: cuda:1 is not available in this build (CPU only); use `--device cpu`, \
             or build with `cargo build --release --features cuda`"
        );
    }
}
