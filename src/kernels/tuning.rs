//! The tuning record: every choice of which kernel variant runs, in one place. It starts from what
//! suits the adapter's kind ([`Tuning::for_device`]), the tuner may fill in a choice per matrix
//! product, and a user may override any entry for an experiment ([`Overrides`], `--kernels`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::gpu::Device;

/// Workgroups a tiled matrix product should reach on a GPU before its depth is split: four per
/// multiprocessor of the largest cards (132 on an H100 or H200); smaller GPUs run a few more waves.
pub const SPLIT_TARGET_GPU: u32 = 528;

/// The two families of matrix-product kernels of Linear, Conv2d and ConvTranspose2d.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// shaders/gemm.wgsl's workgroup-memory tiles.
    Tiled,
    /// shaders/cpu/linear_subgroup.wgsl and conv_subgroup.wgsl, for the products they fit (others run
    /// tiled); needs subgroups of at least 8 lanes.
    Subgroup,
}

/// How one matrix product runs: its family, and the tiled kernels' constants and split of K. Every
/// field means something under either family: a product the subgroup kernels do not fit runs tiled,
/// with these (src/plan/). One struct rather than an enum of families for that reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Variant {
    pub family: Family,
    /// Outputs per invocation side in the tiled products (shaders/gemm.wgsl's GEMM_BLOCK): 4 or 8.
    pub block: u32,
    /// vec4s from one depth of a staged operand to the next (GEMM_PITCH): 17, or 16 unpadded.
    pub pitch: u32,
    /// Whether the tiled products load each slice while the one before is multiplied (GEMM_PREFETCH).
    pub prefetch: bool,
    /// Split the depth of a tiled product over workgroups until it has this many (0: never split).
    pub split_target: u32,
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.family {
            Family::Subgroup => write!(f, "subgroup"),
            Family::Tiled => {
                write!(f, "tiled block {}", self.block)?;
                if self.pitch != 17 {
                    write!(f, " pitch {}", self.pitch)?;
                }
                if self.prefetch {
                    write!(f, " prefetch")?;
                }
                match self.split_target {
                    0 => Ok(()),
                    t => write!(f, " split to {t}"),
                }
            }
        }
    }
}

/// A matrix product of the model as the tuner met it: its op (the layer's forward or backward
/// product) and shape, C[m×n] = A[m×k]·B[k×n].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProductKey {
    pub op: &'static str,
    pub shape: [usize; 3],
}

impl fmt::Display for ProductKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [m, n, k] = self.shape;
        write!(f, "{} {m}x{n}x{k}", self.op)
    }
}

/// Which kernel variants run on one device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// The variant of every matrix product without a choice of its own.
    pub products: Variant,
    /// The tuner's choices, by `ProductKey` as displayed ("linear_forward 128x1024x62").
    #[serde(default)]
    pub by_product: BTreeMap<String, Variant>,
    /// Whether BatchNorm and the bias gradient walk channels plane by plane (batchnorm.wgsl's and
    /// bias.wgsl's BY_PLANE, with fewer lanes per channel): CPU adapters' default; the tuner measures
    /// both walks.
    pub by_plane: bool,
    /// Whether Adam and the activations move eight floats per access (adam_u64.wgsl,
    /// activation_u64.wgsl): CPU adapters' default (they pay each access per lane and component); the
    /// tuner measures both widths.
    pub wide_loads: bool,
}

impl Tuning {
    /// What suits `device`'s kind before anything is measured: on CPU adapters with subgroups of 8 or
    /// more lanes the subgroup products, unsplit, walking channels plane by plane; everywhere else the
    /// 4×4 tiles, split to fill a large GPU. Eight-float accesses on CPU adapters with 64-bit integers.
    pub fn for_device(device: &Device) -> Tuning {
        let cpu = device.info.device_type == wgpu::DeviceType::Cpu;
        let subgroup = cpu && device.subgroups;
        let by_plane =
            subgroup && device.storage_buffers_per_kernel() >= super::STORAGE_BUFFERS_BY_PLANE;
        Tuning {
            products: Variant {
                family: if subgroup {
                    Family::Subgroup
                } else {
                    Family::Tiled
                },
                block: 4,
                pitch: 17,
                prefetch: false,
                split_target: if cpu { 0 } else { SPLIT_TARGET_GPU },
            },
            by_product: BTreeMap::new(),
            by_plane,
            wide_loads: cpu && device.int64,
        }
    }

    /// The variant `product` runs.
    pub fn variant(&self, product: &ProductKey) -> Variant {
        self.by_product
            .get(&product.to_string())
            .copied()
            .unwrap_or(self.products)
    }

    /// Whether any product runs on the subgroup kernels.
    pub fn uses_subgroup_kernels(&self) -> bool {
        std::iter::once(&self.products)
            .chain(self.by_product.values())
            .any(|v| v.family == Family::Subgroup)
    }

    /// The record with `overrides` applied. Any override of a product's variant replaces the
    /// per-product choices (the experiment is then the same on every product). A choice the device
    /// cannot run (subgroup kernels without subgroups, eight-float accesses without 64-bit integers,
    /// plane-by-plane walks without twelve storage buffers a kernel) is
    /// refused with the reason.
    pub fn with(mut self, overrides: &Overrides, device: &Device) -> Result<Tuning, String> {
        let products = &mut self.products;
        let mut any = false;
        let mut set = |field: &mut u32, value: Option<u32>| {
            if let Some(v) = value {
                *field = v;
                any = true;
            }
        };
        set(&mut products.block, overrides.block);
        set(&mut products.pitch, overrides.pitch);
        set(&mut products.split_target, overrides.split_target);
        if let Some(p) = overrides.prefetch {
            products.prefetch = p;
            any = true;
        }
        if let Some(family) = overrides.family {
            if family == Family::Subgroup && !device.subgroups {
                return Err(format!(
                    "products=subgroup: {} has no subgroups of 8 or more lanes",
                    device.info.name
                ));
            }
            products.family = family;
            any = true;
        }
        if any {
            self.by_product.clear();
        }
        if let Some(by_plane) = overrides.by_plane {
            let has = device.storage_buffers_per_kernel();
            if by_plane && has < super::STORAGE_BUFFERS_BY_PLANE {
                return Err(format!(
                    "by-plane=on: {} allows {has} storage buffers a kernel; the plane-by-plane \
                     BatchNorm binds {}",
                    device.info.name,
                    super::STORAGE_BUFFERS_BY_PLANE
                ));
            }
            self.by_plane = by_plane;
        }
        if let Some(wide) = overrides.wide_loads {
            if wide && !device.int64 {
                return Err(format!(
                    "wide-loads=on: {} has no 64-bit integers in shaders",
                    device.info.name
                ));
            }
            self.wide_loads = wide;
        }
        Ok(self)
    }
}

impl fmt::Display for Tuning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "products: {}", self.products)?;
        if !self.by_product.is_empty() {
            write!(f, " ({} tuned)", self.by_product.len())?;
        }
        write!(f, "; {}", self.layout())
    }
}

impl Tuning {
    /// The record's choices besides the products, in words ("channels by plane; eight-float accesses").
    pub fn layout(&self) -> String {
        format!(
            "channels {}; {} accesses",
            if self.by_plane {
                "by plane"
            } else {
                "across planes"
            },
            if self.wide_loads {
                "eight-float"
            } else {
                "four-float"
            }
        )
    }
}

/// Entries of the tuning record set by hand (`--kernels KEY=VALUE,...`), for experiments: each one
/// given wins over the adapter's defaults and the tuner.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub family: Option<Family>,
    pub block: Option<u32>,
    pub pitch: Option<u32>,
    pub prefetch: Option<bool>,
    pub split_target: Option<u32>,
    pub by_plane: Option<bool>,
    pub wide_loads: Option<bool>,
}

/// The keys `--kernels` takes, with their values, for messages.
pub const OVERRIDE_KEYS: &str = "products=tiled|subgroup, block=4|8, pitch=16|17, prefetch=on|off, \
     split-k=off|WORKGROUPS, by-plane=on|off, wide-loads=on|off";

impl Overrides {
    /// Whether a product's variant is overridden (so every product runs that, and measuring the
    /// variants is pointless).
    pub fn sets_product_variant(&self) -> bool {
        self.family.is_some()
            || self.block.is_some()
            || self.pitch.is_some()
            || self.prefetch.is_some()
            || self.split_target.is_some()
    }
}

fn on_off(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "on" | "1" | "true" => Ok(true),
        "off" | "0" | "false" => Ok(false),
        _ => Err(format!("{key}={value}: expected on or off")),
    }
}

impl std::str::FromStr for Overrides {
    type Err = String;

    /// `KEY=VALUE` pairs separated by commas, e.g. `products=tiled,block=8,split-k=off`.
    fn from_str(s: &str) -> Result<Overrides, String> {
        let mut o = Overrides::default();
        for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!("'{pair}' is not KEY=VALUE (keys: {OVERRIDE_KEYS})"));
            };
            let (key, value) = (key.trim(), value.trim().to_ascii_lowercase());
            match key {
                "products" => {
                    o.family = Some(match value.as_str() {
                        "tiled" => Family::Tiled,
                        "subgroup" => Family::Subgroup,
                        _ => return Err(format!("products={value}: expected tiled or subgroup")),
                    })
                }
                "block" => {
                    o.block = Some(match value.as_str() {
                        "4" => 4,
                        "8" => 8,
                        _ => return Err(format!("block={value}: expected 4 or 8")),
                    })
                }
                "pitch" => {
                    o.pitch = Some(match value.as_str() {
                        "16" => 16,
                        "17" => 17,
                        _ => return Err(format!("pitch={value}: expected 16 or 17")),
                    })
                }
                "prefetch" => o.prefetch = Some(on_off(key, &value)?),
                "split-k" => {
                    o.split_target = Some(if value == "off" {
                        0
                    } else {
                        value.parse().map_err(|_| {
                            format!("split-k={value}: expected off or a number of workgroups")
                        })?
                    })
                }
                "by-plane" => o.by_plane = Some(on_off(key, &value)?),
                "wide-loads" => o.wide_loads = Some(on_off(key, &value)?),
                _ => return Err(format!("unknown key '{key}' (keys: {OVERRIDE_KEYS})")),
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_parse_every_key_and_refuse_the_rest() {
        let o: Overrides =
            "products=tiled, block=8,pitch=16,prefetch=on,split-k=264,by-plane=off,wide-loads=0"
                .parse()
                .unwrap();
        assert_eq!(
            o,
            Overrides {
                family: Some(Family::Tiled),
                block: Some(8),
                pitch: Some(16),
                prefetch: Some(true),
                split_target: Some(264),
                by_plane: Some(false),
                wide_loads: Some(false),
            }
        );
        assert_eq!("".parse::<Overrides>().unwrap(), Overrides::default());
        assert_eq!(
            "split-k=off".parse::<Overrides>().unwrap().split_target,
            Some(0)
        );
        for bad in [
            "block=5",
            "products=fast",
            "gemm=1",
            "block",
            "prefetch=maybe",
        ] {
            let e = bad.parse::<Overrides>().unwrap_err();
            assert!(e.contains(bad.split('=').next().unwrap()), "{bad}: {e}");
        }
    }

    #[test]
    fn variants_and_keys_read_as_a_user_writes_them() {
        let v = Variant {
            family: Family::Tiled,
            block: 8,
            pitch: 17,
            prefetch: true,
            split_target: 528,
        };
        assert_eq!(v.to_string(), "tiled block 8 prefetch split to 528");
        let key = ProductKey {
            op: "linear_forward",
            shape: [128, 1024, 62],
        };
        assert_eq!(key.to_string(), "linear_forward 128x1024x62");
    }
}
