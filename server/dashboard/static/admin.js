// The admin console's wire protocol (protocol/SPEC.md "Admin console"): one WebSocket on
// /admin, `auth` first, then `cmd` with ids answered by `result`, and `push` messages for the
// topics subscribed to. No second protocol: this is the same endpoint ganggpt-admin uses.

export class AdminError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

export class AdminConsole extends EventTarget {
  constructor(url, token) {
    super();
    this.url = url;
    this.token = token;
    this.ws = null;
    this.authed = null;
    this._next = 1;
    this._pending = new Map();
  }

  /** Open and authenticate; resolves the `authed` message, rejects with the close code. */
  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      ws.onopen = () => ws.send(JSON.stringify({ op: "auth", token: this.token }));
      ws.onmessage = (ev) => {
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          return;
        }
        if (msg.op === "authed") {
          this.authed = msg;
          resolve(msg);
        } else if (msg.op === "result") {
          const p = this._pending.get(msg.id);
          if (!p) return;
          this._pending.delete(msg.id);
          if (msg.ok) p.resolve(msg.data ?? {});
          else p.reject(new AdminError(msg.error?.code ?? "failed", msg.error?.message ?? ""));
        } else if (msg.op === "push") {
          this.dispatchEvent(new CustomEvent(msg.topic, { detail: msg.data }));
        }
      };
      ws.onclose = (ev) => {
        for (const p of this._pending.values()) p.reject(new AdminError("closed", `connection closed (${ev.code})`));
        this._pending.clear();
        if (!this.authed) reject(Object.assign(new Error(ev.reason || `closed ${ev.code}`), { closeCode: ev.code }));
        this.dispatchEvent(new CustomEvent("close", { detail: { code: ev.code, reason: ev.reason } }));
      };
    });
  }

  /** Run one command; resolves its `data`, rejects with AdminError. */
  cmd(name, args = {}) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return Promise.reject(new AdminError("closed", "not connected"));
    const id = this._next++;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ op: "cmd", id, cmd: name, args }));
    });
  }

  can(name) {
    return Boolean(this.authed?.commands?.includes(name));
  }

  close() {
    this.ws?.close(1000);
  }
}
