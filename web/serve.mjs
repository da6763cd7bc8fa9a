// A static server for the page on 127.0.0.1 (no dependencies): `node web/serve.mjs [--port N]
// [--oracle DIR]`. Serves web/ at /, and with --oracle the PyTorch oracle's files at /oracle/ for the
// browser tests. Prints the page's address once it listens.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
  '.css': 'text/css',
};

export function serve({ port = 8000, oracle = null } = {}) {
  const root = resolve(fileURLToPath(new URL('.', import.meta.url)));
  const roots = [['/oracle/', oracle && resolve(oracle)], ['/', root]];
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const [prefix, dir] = roots.find(([p, d]) => d && path.startsWith(p)) ?? [];
    let file = dir && normalize(join(dir, path.slice(prefix.length)));
    if (!file || (file !== dir && !file.startsWith(dir + sep))) {
      res.writeHead(403).end('outside the served folders');
      return;
    }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
      });
      res.end(body);
    } catch {
      res.writeHead(404).end(`no ${path}`);
    }
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ok(server));
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const server = await serve({ port: Number(arg('--port') ?? 8000), oracle: arg('--oracle') });
  console.log(`gan-wgpu page: http://127.0.0.1:${server.address().port}/  (Ctrl-C stops)`);
}
