#![no_main]

#[global_allocator]
static ALLOCATOR: gan_wgpu_fuzz::LargestAllocation = gan_wgpu_fuzz::LargestAllocation;

libfuzzer_sys::fuzz_target!(|data: &[u8]| gan_wgpu_fuzz::checkpoint(data));
