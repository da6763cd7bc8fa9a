//! Checkpoints round-trip exactly, and a bad file is refused whole with the tensor it is about.

mod common;

use std::path::{Path, PathBuf};

use common::gpu;
use gan_wgpu::checkpoint;
use gan_wgpu::model::{Discriminator, Generator};
use gan_wgpu::noise::NormalStream;
use safetensors::{Dtype, tensor::TensorView};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("checkpoint");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn all_values(store: &gan_wgpu::params::ParamStore) -> Vec<Vec<f32>> {
    store
        .entries()
        .iter()
        .map(|e| store.read(gpu(), e.name).unwrap())
        .collect()
}

#[test]
fn a_saved_generator_loads_back_bit_for_bit() {
    let g = gpu();
    let saved = Generator::new(g).unwrap();
    saved
        .net
        .initialise(g, &mut NormalStream::new(9, 0))
        .unwrap();
    saved
        .net
        .stats
        .write(g, "fc.1.running_mean", &vec![0.25; 1024])
        .unwrap();
    let path = scratch("G_roundtrip.safetensors");
    checkpoint::save(g, &saved.net, 6, &path).unwrap();
    let loaded = Generator::new(g).unwrap();
    checkpoint::load(g, &loaded.net, &path).unwrap();
    assert_eq!(
        all_values(&saved.net.params),
        all_values(&loaded.net.params)
    );
    assert_eq!(all_values(&saved.net.stats), all_values(&loaded.net.stats));
}

/// Writes a G checkpoint with `edit` applied to its (name, shape, values) list.
fn doctored(name: &str, edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<f32>)>)) -> PathBuf {
    let g = gpu();
    let net = Generator::new(g).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = [&net.net.params, &net.net.stats]
        .iter()
        .flat_map(|s| {
            s.entries()
                .iter()
                .map(|e| (e.name.to_string(), e.shape.clone(), vec![0.5; e.numel()]))
        })
        .collect();
    edit(&mut tensors);
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| bytemuck::cast_slice(v).to_vec())
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((n, s, _), b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let path = scratch(name);
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    path
}

fn load_error(path: &Path) -> String {
    let g = gpu();
    let net = Generator::new(g).unwrap();
    let before = all_values(&net.net.params);
    let message = checkpoint::load(g, &net.net, path).unwrap_err().to_string();
    assert_eq!(
        before,
        all_values(&net.net.params),
        "a refused checkpoint changed the weights"
    );
    assert!(message.contains(path.to_str().unwrap()), "{message}");
    message
}

#[test]
fn bad_checkpoints_are_refused_naming_the_problem() {
    let missing = doctored("missing.safetensors", |t| {
        t.retain(|(n, _, _)| n != "fc.3.bias")
    });
    assert!(load_error(&missing).contains("missing tensors: fc.3.bias"));
    let extra = doctored("extra.safetensors", |t| {
        t.push(("fc.9.weight".into(), vec![2], vec![0.0; 2]))
    });
    assert!(load_error(&extra).contains("unexpected tensors: fc.9.weight"));
    let misshapen = doctored("misshapen.safetensors", |t| {
        let w = t
            .iter_mut()
            .find(|(n, _, _)| n == "deconv.0.weight")
            .unwrap();
        w.1 = vec![64, 128, 4, 4];
    });
    assert!(load_error(&misshapen).contains("`deconv.0.weight` has shape [64, 128, 4, 4]"));
    let nan = doctored("nan.safetensors", |t| t[0].2[3] = f32::NAN);
    assert!(load_error(&nan).contains("NaN"));
    let garbage = scratch("garbage.safetensors");
    std::fs::write(&garbage, b"not a checkpoint at all").unwrap();
    assert!(load_error(&garbage).contains("not a safetensors file"));
    // A D checkpoint where a G is expected is named as such.
    let g = gpu();
    let d = Discriminator::new(g).unwrap();
    let d_path = scratch("D.safetensors");
    checkpoint::save(g, &d.net, 0, &d_path).unwrap();
    let message = load_error(&d_path);
    assert!(
        message.contains("holds a D (discriminator) checkpoint where a G (generator)"),
        "{message}"
    );
}
