// Headless Chromium with WebGPU for the browser tests and the benchmark: Debian's `chromium` (CHROMIUM
// overrides the path), a fresh profile, nothing reaching the network (this machine's is closed).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu', '--no-sandbox', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
];

export function launchChromium() {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'gan-wgpu-chromium-')), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    acceptDownloads: true,
    args: CHROMIUM_ARGS,
  });
}

// A page of `base` with the module loaded and WebGPU opened; the browser's console lines are kept in
// `page.consoleLines` for failures.
export async function openPage(context, base) {
  const page = await context.newPage();
  const lines = [];
  page.on('console', (m) => lines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
  await page.goto(base);
  try {
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
  } catch {
    throw new Error(`the page did not get ready: ${await page.textContent('#message')}\n${lines.join('\n')}`);
  }
  page.consoleLines = lines;
  return page;
}
