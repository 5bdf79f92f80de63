// A tiny typed event emitter that works the same in Node, browsers, CEF and alt:V (no
// EventTarget or node:events needed). A listener that throws does not stop the others or the
// connection; the error is re-thrown asynchronously so it still shows up (like DOM listeners).

export class Emitter {
  constructor() {
    this._listeners = new Map();
  }

  /** Listen to `type`; returns a function that removes the listener. */
  on(type, fn) {
    let set = this._listeners.get(type);
    if (!set) this._listeners.set(type, (set = new Set()));
    set.add(fn);
    return () => this.off(type, fn);
  }

  once(type, fn) {
    const off = this.on(type, (ev) => {
      off();
      fn(ev);
    });
    return off;
  }

  off(type, fn) {
    this._listeners.get(type)?.delete(fn);
  }

  /** Resolve with the next `type` event that satisfies `pred`; reject after `timeoutMs`. */
  waitFor(type, pred = () => true, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for '${type}'`));
      }, timeoutMs);
      const off = this.on(type, (ev) => {
        if (!pred(ev)) return;
        clearTimeout(timer);
        off();
        resolve(ev);
      });
    });
  }

  emit(type, ev) {
    const set = this._listeners.get(type);
    if (!set || set.size === 0) return;
    for (const fn of [...set]) {
      try {
        fn(ev);
      } catch (err) {
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
  }

  listenerCount(type) {
    return this._listeners.get(type)?.size ?? 0;
  }
}
