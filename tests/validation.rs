//! Wrong shapes and wrong buffer lengths are errors returned to the caller, never GPU faults.

mod common;

use common::{gpu, upload, zeros};
use gan_wgpu::adam::Adam;
use gan_wgpu::layers::{Activation, BatchNorm, BatchNormGrads, BceLoss, Conv, GradientAt, Linear};
use gan_wgpu::model::{
    DCGAN, Discriminator, DiscriminatorPass, GradientPool, Mode, ParamGrads, classifier,
};
use gan_wgpu::{Error, Tensor};

fn shape_error<T: std::fmt::Debug>(result: gan_wgpu::Result<T>, tensor: &str) {
    match result {
        Err(Error::Shape { tensor: t, .. }) if t == tensor => {}
        other => panic!("expected a shape error naming `{tensor}`, got {other:?}"),
    }
}

#[test]
fn linear_rejects_mismatched_shapes() {
    let g = gpu();
    let layer = Linear::new(6, 4);
    let (x, w, b, y) = (zeros(&[2, 6]), zeros(&[4, 6]), zeros(&[4]), zeros(&[2, 4]));
    assert!(layer.forward(g, &x, &w, &b, &y).is_ok());
    shape_error(layer.forward(g, &zeros(&[2, 5]), &w, &b, &y), "x");
    shape_error(layer.forward(g, &x, &zeros(&[6, 4]), &b, &y), "weight");
    shape_error(layer.forward(g, &x, &w, &zeros(&[5]), &y), "bias");
    shape_error(layer.forward(g, &x, &w, &b, &zeros(&[3, 4])), "y");
    shape_error(layer.forward(g, &zeros(&[0, 6]), &w, &b, &y), "x");
    shape_error(layer.backward_input(g, &y, &w, &zeros(&[2, 7])), "dx");
    shape_error(
        layer.backward_weight(g, &y, &zeros(&[3, 6]), &w, false),
        "x",
    );
    shape_error(layer.backward_bias(g, &y, &zeros(&[2]), false), "dbias");
}

#[test]
fn convolutions_reject_mismatched_shapes() {
    let g = gpu();
    let conv = Conv::conv2d(1, 8, 4, 2, 1);
    let (x, w, b, y) = (
        zeros(&[2, 1, 28, 28]),
        zeros(&[8, 1, 4, 4]),
        zeros(&[8]),
        zeros(&[2, 8, 14, 14]),
    );
    assert!(conv.forward(g, &x, &w, &b, &y).is_ok());
    shape_error(conv.forward(g, &zeros(&[2, 2, 28, 28]), &w, &b, &y), "x");
    shape_error(conv.forward(g, &zeros(&[2, 784]), &w, &b, &y), "x");
    shape_error(conv.forward(g, &x, &w, &b, &zeros(&[2, 8, 13, 14])), "y");
    shape_error(
        conv.backward_weight(g, &y, &x, &zeros(&[1, 8, 4, 4]), false),
        "dweight",
    );
    let deconv = Conv::conv_transpose2d(8, 1, 4, 2, 1);
    assert!(
        deconv
            .forward(g, &y, &zeros(&[8, 1, 4, 4]), &zeros(&[1]), &x)
            .is_ok()
    );
    // PyTorch's ConvTranspose2d weight is (C_in, C_out, k, k); the Conv2d layout is refused.
    shape_error(
        deconv.forward(g, &y, &zeros(&[1, 8, 4, 4]), &zeros(&[1]), &x),
        "weight",
    );
    shape_error(
        deconv.backward_input(g, &zeros(&[2, 1, 27, 28]), &zeros(&[8, 1, 4, 4]), &y),
        "dy",
    );
    // A kernel larger than the padded input has no output.
    assert!(matches!(
        Conv::conv2d(1, 1, 9, 1, 0).forward(
            g,
            &zeros(&[1, 1, 4, 4]),
            &zeros(&[1, 1, 9, 9]),
            &zeros(&[1]),
            &zeros(&[1, 1, 1, 1])
        ),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn batchnorm_rejects_mismatched_shapes_and_single_values() {
    let g = gpu();
    let bn = BatchNorm::new(3);
    let c = || zeros(&[3]);
    let (x, y, saved) = (zeros(&[4, 3]), zeros(&[4, 3]), zeros(&[2, 3]));
    assert!(
        bn.forward_train(g, &x, &c(), &c(), &c(), &c(), &y, &saved)
            .is_ok()
    );
    shape_error(
        bn.forward_train(g, &zeros(&[4, 2]), &c(), &c(), &c(), &c(), &y, &saved),
        "x",
    );
    shape_error(
        bn.forward_train(g, &x, &zeros(&[4]), &c(), &c(), &c(), &y, &saved),
        "weight",
    );
    shape_error(
        bn.forward_train(g, &x, &c(), &c(), &c(), &c(), &y, &zeros(&[3])),
        "saved",
    );
    shape_error(
        bn.forward_eval(g, &x, &c(), &c(), &c(), &zeros(&[2]), &y),
        "running_var",
    );
    shape_error(
        bn.backward(
            g,
            &x,
            &c(),
            &saved,
            &BatchNormGrads::new(&zeros(&[4, 3, 1, 1]), &y, &c(), &c()),
        ),
        "dy",
    );
    // PyTorch: "Expected more than 1 value per channel when training".
    let one = zeros(&[1, 3]);
    assert!(matches!(
        bn.forward_train(g, &one, &c(), &c(), &c(), &c(), &zeros(&[1, 3]), &saved),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn elementwise_loss_and_adam_reject_mismatched_shapes() {
    let g = gpu();
    shape_error(Activation::Relu.forward(g, &zeros(&[5]), &zeros(&[6])), "y");
    shape_error(
        Activation::Sigmoid.backward(g, &zeros(&[5]), &zeros(&[5, 1])),
        "grad",
    );
    let bce = BceLoss::new(GradientAt::SigmoidInput);
    let p = zeros(&[4, 1]);
    shape_error(
        bce.forward_backward(g, &p, &zeros(&[4]), &zeros(&[1]), &p, None),
        "target",
    );
    shape_error(
        bce.forward_backward(g, &p, &p, &zeros(&[2]), &p, None),
        "loss",
    );
    shape_error(
        bce.forward_backward(g, &p, &p, &zeros(&[1]), &zeros(&[4]), None),
        "grad",
    );
    let adam = Adam::new(2e-4, 0.5, 0.999);
    shape_error(
        adam.update(
            g,
            &zeros(&[8]),
            &zeros(&[8]),
            &zeros(&[7]),
            &zeros(&[8]),
            1,
            None,
        ),
        "exp_avg",
    );
    assert!(
        adam.update(
            g,
            &zeros(&[8]),
            &zeros(&[8]),
            &zeros(&[8]),
            &zeros(&[8]),
            0,
            None
        )
        .is_err()
    );
}

#[test]
fn buffers_of_the_wrong_length_are_refused() {
    let g = gpu();
    let t = zeros(&[4, 4]);
    assert!(matches!(
        t.write(g, &[1.0; 15]),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        Tensor::from_slice(g, "x", &[3], &[1.0; 4]),
        Err(Error::InvalidArgument { .. })
    ));
    // A view that runs past the end of its buffer, or starts at an unbindable offset.
    assert!(matches!(
        Tensor::view(g, t.buffer(), 0, &[5, 4]),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        Tensor::view(g, t.buffer(), 4, &[2]),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        t.reshape(&[3, 5]),
        Err(Error::InvalidArgument { .. })
    ));
    // A view of the right size into a larger buffer is fine and binds like any tensor.
    let big = upload(&[64], &(0..64).map(|i| i as f32).collect::<Vec<_>>());
    let align = g.device.limits().min_storage_buffer_offset_alignment as usize;
    if align <= 32 * 4 {
        let tail = Tensor::view(g, big.buffer(), align as u64, &[4]).unwrap();
        let want: Vec<f32> = (0..4).map(|i| (align / 4 + i) as f32).collect();
        assert_eq!(tail.read(g).unwrap(), want);
    }
}

#[test]
fn a_tensor_bound_for_reading_and_writing_at_once_is_a_validation_error() {
    let g = gpu();
    let x = zeros(&[16]);
    let d = Activation::Relu.forward(g, &x, &x).unwrap();
    assert!(matches!(g.run(&[&d]), Err(Error::Validation { .. })));
    // The device is still usable afterwards.
    let y = zeros(&[16]);
    g.run(&[&Activation::Relu.forward(g, &x, &y).unwrap()])
        .unwrap();
}

// WebGPU refuses a range bound writable twice in one kernel (native wgpu lets it pass): refused when
// the dispatch is made, on every platform, naming the two bindings; a disjoint range of the same
// buffer is fine.
#[test]
fn a_range_bound_writable_twice_is_refused_as_webgpu_refuses_it() {
    let g = gpu();
    let layer = BatchNorm::new(4);
    let (x, dy, dx) = (zeros(&[2, 4]), zeros(&[2, 4]), zeros(&[2, 4]));
    let (weight, saved) = (zeros(&[4]), zeros(&[2, 4]));
    let dweight = zeros(&[4]);
    let grads = BatchNormGrads::new(&dy, &dx, &dweight, &dweight);
    match layer.backward(g, &x, &weight, &saved, &grads) {
        Err(Error::InvalidArgument { message, .. }) => {
            assert!(message.contains("both writable and overlap"), "{message}")
        }
        other => panic!("dweight bound as dbias too: {other:?}"),
    }
    let align = g.device.limits().min_storage_buffer_offset_alignment as usize / 4;
    let both = zeros(&[2 * align]);
    let dweight = Tensor::view(g, both.buffer(), 0, &[4]).unwrap();
    let dbias = Tensor::view(g, both.buffer(), 4 * align as u64, &[4]).unwrap();
    let grads = BatchNormGrads::new(&dy, &dx, &dweight, &dbias);
    layer.backward(g, &x, &weight, &saved, &grads).unwrap();
}

#[test]
fn a_lost_device_is_an_error_not_a_panic() {
    let own = gan_wgpu::Gpu::new(&gan_wgpu::GpuOptions::default()).unwrap();
    let x = Tensor::zeros(&own, "x", &[8]).unwrap();
    let y = Tensor::zeros(&own, "y", &[8]).unwrap();
    let relu = Activation::Relu.forward(&own, &x, &y).unwrap();
    own.device.destroy();
    let err = own.run(&[&relu]).and_then(|_| y.read(&own).map(|_| ()));
    assert!(err.is_err(), "work on a destroyed device succeeded");
    eprintln!("{}", err.unwrap_err());
}

#[test]
fn an_adapter_that_is_not_there_is_named_in_the_error() {
    let options = gan_wgpu::GpuOptions {
        adapter: Some("no such adapter".into()),
        ..Default::default()
    };
    match gan_wgpu::Gpu::new(&options) {
        Err(Error::AdapterNotFound { wanted, .. }) => assert_eq!(wanted, "no such adapter"),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("an adapter named 'no such adapter' was found"),
    }
}

#[test]
fn discriminator_passes_take_equal_groups_and_one_input_each() {
    let g = gpu();
    let mut pool = GradientPool::default();
    match DiscriminatorPass::new(g, &DCGAN, 5, 2, "odd", &mut pool) {
        Err(e) => assert!(e.to_string().contains("equal groups"), "{e}"),
        Ok(_) => panic!("5 images made 2 groups"),
    }
    let pass = DiscriminatorPass::new(g, &DCGAN, 4, 2, "two groups", &mut pool).unwrap();
    let d = Discriminator::new(g).unwrap();
    let x = zeros(&[2, 1, 28, 28]);
    let e = d.forward(g, &pass, &[&x], Mode::Train).unwrap_err();
    assert!(
        e.to_string().contains("1 inputs for a pass of 2 groups"),
        "{e}"
    );
    shape_error(
        d.forward(g, &pass, &[&x, &zeros(&[3, 1, 28, 28])], Mode::Train),
        "x",
    );
    let e = d
        .backward(g, &pass, &[&x, &x], ParamGrads::Skip, Some((&x, None)))
        .unwrap_err();
    assert!(e.to_string().contains("one-group pass"), "{e}");
    // A pass made for D's widths cannot run the classifier's (nor the other way round).
    let classifier = Discriminator::with_architecture(g, &classifier::ARCHITECTURE).unwrap();
    let x4 = zeros(&[4, 1, 28, 28]);
    let one_group = DiscriminatorPass::new(g, &DCGAN, 4, 1, "D", &mut pool).unwrap();
    let e = classifier
        .forward(g, &one_group, &[&x4], Mode::Eval)
        .unwrap_err();
    assert!(
        e.to_string().contains("made for D run on classifier"),
        "{e}"
    );
    // BCE over parts that do not divide its values.
    let p = zeros(&[5, 1]);
    let e = BceLoss::new(GradientAt::SigmoidInput)
        .in_parts(2)
        .forward_backward(g, &p, &p, &zeros(&[1]), &p, None)
        .unwrap_err();
    assert!(e.to_string().contains("equal parts"), "{e}");
}
