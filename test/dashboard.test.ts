/**
 * The live dashboard: HTTP endpoints and the event stream checked with node:http, then the real
 * page in Chromium (Debian's /usr/bin/chromium driven by playwright-core), which must redraw the
 * curves when `update()` adds an epoch or a within-epoch training-loss point — without reloading —
 * and whose final state, even when the dashboard closes right after the last update, shows every
 * epoch and a full progress bar.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { get, request, type IncomingMessage } from 'node:http';
import { Dashboard, type DashboardProgress } from '../src/viz/dashboard.js';
import type { EpochRecord } from '../src/train/trainer.js';

const CHROMIUM = '/usr/bin/chromium';

function rec(epoch: number, trainLoss: number, valLoss: number, valAcc: number): EpochRecord {
  return { epoch, trainLoss, valLoss, valAcc, imagesPerSec: 1234, seconds: 2, trainImages: 2468, trainSeconds: 2 };
}

interface Reply {
  status: number;
  type: string;
  body: string;
}

function fetchText(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`timeout fetching ${url}`)));
    req.end();
  });
}

/** Reads `data:` events of a Server-Sent-Events stream one at a time. */
class EventReader {
  private buf = '';
  private readonly events: unknown[] = [];
  private waiter: (() => void) | null = null;
  ended = false;
  res: IncomingMessage | null = null;
  private readonly req;

  constructor(url: string) {
    this.req = get(url, (res) => {
      this.res = res;
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        this.buf += c;
        let k: number;
        while ((k = this.buf.indexOf('\n\n')) >= 0) {
          const block = this.buf.slice(0, k);
          this.buf = this.buf.slice(k + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
          if (data.length) this.events.push(JSON.parse(data.join('\n')));
        }
        this.waiter?.();
      });
      res.on('end', () => {
        this.ended = true;
        this.waiter?.();
      });
    });
    this.req.on('error', () => undefined);
  }

  /** The next event (waits up to 5 s). */
  async next(): Promise<any> {
    const deadline = Date.now() + 5000;
    while (this.events.length === 0) {
      if (this.ended) throw new Error('event stream ended');
      if (Date.now() > deadline) throw new Error('no event within 5 s');
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 100);
      });
    }
    return this.events.shift();
  }

  /** Resolves when the server ends the stream (rejects after 5 s). */
  async end(): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('stream not ended within 5 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  destroy(): void {
    this.req.destroy();
  }
}

test('dashboard: page, curves and event stream over HTTP; loopback only; clear errors', { timeout: 30000 }, async () => {
  assert.throws(() => new Dashboard({ host: '0.0.0.0' }), /host '0\.0\.0\.0' refused.*127\.0\.0\.1/);
  assert.throws(() => new Dashboard({ host: '192.168.1.5' }), /refused/);
  assert.throws(() => new Dashboard({ port: 70000 }), /port must be an integer in 0\.\.65535/);

  const dash = new Dashboard({ host: 'localhost', title: 'LeNet <test>', maxEpochs: 5 });
  let other: Dashboard | null = null;
  let events: EventReader | null = null;
  try {
    const url = await dash.start();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const port = Number(new URL(url).port);
    assert.ok(port > 0);

    const page = await fetchText(url);
    assert.equal(page.status, 200);
    assert.match(page.type, /^text\/html/);
    assert.match(page.body, /^<!doctype html>/);
    assert.match(page.body, /<title>LeNet &lt;test&gt;<\/title>/);
    assert.match(page.body, /new EventSource\("events"\)/);
    // Self-contained: no external script, style or font.
    assert.doesNotMatch(page.body, /<script[^>]+src=|<link[^>]+href=|https?:\/\//);

    events = new EventReader(`${url}events`);
    // The current state comes first, even before any update, with its figure.
    const first = await events.next();
    assert.deepEqual({ ...first, svg: undefined }, { records: [], progress: null, maxEpochs: 5, svg: undefined });
    assert.match(first.svg, /^<svg[\s\S]*waiting for the first epoch/);
    const progress: DashboardProgress = { epoch: 2, batch: 7, numBatches: 20, loss: 0.61, imagesPerSec: 987 };
    dash.update([rec(1, 0.9, NaN, 0.55)], progress);
    const ev = await events.next();
    assert.deepEqual(ev.progress, progress);
    assert.equal(ev.records.length, 1);
    assert.equal(ev.svg.match(/<circle data-series="trainLoss"/g)?.length, 1);
    assert.equal(ev.records[0].epoch, 1);
    assert.equal(ev.records[0].valLoss, null, 'NaN travels as null');
    // Rapid updates are merged; the last state arrives.
    for (let b = 8; b <= 12; b++) dash.update([rec(1, 0.9, NaN, 0.55)], { ...progress, batch: b });
    let last = await events.next();
    while (last.progress.batch !== 12) last = await events.next();

    const curves = await fetchText(`${url}curves.svg`);
    assert.equal(curves.status, 200);
    assert.match(curves.type, /^image\/svg\+xml/);
    assert.equal(curves.body.match(/<circle data-series="trainLoss"/g)?.length, 1);
    assert.equal(curves.body.match(/<circle data-series="valLoss"/g), null);

    assert.equal((await fetchText(`${url}nope`)).status, 404);
    // A foreign Host header (DNS rebinding) is refused.
    assert.equal((await fetchText(url, { Host: `evil.example:${port}` })).status, 403);

    other = new Dashboard({ port });
    await assert.rejects(other.start(), new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));

    // close() ends the open stream, so a process holding a dashboard can exit.
    const t0 = Date.now();
    await dash.close();
    await events.end();
    assert.ok(Date.now() - t0 < 2000, 'close() was quick');
    await dash.close();
    await assert.rejects(dash.start(), /after close/);
  } finally {
    events?.destroy();
    await other?.close();
    await dash.close();
  }
});

test('dashboard: the page in Chromium redraws live when an epoch is added', { timeout: 90000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed`);
    return;
  }
  const { chromium } = await import('playwright-core');
  const dash = new Dashboard({ title: 'Live test', maxEpochs: 4 });
  let browser: Awaited<ReturnType<typeof chromium.launch>> | null = null;
  try {
    dash.update([rec(1, 0.9, 0.7, 0.6)]);
    const url = await dash.start();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30000 });
    const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    page.setDefaultTimeout(15000);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    const count = (series: string): Promise<number> => page.locator(`#curves svg circle[data-series="${series}"]`).count();
    await page.waitForSelector('#curves svg circle[data-series="trainLoss"]');
    assert.equal(await count('trainLoss'), 1);
    assert.equal(await count('valAcc'), 1);
    assert.equal((await page.textContent('#epoch'))?.trim(), '1/4 done');
    assert.equal((await page.textContent('#valacc'))?.trim(), '0.6000');
    await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'live');

    // A marker on the window survives only if the page is not reloaded.
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    // Epoch 2 with its within-epoch points, and epoch 3 running with two points so far.
    const e2 = { ...rec(2, 0.5, 0.55, 0.8), trainCurve: [{ epoch: 1.25, loss: 0.62 }, { epoch: 1.75, loss: 0.48 }] };
    const curve3 = [{ epoch: 2.1, loss: 0.47 }, { epoch: 2.3, loss: 0.44 }];
    dash.update([rec(1, 0.9, 0.7, 0.6), e2], { epoch: 3, batch: 5, numBatches: 10, loss: 0.45, imagesPerSec: 1500, curve: curve3 });
    // 1 (epoch 1's mean) + 2 (epoch 2) + 2 (epoch 3 so far), at fractional epochs.
    await page.waitForFunction(() => document.querySelectorAll('#curves svg circle[data-series="trainLoss"]').length === 5);
    const xs = await page.$$eval('#curves svg circle[data-series="trainLoss"]', (cs) => cs.map((c) => c.getAttribute('data-epoch')));
    assert.deepEqual(xs, ['1', '1.2500', '1.7500', '2.1000', '2.3000']);
    assert.equal(await count('valLoss'), 2);
    assert.equal((await page.textContent('#epoch'))?.trim(), '3/4');
    assert.equal((await page.textContent('#batch'))?.trim(), '5/10');
    assert.equal((await page.textContent('#speed'))?.trim(), '1500');
    assert.equal((await page.textContent('#valacc'))?.trim(), '0.8000');
    assert.equal(await page.locator('#records tbody tr').count(), 2);
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'page was reloaded');
    if (process.env.DASHBOARD_SCREENSHOT) await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT, fullPage: true });

    // The end of a 4-epoch run: progress near the end of epoch 4 is shown, then the last record
    // arrives and the dashboard closes at once (as `convnet train` does). The last state must be
    // complete: 4 epochs in the figure and the table, a full bar, '4/4 done'.
    const all = [rec(1, 0.9, 0.7, 0.6), e2, rec(3, 0.4, 0.5, 0.84)];
    dash.update(all, { epoch: 4, batch: 88, numBatches: 100, loss: 0.39, imagesPerSec: 1500, curve: [{ epoch: 3.4, loss: 0.4 }] });
    await page.waitForFunction(() => document.getElementById('batch')?.textContent === '88/100');
    dash.update([...all, rec(4, 0.38, 0.45, 0.86)]);
    await dash.close();
    // The stream ended after the last epoch: the run finished (a stream lost mid-run says 'disconnected').
    await page.waitForFunction(() => document.getElementById('conn')?.textContent === 'finished');
    assert.equal((await page.textContent('#epoch'))?.trim(), '4/4 done');
    assert.equal(await count('valAcc'), 4);
    assert.equal(await page.locator('#records tbody tr').count(), 4);
    const [fill, bar] = await page.evaluate(() => [document.getElementById('fill')!.getBoundingClientRect().width, document.getElementById('bar')!.getBoundingClientRect().width]);
    assert.ok(bar > 0 && Math.abs(fill - bar) < 0.5, `progress bar ${fill} of ${bar} px`);
    if (process.env.DASHBOARD_SCREENSHOT) await page.screenshot({ path: process.env.DASHBOARD_SCREENSHOT.replace(/(\.png)?$/, '-final.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser?.close();
    await dash.close();
  }
});
