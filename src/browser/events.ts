/**
 * Browser stand-in for `node:events` (the bundle maps the import here): the part of Node's
 * EventEmitter the Trainer uses — on/once/off/emit/removeListener/listenerCount.
 */
type Listener = (...args: unknown[]) => void;

/** A minimal EventEmitter with Node's method names and semantics (listeners run in order). */
export class EventEmitter {
  #listeners = new Map<string | symbol, Listener[]>();

  on(name: string | symbol, fn: Listener): this {
    const l = this.#listeners.get(name) ?? [];
    l.push(fn);
    this.#listeners.set(name, l);
    return this;
  }

  addListener(name: string | symbol, fn: Listener): this {
    return this.on(name, fn);
  }

  once(name: string | symbol, fn: Listener): this {
    const wrapped: Listener = (...args) => {
      this.off(name, wrapped);
      fn(...args);
    };
    return this.on(name, wrapped);
  }

  off(name: string | symbol, fn: Listener): this {
    const l = this.#listeners.get(name);
    if (l !== undefined) {
      const i = l.indexOf(fn);
      if (i >= 0) l.splice(i, 1);
    }
    return this;
  }

  removeListener(name: string | symbol, fn: Listener): this {
    return this.off(name, fn);
  }

  emit(name: string | symbol, ...args: unknown[]): boolean {
    const l = this.#listeners.get(name);
    if (l === undefined || l.length === 0) return false;
    for (const fn of [...l]) fn(...args);
    return true;
  }

  listenerCount(name: string | symbol): number {
    return this.#listeners.get(name)?.length ?? 0;
  }
}

export default { EventEmitter };
