/**
 * A live training dashboard: a small HTTP server on the loopback interface that serves one
 * self-contained page (no external scripts — the machine may have no network) showing the training
 * curves (with the training loss within epochs, like d2l's ProgressBoard), epoch/batch progress,
 * throughput and the last validation accuracy. The page receives every change through
 * Server-Sent Events and redraws without reloading; each event carries the figure itself, so the
 * last state a page received is complete even when the server is gone right after it.
 *
 * Endpoints: `GET /` the page, `GET /events` the event stream (`{records, progress, maxEpochs,
 * svg}` JSON per event, the current state first), `GET /curves.svg` the curves drawn by `curvesSvg`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CurvePoint, EpochRecord } from '../train/trainer.js';
import { curvesSvg } from './curves.js';
import { escapeXml } from './svg.js';
import { dashboardPage } from './dashboard-page.js';

/** Progress within the running epoch (from the trainer's `'batch'` events). */
export interface DashboardProgress {
  /** 1-based epoch being trained. */
  epoch: number;
  /** 1-based batch within the epoch. */
  batch: number;
  /** Batches per epoch, or null when the loader does not know. */
  numBatches: number | null;
  /** The last batch's training loss. */
  loss: number;
  /** Training throughput so far in this epoch. */
  imagesPerSec: number;
  /** The running epoch's training-loss points so far (the trainer's `BatchEvent.curve`). */
  curve?: readonly CurvePoint[];
  /** The current learning rate. */
  lr?: number;
}

/** Options of the `Dashboard`. */
export interface DashboardOptions {
  /** TCP port (default 0 = any free port; the chosen one is in the URL `start` returns). */
  port?: number;
  /** Interface to listen on: only '127.0.0.1' or 'localhost' (both bind 127.0.0.1). */
  host?: string;
  /** Page heading (default 'convnet training'). */
  title?: string;
  /** Planned number of epochs: fixes the x axis and shows 'epoch 3/10'. */
  maxEpochs?: number;
}

/** The state every event carries (and the figure drawn from it). */
interface DashboardState {
  records: EpochRecord[];
  progress: DashboardProgress | null;
  maxEpochs: number | null;
}

/** Updates closer together than this are merged (the trainer may report thousands of batches/s). */
const MIN_INTERVAL_MS = 100;
const CURVES_W = 760;
const CURVES_H = 420;

/**
 * The live dashboard. Feed it from the trainer's events; it keeps only the latest state.
 * @example
 * const dash = new Dashboard({ title: 'LeNet on Fashion-MNIST', maxEpochs: 10 });
 * console.log(`dashboard: ${await dash.start()}`);
 * trainer.on('batch', (e) => dash.update(records, e));
 * trainer.on('epoch', (e) => { records.push(e.record); dash.update(records); });
 * await trainer.fit(model, data);
 * await dash.close();
 */
export class Dashboard {
  private readonly port: number;
  private readonly title: string;
  private readonly maxEpochs: number | null;
  private state: DashboardState;
  private server: Server | null = null;
  private readonly clients = new Set<ServerResponse>();
  private lastSent = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  /** Checks the options; nothing listens until `start`. */
  constructor(opts: DashboardOptions = {}) {
    const host = opts.host ?? '127.0.0.1';
    // The page exposes the run to anyone who can reach it, so it is never bound to a public interface.
    if (host !== '127.0.0.1' && host !== 'localhost') {
      throw new Error(`Dashboard: host '${host}' refused; the dashboard only listens on 127.0.0.1 (use '127.0.0.1' or 'localhost')`);
    }
    const port = opts.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`Dashboard: port must be an integer in 0..65535, got ${opts.port}`);
    if (opts.maxEpochs !== undefined && !(Number.isInteger(opts.maxEpochs) && opts.maxEpochs > 0)) {
      throw new Error(`Dashboard: maxEpochs must be a positive integer, got ${opts.maxEpochs}`);
    }
    this.port = port;
    this.title = opts.title ?? 'convnet training';
    this.maxEpochs = opts.maxEpochs ?? null;
    this.state = { records: [], progress: null, maxEpochs: this.maxEpochs };
  }

  /** Starts listening on 127.0.0.1 and resolves to the page's URL (`http://127.0.0.1:<port>/`). */
  start(): Promise<string> {
    if (this.closed) return Promise.reject(new Error('Dashboard: start() after close()'));
    if (this.server) return Promise.reject(new Error('Dashboard: already started'));
    const server = createServer((req, res) => this.handle(req, res));
    // A malformed request must not take the training process down.
    server.on('clientError', (_err, socket) => socket.destroy());
    this.server = server;
    return new Promise((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        this.server = null;
        if (e.code === 'EADDRINUSE') reject(new Error(`Dashboard: port ${this.port} on 127.0.0.1 is already in use (choose another port, or 0 for any free port)`, { cause: e }));
        else if (e.code === 'EACCES') reject(new Error(`Dashboard: no permission to listen on port ${this.port} (ports below 1024 need privileges; use a higher port or 0)`, { cause: e }));
        else reject(new Error(`Dashboard: cannot listen on 127.0.0.1:${this.port}: ${e.message}`, { cause: e }));
      };
      server.once('error', onError);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', onError);
        resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      });
    });
  }

  /**
   * Sets the state shown: all epoch records so far and, while an epoch runs, its progress. Pushed
   * to open pages at most every 100 ms (the latest state wins). Callable before `start`.
   */
  update(records: EpochRecord[], progress?: DashboardProgress): void {
    if (this.closed) return;
    // Copied so that a caller pushing into its array later does not change what was reported.
    const p = progress ? { ...progress, ...(progress.curve ? { curve: progress.curve.slice() } : {}) } : null;
    this.state = { records: records.slice(), progress: p, maxEpochs: this.maxEpochs };
    if (this.timer) return;
    const wait = this.lastSent + MIN_INTERVAL_MS - Date.now();
    if (wait <= 0) {
      this.broadcast();
    } else {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.broadcast();
      }, wait);
      // A pending redraw must not keep the process alive after training.
      this.timer.unref();
    }
  }

  /**
   * Sends the latest state to open pages if it is still waiting for its turn, ends the event streams
   * and stops the server (pages show 'disconnected' beside that final state). Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) {
      // The final state (e.g. the last epoch's record) must not be lost to the rate limit.
      clearTimeout(this.timer);
      this.timer = null;
      this.broadcast();
    }
    for (const res of this.clients) res.end();
    this.clients.clear();
    const server = this.server;
    this.server = null;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      // Idle keep-alive sockets would otherwise hold close() open for seconds.
      server.closeAllConnections();
    });
  }

  private broadcast(): void {
    this.lastSent = Date.now();
    const msg = this.message();
    for (const res of this.clients) res.write(msg);
  }

  private message(): string {
    // JSON.stringify turns NaN (no validation yet) into null; the page shows '–' for it.
    return `data: ${JSON.stringify({ ...this.state, svg: this.svg() })}\n\n`;
  }

  /** The figure of the current state. */
  private svg(): string {
    const { records, progress } = this.state;
    // While epoch k runs the axis already reaches k, so the plot does not rescale when it ends.
    const maxEpochs = Math.max(this.maxEpochs ?? 0, progress?.epoch ?? 0) || undefined;
    return curvesSvg(records, { title: '', width: CURVES_W, height: CURVES_H, maxEpochs, current: progress?.curve ?? [] });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const port = (this.server?.address() as AddressInfo | null)?.port;
    // A DNS-rebinding page would reach us under its own host name; only loopback names are served.
    const hostHeader = req.headers.host ?? '';
    if (hostHeader !== `127.0.0.1:${port}` && hostHeader !== `localhost:${port}`) {
      res.writeHead(403, { 'Content-Type': 'text/plain' }).end(`forbidden host '${hostHeader}'\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    try {
      if (path === '/') this.sendPage(res);
      else if (path === '/events') this.openStream(req, res);
      else if (path === '/curves.svg') this.sendCurves(res);
      else if (path === '/favicon.ico') res.writeHead(204).end();
      else res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${path}\n`);
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`dashboard error: ${(e as Error).message}\n`);
    }
  }

  private sendPage(res: ServerResponse): void {
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      // Everything is inline or same-origin; nothing may be loaded from elsewhere.
      'Content-Security-Policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
    });
    res.end(dashboardPage(escapeXml(this.title)));
  }

  private openStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    if (req.method === 'HEAD' || this.closed) {
      res.end();
      return;
    }
    // retry: how soon the browser reconnects if the stream drops (e.g. the run restarted).
    res.write(`retry: 2000\n\n${this.message()}`);
    this.clients.add(res);
    req.on('close', () => this.clients.delete(res));
  }

  private sendCurves(res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'image/svg+xml; charset=utf-8', 'Cache-Control': 'no-store' }).end(this.svg());
  }
}
