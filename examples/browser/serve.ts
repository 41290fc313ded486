/**
 * A static file server for the built browser example (Node): serves a folder on 127.0.0.1, which
 * browsers treat as a secure context (WebGPU needs one).
 *
 *   node dist/examples/browser/serve.js [--port 8080]     # then open http://127.0.0.1:8080/
 */
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.bin': 'application/octet-stream',
  '.css': 'text/css',
};

/** Serves `dir` on 127.0.0.1:`port` (0: any free port); resolves to the server and its URL. */
export async function serve(dir: string, port = 0): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(dir, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(dir)) {
      res.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) => {
        res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
        res.end(body);
      },
      () => res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`),
    );
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const addr = server.address();
  const p = typeof addr === 'object' && addr !== null ? addr.port : port;
  return { server, url: `http://127.0.0.1:${p}/` };
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const i = process.argv.indexOf('--port');
  const port = i >= 0 ? Number(process.argv[i + 1]) : 8080;
  const { url } = await serve(dirname(fileURLToPath(import.meta.url)), port);
  console.log(`serving the browser example on ${url} (Ctrl-C to stop)`);
}
