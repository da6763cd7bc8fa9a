// Times training steps in the page, in headless Chromium's WebGPU: `node web/bench.mjs [--batch N]...
// [--steps S]` (after web/build.sh). For each batch size: a run is started (seed 1, bundled digits),
// one step is taken to compile the pipelines, then S steps are timed one submission each, every one
// awaited (its losses read back, as the page does). Prints the adapter and the median ms per step.
import { launchChromium, openPage } from './chromium.mjs';
import { serve } from './serve.mjs';

const args = process.argv.slice(2);
const batches = [];
let steps = 3;
for (let i = 0; i < args.length; i += 2) {
  const value = Number(args[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${args[i]} wants a whole number, not ${args[i + 1]}`);
  if (args[i] === '--batch') batches.push(value);
  else if (args[i] === '--steps') steps = value;
  else throw new Error(`unknown option ${args[i]}: --batch N (repeatable), --steps S`);
}
if (batches.length === 0) batches.push(32, 128);

const server = await serve({ port: 0 });
const browser = await launchChromium();
try {
  const page = await openPage(browser, `http://127.0.0.1:${server.address().port}/`);
  console.log(`chromium ${browser.browser()?.version() ?? ''}; ${await page.textContent('#adapter')}`);
  for (const batch of batches) {
    const result = await page.evaluate(async ({ batch, steps }) => {
      const gan = window.ganPage.gan;
      let t = performance.now();
      gan.start_training(1n, batch, 1);
      const build = performance.now() - t;
      t = performance.now();
      await gan.train(1);
      const first = performance.now() - t;
      const times = [];
      for (let i = 0; i < steps; i++) {
        t = performance.now();
        await gan.train(1);
        times.push(performance.now() - t);
      }
      return { build, first, times };
    }, { batch, steps });
    const sorted = [...result.times].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    console.log(
      `batch ${batch}: median ${median.toFixed(0)} ms/step over ${steps} steps ` +
      `(${result.times.map((t) => t.toFixed(0)).join(', ')}); first step ${result.first.toFixed(0)} ms, ` +
      `run built in ${result.build.toFixed(0)} ms`,
    );
  }
} finally {
  await browser.close();
  server.close();
}
