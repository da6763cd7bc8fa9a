//! gan-wgpu in a browser tab: the native crate's model, step scheduler, kernels (the same WGSL) and
//! checkpoint format, driven through the browser's WebGPU. The page (`web/index.html`) calls these
//! bindings. Nothing here blocks: every wait for the GPU is an await, so the page stays live, and the
//! page calls one method at a time (a second call while one is running is refused as busy).

// The state's RefCell borrows are held across awaits on purpose: they are what marks the page busy
// (every borrow is a `try_borrow`, so a second call meanwhile is refused, never a panic).
#![allow(clippy::await_holding_refcell_ref)]

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use gan_wgpu::data::Dataset;
use gan_wgpu::epoch::{EpochSteps, GRID_ROW, GRID_SAMPLES};
use gan_wgpu::health;
use gan_wgpu::kernels::Gpu;
use gan_wgpu::model::Generator;
use gan_wgpu::oracle::{Check, Oracle, StepOracle, run_layer_case};
use gan_wgpu::sample::Sampler;
use gan_wgpu::score::{ClassifierFiles, ClassifierSource, Scorer};
use gan_wgpu::step::{Hyper, Trainer};
use gan_wgpu::{Error, GpuOptions, checkpoint, grid};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// Panics and the library's log lines go to the browser's console.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("gan-wgpu panicked: {info}").into());
    }));
    if log::set_logger(&ConsoleLog).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

struct ConsoleLog;

impl log::Log for ConsoleLog {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        let line = format!("{}: {}", record.target(), record.args()).into();
        match record.level() {
            log::Level::Error => web_sys::console::error_1(&line),
            log::Level::Warn => web_sys::console::warn_1(&line),
            _ => web_sys::console::log_1(&line),
        }
    }

    fn flush(&self) {}
}

fn js_error(e: Error) -> JsError {
    JsError::new(&e.to_string())
}

/// A training run in the page: the native run's steps, noise, shuffle and initial weights for its
/// seed, on the bundled digits.
struct Run {
    seed: u64,
    epochs: usize,
    trainer: Trainer,
    steps: EpochSteps,
    /// G in eval mode on the seed's first 64 noise vectors: the native run's epoch grids.
    grid: Sampler,
    /// The epoch in progress (from 1) and the next step in it (from 0).
    epoch: usize,
    step: usize,
}

impl Run {
    fn finished(&self) -> bool {
        self.epoch > self.epochs
    }
}

/// The GPU, the run in progress and a loaded G. Methods that await take the state for their
/// duration; a call meanwhile is refused (`busy`).
struct Page {
    gpu: Gpu,
    run: RefCell<Option<Run>>,
    loaded: RefCell<Option<Generator>>,
    /// The classifier that scores the run's samples, once the page has fetched it.
    scorer: RefCell<Option<Scorer>>,
}

/// Images per G pass while scoring: a few passes of moderate buffers rather than one large one.
const SCORE_CHUNK: usize = 500;

fn busy(what: &str) -> JsError {
    JsError::new(&format!(
        "{what}: the page is still busy with the previous call"
    ))
}

#[wasm_bindgen]
pub struct Gan {
    page: Rc<Page>,
}

#[wasm_bindgen]
impl Gan {
    /// Opens the browser's WebGPU adapter with the limits the kernels need; rejects with a message
    /// that names what is missing (no WebGPU, no adapter, a limit below what the kernels bind).
    pub async fn open() -> Result<Gan, JsError> {
        let options = GpuOptions {
            backends: wgpu::Backends::BROWSER_WEBGPU,
            ..GpuOptions::default()
        };
        let gpu = Gpu::open(&options).await.map_err(js_error)?;
        Ok(Gan {
            page: Rc::new(Page {
                gpu,
                run: RefCell::new(None),
                loaded: RefCell::new(None),
                scorer: RefCell::new(None),
            }),
        })
    }

    /// What WebGPU says the adapter is (often nothing: browsers hide it), and the kernels chosen.
    pub fn adapter(&self) -> String {
        let info = &self.page.gpu.info;
        let name = if info.name.is_empty() {
            "WebGPU adapter"
        } else {
            &info.name
        };
        format!(
            "{name} ({:?}); kernels: {}",
            info.device_type,
            self.page.gpu.tuning()
        )
    }

    /// Starts a new run on the bundled 10,000 digits: `gan-wgpu train --seed SEED --batch-size BATCH
    /// --epochs EPOCHS` in the page. Replaces any run in progress.
    pub fn start_training(&self, seed: u64, batch: usize, epochs: usize) -> Result<(), JsError> {
        let gpu = &self.page.gpu;
        let dataset = Dataset::bundled();
        if batch == 0 || batch > dataset.len() || epochs == 0 {
            return Err(JsError::new(&format!(
                "a batch of 1 to {} images and at least one epoch, please (got batch {batch}, {epochs} epochs)",
                dataset.len()
            )));
        }
        let mut slot = self.page.run.try_borrow_mut().map_err(|_| busy("start"))?;
        // The old run's buffers go before the new one's are made.
        *slot = None;
        let hyper = Hyper {
            batch,
            ..Hyper::default()
        };
        let trainer = Trainer::new(gpu, hyper).map_err(js_error)?;
        gan_wgpu::epoch::initialise(gpu, &trainer, seed).map_err(js_error)?;
        let steps = EpochSteps::new(gpu, &trainer, &dataset, seed).map_err(js_error)?;
        let grid = Sampler::new(gpu, &trainer.g, GRID_SAMPLES, Some(seed)).map_err(js_error)?;
        *slot = Some(Run {
            seed,
            epochs,
            trainer,
            steps,
            grid,
            epoch: 1,
            step: 0,
        });
        Ok(())
    }

    /// Where the run is: `{ epoch, step, stepsPerEpoch, epochs, stepsDone, seed, finished }`.
    pub fn progress(&self) -> Result<JsValue, JsError> {
        let run = self.page.run.try_borrow().map_err(|_| busy("progress"))?;
        let run = run.as_ref().ok_or_else(|| JsError::new("no run started"))?;
        let object = js_sys::Object::new();
        let set = |key: &str, value: JsValue| js_sys::Reflect::set(&object, &key.into(), &value);
        set("epoch", run.epoch.min(run.epochs).into()).ok();
        set("step", run.step.into()).ok();
        set("stepsPerEpoch", run.steps.steps_per_epoch().into()).ok();
        set("epochs", run.epochs.into()).ok();
        set("stepsDone", (run.trainer.steps_done as f64).into()).ok();
        set("seed", (run.seed as f64).into()).ok();
        set("finished", run.finished().into()).ok();
        Ok(object.into())
    }

    /// Runs up to `count` training steps (fewer where the last epoch ends) and resolves to their
    /// losses as a Float32Array of (D, G) pairs; rejects if a loss or parameter went NaN or infinite.
    pub fn train(&self, count: usize) -> js_sys::Promise {
        let page = self.page.clone();
        future_to_promise(async move {
            let mut run = page.run.try_borrow_mut().map_err(|_| busy("train"))?;
            let run = run.as_mut().ok_or_else(|| JsError::new("no run started"))?;
            let losses = train_steps(&page.gpu, run, count).await.map_err(js_error)?;
            Ok(js_sys::Float32Array::from(&losses[..]).into())
        })
    }

    /// The run's 8×8 grid now (G in eval mode on the seed's first 64 noise vectors, as the native
    /// run's epoch_NNN.png), as PNG bytes.
    pub fn grid(&self) -> js_sys::Promise {
        let page = self.page.clone();
        future_to_promise(async move {
            let run = page.run.try_borrow().map_err(|_| busy("grid"))?;
            let run = run.as_ref().ok_or_else(|| JsError::new("no run started"))?;
            let images = run
                .grid
                .seed_images_async(&page.gpu, 0)
                .await
                .map_err(js_error)?;
            let png = grid::grid_png(&images, GRID_ROW).map_err(js_error)?;
            Ok(js_sys::Uint8Array::from(&png[..]).into())
        })
    }

    /// Loads the classifier that scores images: the bytes of its weights and of its features file (the
    /// page fetches the MNIST classifier `gan-wgpu` ships, `assets/classifier/mnist*.safetensors`).
    pub fn load_classifier(&self, weights: Vec<u8>, features: Vec<u8>) -> Result<(), JsError> {
        let mut scorer = self
            .page
            .scorer
            .try_borrow_mut()
            .map_err(|_| busy("load_classifier"))?;
        let files = ClassifierFiles {
            source: ClassifierSource::File("mnist.safetensors".into()),
            weights: ("mnist.safetensors".into(), weights),
            features: ("mnist.features.safetensors".into(), features),
        };
        *scorer = Some(Scorer::new(&self.page.gpu, files).map_err(js_error)?);
        Ok(())
    }

    /// The scores of the run's G now, on the first `count` images of its seed's sample stream (the
    /// native run's quality curve scores 2,000): resolves to JSON `{ images, classifier_score,
    /// frechet_distance, covered_classes, histogram }`, the numbers `gan-wgpu train` prints.
    pub fn score(&self, count: usize) -> js_sys::Promise {
        let page = self.page.clone();
        future_to_promise(async move {
            let run = page.run.try_borrow().map_err(|_| busy("score"))?;
            let run = run.as_ref().ok_or_else(|| JsError::new("no run started"))?;
            let scorer = page.scorer.try_borrow().map_err(|_| busy("score"))?;
            let scorer = scorer
                .as_ref()
                .ok_or_else(|| JsError::new("load the classifier first"))?;
            let gpu = &page.gpu;
            let mut images = Vec::with_capacity(count * gan_wgpu::data::IMAGE_PIXELS);
            let mut sampler: Option<Sampler> = None;
            for first in (0..count).step_by(SCORE_CHUNK) {
                let rows = SCORE_CHUNK.min(count - first);
                if sampler.as_ref().is_none_or(|s| s.rows() != rows) {
                    sampler = Some(
                        Sampler::new(gpu, &run.trainer.g, rows, Some(run.seed))
                            .map_err(js_error)?,
                    );
                }
                let chunk = sampler.as_ref().expect("made above");
                images.extend(
                    chunk
                        .seed_images_async(gpu, first)
                        .await
                        .map_err(js_error)?,
                );
            }
            let scores = scorer.score_async(gpu, &images).await.map_err(js_error)?;
            Ok(serde_json::to_string(&scores)
                .expect("scores serialise")
                .into())
        })
    }

    /// The run's G or D (`net`: "G" or "D") as a checkpoint file, the native `G_NNN.safetensors` /
    /// `D_NNN.safetensors` layout (PyTorch's state_dict names), as bytes.
    pub fn checkpoint(&self, net: String) -> js_sys::Promise {
        let page = self.page.clone();
        future_to_promise(async move {
            let run = page.run.try_borrow().map_err(|_| busy("checkpoint"))?;
            let run = run.as_ref().ok_or_else(|| JsError::new("no run started"))?;
            let t = &run.trainer;
            let (net, tracked) = match net.as_str() {
                "G" => (&t.g.net, t.g_batches_tracked()),
                "D" => (&t.d.net, t.d_batches_tracked()),
                other => return Err(JsError::new(&format!("no net '{other}': G or D")).into()),
            };
            let name = format!("{}.safetensors", net.spec.label);
            let bytes = checkpoint::to_bytes(&page.gpu, net, tracked, Path::new(&name))
                .await
                .map_err(js_error)?;
            Ok(js_sys::Uint8Array::from(&bytes[..]).into())
        })
    }

    /// Loads a G checkpoint (ours, or the PyTorch original's state_dict as safetensors) from the
    /// bytes of the file `name`, for `sample`; a bad file is refused whole, naming it and the problem.
    pub fn load_generator(&self, name: String, bytes: Vec<u8>) -> Result<(), JsError> {
        let gpu = &self.page.gpu;
        let mut loaded = self
            .page
            .loaded
            .try_borrow_mut()
            .map_err(|_| busy("load"))?;
        let g = Generator::new(gpu).map_err(js_error)?;
        checkpoint::load_bytes(gpu, &g.net, Path::new(&name), &bytes).map_err(js_error)?;
        *loaded = Some(g);
        Ok(())
    }

    /// The loaded G's 64 images for `seed`, as `gan-wgpu sample --seed SEED --checkpoint FILE` draws
    /// them: a Float32Array [64, 1, 28, 28] of values in (0, 1).
    pub fn sample_pixels(&self, seed: u64) -> js_sys::Promise {
        let page = self.page.clone();
        future_to_promise(async move {
            let images = sample_loaded(&page, seed).await?;
            Ok(js_sys::Float32Array::from(&images[..]).into())
        })
    }

    /// The same images as an 8×8 grid PNG (the bytes of `gan-wgpu sample --seed SEED`'s file).
    pub fn sample(&self, seed: u64) -> js_sys::Promise {
        let page = self.page.clone();
        future_to_promise(async move {
            let images = sample_loaded(&page, seed).await?;
            let png = grid::grid_png(&images, GRID_ROW).map_err(js_error)?;
            Ok(js_sys::Uint8Array::from(&png[..]).into())
        })
    }
}

#[wasm_bindgen]
impl Gan {
    /// Every case of PyTorch's layer oracle (the bytes of `layers.safetensors`) through the layers on
    /// this page's WebGPU, as the native tests run it: resolves to JSON, one entry per case with its
    /// kernels' entry points and each tensor's error and bound.
    pub fn check_layers(&self, name: String, bytes: Vec<u8>) -> js_sys::Promise {
        let page = self.page.clone();
        future_to_promise(async move {
            let oracle = Oracle::parse(&name, &bytes).map_err(js_error)?;
            let mut cases = Vec::new();
            for case in oracle.cases() {
                let run = run_layer_case(&page.gpu, &oracle, &case)
                    .await
                    .map_err(js_error)?;
                cases.push(serde_json::json!({
                    "case": run.case, "entries": run.entries, "checks": checks_json(&run.checks)
                }));
            }
            Ok(serde_json::Value::Array(cases).to_string().into())
        })
    }

    /// PyTorch's whole-model oracle (the bytes of `step.safetensors` and the text of its
    /// `f32_errors.json`): the first D step and a G step from its initial weights, at its batch, as
    /// the native tests check them. Resolves to JSON: `{ batch, d_step: [checks], g_step: [checks] }`.
    pub fn check_step(&self, name: String, bytes: Vec<u8>, f32_errors: String) -> js_sys::Promise {
        let page = self.page.clone();
        future_to_promise(async move {
            let gpu = &page.gpu;
            let step = StepOracle::parse(&name, &bytes, &f32_errors).map_err(js_error)?;
            drop(bytes);
            let batch = step.batch().map_err(js_error)?;
            let hyper = Hyper {
                batch,
                ..Hyper::default()
            };
            let trainer = Trainer::new(gpu, hyper).map_err(js_error)?;
            step.load_init(gpu, &trainer).map_err(js_error)?;
            let d_step = step.first_d_step(gpu, &trainer).await.map_err(js_error)?;
            // The D step moved D's running statistics; the G step starts from the initial ones too.
            step.load_init(gpu, &trainer).map_err(js_error)?;
            let g_step = step.g_step(gpu, &trainer).await.map_err(js_error)?;
            let json = serde_json::json!({
                "batch": batch, "d_step": checks_json(&d_step), "g_step": checks_json(&g_step)
            });
            Ok(json.to_string().into())
        })
    }
}

fn checks_json(checks: &[Check]) -> Vec<serde_json::Value> {
    checks
        .iter()
        .map(|c| {
            serde_json::json!({
                "key": c.key, "error": c.error, "bound": c.bound, "passed": c.passed()
            })
        })
        .collect()
}

async fn sample_loaded(page: &Page, seed: u64) -> Result<Vec<f32>, JsValue> {
    let loaded = page.loaded.try_borrow().map_err(|_| busy("sample"))?;
    let g = loaded
        .as_ref()
        .ok_or_else(|| JsError::new("load a G checkpoint first"))?;
    let sampler = Sampler::new(&page.gpu, g, GRID_SAMPLES, Some(seed)).map_err(js_error)?;
    Ok(sampler
        .seed_images_async(&page.gpu, 0)
        .await
        .map_err(js_error)?)
}

/// Submits up to `count` steps of `run`, one submission each, then awaits their losses and the
/// health flags of the last (the flag word is sticky: it covers every step before).
async fn train_steps(gpu: &Gpu, run: &mut Run, count: usize) -> gan_wgpu::Result<Vec<f32>> {
    let mut losses = Vec::with_capacity(2 * count);
    let mut last = None;
    let mut first_step = run.step;
    for _ in 0..count {
        if run.finished() {
            break;
        }
        if run.step == 0 {
            run.steps.start_epoch(gpu, run.epoch)?;
        }
        let trainer = &run.trainer;
        let mut encoder = run.steps.record(gpu, trainer, run.step)?;
        let number = trainer.steps_done + 1;
        trainer.health.snapshot(&mut encoder, number as usize);
        let submission = gpu.submit(encoder, "training step")?;
        run.trainer.finish_step();
        last = Some((number, run.epoch, run.step + 1, submission));
        run.step += 1;
        if run.step == run.steps.steps_per_epoch() {
            // The next epoch's steps overwrite the loss log.
            collect_losses(gpu, run, first_step, &mut losses).await?;
            run.epoch += 1;
            run.step = 0;
            first_step = 0;
        }
    }
    if run.step > first_step {
        collect_losses(gpu, run, first_step, &mut losses).await?;
    }
    if let Some((number, epoch, step_in_epoch, submission)) = last {
        let flags = run
            .trainer
            .health
            .read_snapshot_async(gpu, number as usize, submission)
            .await?;
        if flags != 0 {
            return Err(Error::Diverged {
                step: number,
                epoch,
                step_in_epoch,
                what: health::describe(flags),
            });
        }
    }
    Ok(losses)
}

/// Appends the (D, G) losses of the current epoch's steps from `first_step` on.
async fn collect_losses(
    gpu: &Gpu,
    run: &Run,
    first_step: usize,
    losses: &mut Vec<f32>,
) -> gan_wgpu::Result<()> {
    let (d, g) = run.steps.losses(gpu, first_step..run.step).await?;
    losses.extend(d.iter().zip(&g).flat_map(|(&d, &g)| [d, g]));
    Ok(())
}
