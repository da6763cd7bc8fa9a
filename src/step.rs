//! The step scheduler: the original's D step and G step recorded once as lists of dispatches over
//! fixed buffers, and replayed each step in one submission, with nothing read back inside a step.
//!
//! D step: G(z_d); D on x and G(z_d) (G detached) as one batch of 2N rows, each BatchNorm normalising
//! each half with its own statistics (DiscriminatorPass's groups); BCE(D(x), 1) + BCE(D(G(z_d)), 0)
//! and its gradient in one pass; D's backward once over both halves, whose weight gradients are the
//! sum of the two losses'; Adam on D.
//! G step: G(z_g) with fresh noise, D(G(z_g)); BCE(·, 1); backward through D into G; Adam on G.
//! Everything runs in training mode, so D's running statistics move three times a step and G's twice.

use crate::adam::Adam;
use crate::error::Result;
use crate::health::{self, Health};
use crate::kernels::{Dispatch, Gpu};
use crate::layers::{Activation, BceLoss, GradientAt};
use crate::model::{
    DCGAN, Discriminator, DiscriminatorPass, Generator, GeneratorPass, GradientPool, IMAGE_SIDE,
    Mode, ParamGrads, Z_DIM,
};
use crate::tensor::Tensor;

/// The original's hyper-parameters.
#[derive(Clone, Copy, Debug)]
pub struct Hyper {
    pub batch: usize,
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
}

impl Default for Hyper {
    fn default() -> Hyper {
        Hyper {
            batch: 128,
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
        }
    }
}

/// One Adam per net, bound to the net's flat buffers, reporting non-finite values with `health_bit`.
struct Optimiser {
    adam: Adam,
    update: Dispatch,
    count: usize,
    health_bit: u32,
}

impl Optimiser {
    fn new(
        gpu: &Gpu,
        hyper: &Hyper,
        params: &crate::params::ParamStore,
        health: &Health,
        health_bit: u32,
    ) -> Result<Optimiser> {
        let adam = Adam::new(hyper.lr, hyper.beta1, hyper.beta2);
        let [values, grads, exp_avg, exp_avg_sq] = params.flat(gpu)?;
        let watch = Some(health.watch(health_bit));
        let update = adam.update(gpu, &grads, &values, &exp_avg, &exp_avg_sq, 1, watch)?;
        Ok(Optimiser {
            adam,
            update,
            count: values.numel(),
            health_bit,
        })
    }

    fn set_step(&self, gpu: &Gpu, step: u64) -> Result<()> {
        self.adam
            .set_step(gpu, &self.update, self.count, step, self.health_bit)
    }
}

pub struct Trainer {
    pub hyper: Hyper,
    pub g: Generator,
    pub d: Discriminator,
    /// The real batch, [N, 1, 28, 28] in [0, 1].
    pub x: Tensor,
    /// Noise of the D step and of the G step, [N, 62].
    pub z_d: Tensor,
    pub z_g: Tensor,
    pub g_pass: GeneratorPass,
    /// D's pass in the D step: x, then G(z_d), as two groups; its `prob` is D(x) then D(G(z_d)) (the
    /// G step's pass then overwrites the first half: `d_step_probabilities`).
    pub d_pass: DiscriminatorPass,
    /// D's pass in the G step, on G(z_g), over the first half of d_pass's buffers.
    pub d_g_step: DiscriminatorPass,
    /// BCE(D(x), 1) + BCE(D(G(z_d)), 0), [1].
    pub d_loss: Tensor,
    /// BCE(D(G(z_g)), 1), [1].
    pub g_loss: Tensor,
    /// Set by the loss and Adam kernels when a loss, parameter or moment goes NaN or ±Inf.
    pub health: Health,
    d_gradients: Vec<Dispatch>,
    g_gradients: Vec<Dispatch>,
    d_optimiser: Optimiser,
    g_optimiser: Optimiser,
    /// Training steps completed (both nets' Adam step counts).
    pub steps_done: u64,
}

impl Trainer {
    /// Builds every buffer and dispatch of a step; the parameters are left zero (initialise or load them).
    pub fn new(gpu: &Gpu, hyper: Hyper) -> Result<Trainer> {
        // On a CPU adapter the large kernels' pipelines take most of this; a second thread makes them
        // while this one creates the buffers and the other pipelines.
        #[cfg(not(target_arch = "wasm32"))]
        return std::thread::scope(|scope| {
            if gpu.runs_subgroup_kernels() {
                scope.spawn(|| gpu.prepare(&crate::plan::cpu::kernels_to_prepare()));
            }
            Trainer::build(gpu, hyper)
        });
        // A page has one thread.
        #[cfg(target_arch = "wasm32")]
        Trainer::build(gpu, hyper)
    }

    fn build(gpu: &Gpu, hyper: Hyper) -> Result<Trainer> {
        let n = hyper.batch;
        let g = Generator::new(gpu)?;
        let d = Discriminator::new(gpu)?;
        let image = [n, 1, IMAGE_SIDE, IMAGE_SIDE];
        let x = Tensor::zeros(gpu, "x", &image)?;
        let z_d = Tensor::zeros(gpu, "z_d", &[n, Z_DIM])?;
        let z_g = Tensor::zeros(gpu, "z_g", &[n, Z_DIM])?;
        let ones = Tensor::from_slice(gpu, "ones", &[n, 1], &vec![1.0; n])?;
        // The D step's targets: 1 for its real half, 0 for its fake one.
        let real_fake: Vec<f32> = (0..2 * n).map(|i| if i < n { 1.0 } else { 0.0 }).collect();
        let real_fake = Tensor::from_slice(gpu, "real and fake targets", &[2 * n, 1], &real_fake)?;
        // The gradient at G's last layer's output, the input of its Sigmoid.
        let d_deconv3 = Tensor::zeros(gpu, "grad deconv.3", &image)?;
        let mut gradients = GradientPool::default();
        let g_pass = GeneratorPass::new(gpu, n, Some(&mut gradients))?;
        let d_pass = DiscriminatorPass::new(gpu, &DCGAN, 2 * n, 2, "D step", &mut gradients)?;
        let d_g_step = d_pass.first_group(gpu)?;
        let d_loss = Tensor::zeros(gpu, "d_loss", &[1])?;
        let g_loss = Tensor::zeros(gpu, "g_loss", &[1])?;
        let health = Health::new(gpu)?;
        let d_watch = Some(health.watch(health::D_LOSS));
        let g_watch = Some(health.watch(health::G_LOSS));

        // BCE on D's probabilities, its gradient taken through D's Sigmoid.
        let loss = BceLoss::new(GradientAt::SigmoidInput);
        let d_inputs = [&x, &g_pass.image];
        let mut d_gradients = g.forward(gpu, &g_pass, &z_d, Mode::Train)?;
        d_gradients.extend(d.forward(gpu, &d_pass, &d_inputs, Mode::Train)?);
        d_gradients.push(loss.in_parts(2).forward_backward(
            gpu,
            &d_pass.prob,
            &real_fake,
            &d_loss,
            &d_pass.d_logit,
            d_watch,
        )?);
        d_gradients.extend(d.backward(gpu, &d_pass, &d_inputs, ParamGrads::Overwrite, None)?);

        let fake = [&g_pass.image];
        let mut g_gradients = g.forward(gpu, &g_pass, &z_g, Mode::Train)?;
        g_gradients.extend(d.forward(gpu, &d_g_step, &fake, Mode::Train)?);
        g_gradients.push(loss.forward_backward(
            gpu,
            &d_g_step.prob,
            &ones,
            &g_loss,
            &d_g_step.d_logit,
            g_watch,
        )?);
        g_gradients.extend(d.backward(
            gpu,
            &d_g_step,
            &fake,
            ParamGrads::Skip,
            Some((&d_deconv3, Some(Activation::Sigmoid))),
        )?);
        g_gradients.extend(g.backward(gpu, &g_pass, &z_g, &d_deconv3)?);

        Ok(Trainer {
            hyper,
            d_optimiser: Optimiser::new(gpu, &hyper, &d.net.params, &health, health::D_PARAMS)?,
            g_optimiser: Optimiser::new(gpu, &hyper, &g.net.params, &health, health::G_PARAMS)?,
            health,
            g,
            d,
            x,
            z_d,
            z_g,
            g_pass,
            d_pass,
            d_g_step,
            d_loss,
            g_loss,
            d_gradients,
            g_gradients,
            steps_done: 0,
        })
    }

    /// D(x) and D(G(z_d)), [N] each, after the D step (read before the G step overwrites the first).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn d_step_probabilities(&self, gpu: &Gpu) -> Result<(Vec<f32>, Vec<f32>)> {
        let mut real = self.d_pass.prob.read(gpu)?;
        let fake = real.split_off(self.hyper.batch);
        Ok((real, fake))
    }

    /// The D step up to (not including) Adam: losses, D(x), D(G(z_d)) and D's gradients.
    pub fn d_gradients(&self) -> &[Dispatch] {
        &self.d_gradients
    }

    /// The G step up to (not including) Adam: G's loss and gradients.
    pub fn g_gradients(&self) -> &[Dispatch] {
        &self.g_gradients
    }

    /// Both nets' Adam updates (D's, then G's), aimed at the next step.
    pub fn optimiser_updates(&self, gpu: &Gpu) -> Result<[&Dispatch; 2]> {
        let [d, g] = [&self.d_optimiser, &self.g_optimiser];
        d.set_step(gpu, self.steps_done + 1)?;
        g.set_step(gpu, self.steps_done + 1)?;
        Ok([&d.update, &g.update])
    }

    fn d_step_dispatches(&self, gpu: &Gpu) -> Result<Vec<&Dispatch>> {
        let o = &self.d_optimiser;
        o.set_step(gpu, self.steps_done + 1)?;
        Ok(self.d_gradients.iter().chain([&o.update]).collect())
    }

    fn g_step_dispatches(&self, gpu: &Gpu) -> Result<Vec<&Dispatch>> {
        let o = &self.g_optimiser;
        o.set_step(gpu, self.steps_done + 1)?;
        Ok(self.g_gradients.iter().chain([&o.update]).collect())
    }

    /// The D step alone (its Adam included), submitted and waited for.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn d_step(&mut self, gpu: &Gpu) -> Result<()> {
        gpu.run(&self.d_step_dispatches(gpu)?)
    }

    /// The G step alone (its Adam included); completes the training step.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn g_step(&mut self, gpu: &Gpu) -> Result<()> {
        gpu.run(&self.g_step_dispatches(gpu)?)?;
        self.steps_done += 1;
        Ok(())
    }

    /// The dispatches of the next whole step (D step, then G step), with both Adams aimed at it.
    /// Submit them, then call `finish_step`.
    pub fn step_dispatches(&self, gpu: &Gpu) -> Result<Vec<&Dispatch>> {
        let mut all = self.d_step_dispatches(gpu)?;
        all.extend(self.g_step_dispatches(gpu)?);
        Ok(all)
    }

    pub fn finish_step(&mut self) {
        self.steps_done += 1;
    }

    /// One whole training step in one submission, waited for.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn step(&mut self, gpu: &Gpu) -> Result<()> {
        gpu.run(&self.step_dispatches(gpu)?)?;
        self.finish_step();
        Ok(())
    }

    /// Training-mode BatchNorm forwards each of G's BatchNorm layers has seen (PyTorch's
    /// `num_batches_tracked`): G runs twice a step.
    pub fn g_batches_tracked(&self) -> u64 {
        2 * self.steps_done
    }

    /// The same for D, which runs three times a step.
    pub fn d_batches_tracked(&self) -> u64 {
        3 * self.steps_done
    }
}
