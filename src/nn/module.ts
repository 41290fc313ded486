/**
 * `Module`: the base class of layers and models, as PyTorch's `nn.Module`. Children and parameters
 * are found from the instance's own properties in definition order, so a TypeScript port of a
 * PyTorch model reads like the original and `stateDict()` uses PyTorch's dotted names.
 */
import { Tensor } from '../tensor/tensor.js';
import { copyTo } from '../tensor/transfer.js';
import { keep } from '../tensor/scope.js';
import { fmt, sameShape } from '../tensor/shape.js';
import { Parameter } from './parameter.js';

/** Runs before `forward` inside `call` (lazy materialization is one); may return replacement inputs. */
export type ForwardPreHook = (module: Module, inputs: Tensor[]) => Tensor[] | void;
/** Runs after `forward` inside `call`; may return a replacement output. */
export type ForwardHook = (module: Module, inputs: Tensor[], output: Tensor) => Tensor | void;

/** Outputs that a forward hook has seen (a hook may hold on to them): containers never release them. */
const hookedOutputs = new WeakSet<Tensor>();

/** True when a forward hook was given `t` (so someone besides the caller may still hold it). */
export function seenByHook(t: Tensor): boolean {
  return hookedOutputs.has(t);
}

/** Options of `Module.loadStateDict`. */
export interface LoadStateDictOptions {
  /** Require the keys to match exactly (default true). Shape mismatches are errors either way. */
  strict?: boolean;
}

/** What `loadStateDict` did not match (only non-empty when `strict` is false). */
export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** Options of `Module.registerBuffer`. */
export interface BufferOptions {
  /** Part of `stateDict()` (default true). */
  persistent?: boolean;
}

type Entry = { kind: 'module'; value: Module | null } | { kind: 'param'; value: Parameter | null };

function isKey(name: string, what: string, owner: string): void {
  if (typeof name !== 'string' || name === '' || name.includes('.')) {
    throw new Error(`${owner}.${what}: invalid name '${String(name)}' (must be a non-empty string without '.')`);
  }
}

/**
 * Base class of all layers and models. Subclasses assign layers and parameters to properties
 * (discovered automatically, in definition order) and override `forward`. Call a module with
 * `m.call(x)` (runs hooks such as lazy initialization, then `forward`).
 * @example
 * class MLP extends nn.Module {
 *   net = new nn.Sequential(new nn.LazyLinear(256), new nn.ReLU(), new nn.LazyLinear(10));
 *   override forward(x: Tensor) { return this.net.call(x); }
 * }
 * const m = new MLP();
 * m.call(cn.randn([2, 20]));
 * m.namedParameters().map(([n]) => n); // ['net.0.weight', 'net.0.bias', 'net.2.weight', 'net.2.bias']
 */
export class Module {
  /** Training mode (true) or evaluation mode (false); set with `train()` / `eval()`. */
  training = true;
  // Private (#) fields are not own enumerable properties, so discovery never sees them.
  #entries = new Map<string, Entry>();
  #buffers = new Map<string, { value: Tensor | null; persistent: boolean }>();
  #preHooks: ForwardPreHook[] = [];
  #hooks: ForwardHook[] = [];

  /**
   * The computation. Subclasses override it; call modules with `call` so that hooks (lazy
   * initialization) run.
   */
  forward(..._xs: Tensor[]): Tensor {
    throw new Error(`${this.constructor.name}: forward() is not implemented`);
  }

  /**
   * Runs the forward pre-hooks (lazy layers materialize here), `forward`, then the forward hooks.
   * The TypeScript spelling of PyTorch's `module(x)`.
   * @example const y = net.call(x);
   */
  call(...xs: Tensor[]): Tensor {
    let inputs = xs;
    for (const h of [...this.#preHooks]) {
      const r = h(this, inputs);
      if (r !== undefined) inputs = r;
    }
    let y = this.forward(...inputs);
    for (const h of [...this.#hooks]) {
      hookedOutputs.add(y);
      const r = h(this, inputs, y);
      if (r !== undefined) y = r;
    }
    return y;
  }

  /** Adds a hook run by `call` before `forward`; returns a function that removes it. */
  registerForwardPreHook(hook: ForwardPreHook): () => void {
    this.#preHooks.push(hook);
    return () => {
      const i = this.#preHooks.indexOf(hook);
      if (i >= 0) this.#preHooks.splice(i, 1);
    };
  }

  /**
   * Adds a hook run by `call` after `forward` (layer summaries use it); returns a function that
   * removes it.
   * @example const remove = layer.registerForwardHook((m, [x], y) => console.log(m.toString(), y.shape));
   */
  registerForwardHook(hook: ForwardHook): () => void {
    this.#hooks.push(hook);
    return () => {
      const i = this.#hooks.indexOf(hook);
      if (i >= 0) this.#hooks.splice(i, 1);
    };
  }

  // ---- registration -------------------------------------------------------------------------

  /**
   * Picks up Modules and Parameters assigned to own properties since the last look, in property
   * order, and follows re-assignments (a property set to null hides its entry).
   */
  #sync(): void {
    const self = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(this)) {
      const v = self[key];
      const e = this.#entries.get(key);
      if (v instanceof Module) {
        this.#entries.set(key, { kind: 'module', value: v });
      } else if (v instanceof Parameter) {
        this.#entries.set(key, { kind: 'param', value: v });
      } else if (e !== undefined && (v === null || v === undefined)) {
        e.value = null;
      } else if (e !== undefined) {
        // The property now holds something else (e.g. a plain tensor): no longer registered.
        this.#entries.delete(key);
      }
    }
  }

  #define(name: string, value: unknown): void {
    const self = this as unknown as Record<string, unknown>;
    if (Object.prototype.hasOwnProperty.call(this, name)) {
      const cur = self[name];
      if (!(cur === null || cur === undefined || cur instanceof Module || cur instanceof Parameter)) {
        throw new Error(`${this.constructor.name}: attribute '${name}' already exists and is not a module or parameter`);
      }
      self[name] = value;
    } else if (name in this) {
      throw new Error(`${this.constructor.name}: '${name}' is a method or accessor of the class and cannot name a child`);
    } else {
      Object.defineProperty(this, name, { value, enumerable: true, writable: true, configurable: true });
    }
  }

  /**
   * Registers `m` as a child named `name` (also set as a property, so `this[name]` works).
   * `null` reserves the name. Same as `addModule`.
   */
  registerModule(name: string, m: Module | null): this {
    isKey(name, 'registerModule', this.constructor.name);
    if (m !== null && !(m instanceof Module)) throw new Error(`${this.constructor.name}.registerModule('${name}'): not a Module`);
    if (this.#buffers.has(name)) throw new Error(`${this.constructor.name}: '${name}' is already a buffer`);
    this.#sync();
    this.#define(name, m);
    this.#entries.set(name, { kind: 'module', value: m });
    return this;
  }

  /** Registers `m` as a child named `name` (PyTorch's `add_module`; DenseNet's `dense_blk1`). */
  addModule(name: string, m: Module | null): this {
    return this.registerModule(name, m);
  }

  /** Registers a parameter under `name` (also set as a property); `null` reserves the name. */
  registerParameter(name: string, p: Parameter | null): this {
    isKey(name, 'registerParameter', this.constructor.name);
    if (p !== null && !(p instanceof Parameter)) {
      throw new Error(`${this.constructor.name}.registerParameter('${name}'): not a Parameter (wrap it: new Parameter(t))`);
    }
    if (this.#buffers.has(name)) throw new Error(`${this.constructor.name}: '${name}' is already a buffer`);
    this.#sync();
    this.#define(name, p);
    this.#entries.set(name, { kind: 'param', value: p });
    return this;
  }

  /**
   * Registers a buffer: state that is saved in `stateDict()` but not trained (BatchNorm's
   * `running_mean`). Registering an existing name replaces the tensor (the old one is not disposed).
   * Buffers are `keep()`-ed, so `tidy` never frees them. Read them with `buffer(name)`.
   */
  registerBuffer(name: string, t: Tensor | null, opts: BufferOptions = {}): this {
    isKey(name, 'registerBuffer', this.constructor.name);
    this.#sync();
    if (this.#entries.has(name)) throw new Error(`${this.constructor.name}: '${name}' is already a module or parameter`);
    if (t !== null) keep(t);
    const prev = this.#buffers.get(name);
    this.#buffers.set(name, { value: t, persistent: opts.persistent ?? prev?.persistent ?? true });
    return this;
  }

  /** The buffer registered under `name` (throws when there is none). */
  buffer(name: string): Tensor | null {
    const b = this.#buffers.get(name);
    if (b === undefined) throw new Error(`${this.constructor.name} has no buffer '${name}'`);
    return b.value;
  }

  // ---- traversal ----------------------------------------------------------------------------

  /** Direct children with their names, in registration/definition order (null entries skipped). */
  namedChildren(): [string, Module][] {
    this.#sync();
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    for (const [name, e] of this.#entries) {
      if (e.kind === 'module' && e.value !== null && !seen.has(e.value)) {
        seen.add(e.value);
        out.push([name, e.value]);
      }
    }
    return out;
  }

  /** Direct children. */
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** Parameters registered on this module itself (not its children). */
  #ownParameters(): [string, Parameter][] {
    this.#sync();
    const out: [string, Parameter][] = [];
    for (const [name, e] of this.#entries) if (e.kind === 'param' && e.value !== null) out.push([name, e.value]);
    return out;
  }

  /**
   * This module and all descendants, pre-order, with dotted names (`''` for this one); each module
   * once.
   */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const visit = (m: Module, name: string): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([name, m]);
      for (const [n, c] of m.namedChildren()) visit(c, name === '' ? n : `${name}.${n}`);
    };
    visit(this, prefix);
    return out;
  }

  /** This module and all descendants, pre-order. */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /**
   * All parameters with PyTorch's dotted names (`net.0.weight`), each parameter once.
   * @example for (const [name, p] of net.namedParameters()) console.log(name, p.shape);
   */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const seen = new Set<Parameter>();
    for (const [mname, m] of this.namedModules(prefix)) {
      for (const [pname, p] of m.#ownParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([mname === '' ? pname : `${mname}.${pname}`, p]);
      }
    }
    return out;
  }

  /** All parameters (each once), e.g. for an optimizer: `new SGD({ params: net.parameters(), lr })`. */
  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** All buffers with dotted names (`net.1.running_mean`). */
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [mname, m] of this.namedModules(prefix)) {
      for (const [bname, b] of m.#buffers) {
        if (b.value === null || seen.has(b.value)) continue;
        seen.add(b.value);
        out.push([mname === '' ? bname : `${mname}.${bname}`, b.value]);
      }
    }
    return out;
  }

  /** All buffers. */
  buffers(): Tensor[] {
    return this.namedBuffers().map(([, b]) => b);
  }

  /**
   * Calls `fn` on every descendant and then on this module (children first, as PyTorch); returns
   * this. An `nn.init` function called on a still-lazy layer's parameter runs when it materializes.
   * @example net.apply(nn.initCnn);
   */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  /** Sets training mode on this module and all descendants; returns this. */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  /** Evaluation mode (`train(false)`): Dropout off, BatchNorm uses running statistics. */
  eval(): this {
    return this.train(false);
  }

  /** Sets every parameter's `grad` to null, disposing it. */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      if (p.grad !== null) {
        p.grad.dispose();
        p.grad = null;
      }
    }
  }

  /**
   * Frees every parameter and buffer of this module and its descendants now (with their grads);
   * the module cannot be used afterwards. Native memory is otherwise only reclaimed by the garbage
   * collector.
   */
  dispose(): void {
    for (const m of this.modules()) m.releaseResources();
  }

  /**
   * Frees what this module itself holds (its own parameters and buffers), called by `dispose` on
   * every module of the tree; modules that keep other tensors (the scratch BatchNorm's moving
   * statistics) override it and call `super.releaseResources()`.
   */
  protected releaseResources(): void {
    for (const [, p] of this.#ownParameters()) p.dispose();
    for (const b of this.#buffers.values()) b.value?.dispose();
  }

  /**
   * Number of parameter elements (46,764,746 for the lecture's AlexNet on 224x224 inputs). Throws
   * while a lazy layer is uninitialized.
   */
  numParameters(opts: { trainableOnly?: boolean } = {}): number {
    let n = 0;
    for (const p of this.parameters()) {
      if (!p.isMaterialized) {
        throw new Error(`numParameters: ${p.owner} is uninitialized (lazy); call the model once on an input first`);
      }
      if (opts.trainableOnly && !p.requiresGrad) continue;
      n += p.size;
    }
    return n;
  }

  /** True while some parameter of this module or its descendants is lazy and uninitialized. */
  hasUninitializedParameters(): boolean {
    return this.parameters().some((p) => !p.isMaterialized);
  }

  // ---- state dict ---------------------------------------------------------------------------

  /**
   * Parameters and persistent buffers under PyTorch's names, module by module (own parameters,
   * own buffers, then children), e.g. `net.1.weight`, `net.1.running_mean`. The values are the live
   * tensors (not copies).
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [mname, m] of this.namedModules()) {
      const pre = mname === '' ? '' : `${mname}.`;
      for (const [n, p] of m.#ownParameters()) out[pre + n] = p;
      for (const [n, b] of m.#buffers) if (b.value !== null && b.persistent) out[pre + n] = b.value;
    }
    return out;
  }

  /**
   * Copies values from `sd` into this module's parameters and buffers (the data is copied, `sd` can
   * be disposed afterwards). Lazy parameters are materialized with the checkpoint's shapes. With
   * `strict` (default) missing or unexpected keys are an error listing them; a shape mismatch is
   * always an error naming the key and both shapes.
   * @example net.loadStateDict(saved, { strict: false }); // { missingKeys, unexpectedKeys }
   */
  loadStateDict(sd: Record<string, Tensor>, opts: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const targets = new Map<string, { module: Module; name: string; t: Tensor; isBuffer: boolean }>();
    for (const [mname, m] of this.namedModules()) {
      const pre = mname === '' ? '' : `${mname}.`;
      for (const [n, p] of m.#ownParameters()) targets.set(pre + n, { module: m, name: n, t: p, isBuffer: false });
      for (const [n, b] of m.#buffers) {
        if (b.value !== null && b.persistent) targets.set(pre + n, { module: m, name: n, t: b.value, isBuffer: true });
      }
    }
    const missingKeys = [...targets.keys()].filter((k) => !(k in sd));
    const unexpectedKeys = Object.keys(sd).filter((k) => !targets.has(k));
    const errors: string[] = [];
    if (strict && unexpectedKeys.length > 0) {
      errors.push(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}.`);
    }
    if (strict && missingKeys.length > 0) {
      errors.push(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}.`);
    }
    for (const [key, tgt] of targets) {
      const src = sd[key];
      if (src === undefined) continue;
      if (!(src instanceof Tensor)) {
        errors.push(`value for ${key} is not a Tensor.`);
        continue;
      }
      if (tgt.t instanceof Parameter && !tgt.t.isMaterialized) continue;
      if (!sameShape(src.shape, tgt.t.shape)) {
        errors.push(
          `size mismatch for ${key}: copying a param with shape ${fmt(src.shape)} from checkpoint, the shape in current model is ${fmt(tgt.t.shape)}.`,
        );
      }
    }
    if (errors.length > 0) {
      throw new Error(`Error(s) in loading state_dict for ${this.constructor.name}:\n\t${errors.join('\n\t')}`);
    }
    for (const [key, tgt] of targets) {
      const src = sd[key];
      if (src === undefined) continue;
      const t = tgt.t;
      if (t instanceof Parameter && !t.isMaterialized) t.materialize(src.shape);
      t.assign(copyTo(src, t.kernels, t.dtype, t.shape));
      tgt.module.onStateLoaded(tgt.name, src);
    }
    return { missingKeys: strict ? [] : missingKeys, unexpectedKeys: strict ? [] : unexpectedKeys };
  }

  /**
   * Called by `loadStateDict` after it wrote the parameter or buffer `name` of this module from
   * `src` (layers that cache values, like BatchNorm's batch counter, override it).
   */
  protected onStateLoaded(_name: string, _src: Tensor): void {}

  // ---- display ------------------------------------------------------------------------------

  /** One-line description of this module alone (layers override, e.g. `Linear(in=120, out=84)`). */
  extraRepr(): string {
    return '';
  }

  /** PyTorch-style multi-line description of the module tree. */
  toString(): string {
    const children = this.namedChildren();
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (children.length === 0) return `${head})`;
    const lines = children.map(([n, c]) => `  (${n}): ${c.toString().split('\n').join('\n  ')}`);
    return `${head}\n${lines.join('\n')}\n)`;
  }
}

