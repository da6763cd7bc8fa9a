//! `gan-wgpu tune`: measure the kernel variants on an adapter and store the fastest.

use gan_wgpu::Overrides;
use gan_wgpu::tune::TuneMode;

use crate::device::DeviceArgs;
use crate::{Failure, bad_input, check_step_batch};

#[derive(clap::Args)]
pub struct TuneCommandArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
}

pub fn run(args: TuneCommandArgs) -> Result<(), Failure> {
    let TuneCommandArgs { device, batch_size } = args;
    check_step_batch(batch_size)?;
    if device
        .kernels
        .as_ref()
        .is_some_and(Overrides::sets_product_variant)
    {
        return Err(bad_input(
            "tune measures the products' variants; --kernels may set only by-plane and wide-loads here"
                .into(),
        ));
    }
    let gpu = device.open(TuneMode::Force, batch_size)?;
    for (key, variant) in &gpu.tuning().by_product {
        println!("  {key:50} {variant}");
    }
    Ok(())
}
