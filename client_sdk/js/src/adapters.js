// WebSocket adapters for runtimes whose socket is not the browser's WebSocket.

/**
 * Make a browser-compatible WebSocket class from alt:V's `alt.WebSocketClient`
 * (`new alt.WebSocketClient(url)`, `.on('open'|'close'|'message'|'error')`, `.send`, `.start`, `.stop`).
 *
 * alt:V hands every message to JavaScript as a string, binary ones included. Control messages
 * are JSON objects and always start with "{"; anything else is taken to be a binary frame whose
 * bytes are the string's char codes (one char per byte). If the runtime instead decoded the
 * bytes as UTF-8, bytes >= 0x80 are lost for good: such frames fail to decode, are counted in
 * `stats.invalid` and leave the mirror unchanged. Control messages (chat, NPC dialogue, custom,
 * events) always work; for the world mirror prefer a WebView (it has a real WebSocket).
 */
export function altWebSocket(alt) {
  return class AltWebSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.binaryType = "arraybuffer";
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      const c = new alt.WebSocketClient(url);
      this._c = c;
      try {
        c.autoReconnect = false; // the SDK reconnects, with the resume token
      } catch {
        // older alt:V builds have no such property
      }
      c.on("open", () => {
        this.readyState = 1;
        this.onopen?.({});
      });
      c.on("message", (m) => this.onmessage?.({ data: altMessage(m) }));
      c.on("error", (e) => this.onerror?.({ message: String(e) }));
      c.on("close", (code, reason) => this._closed(code, reason));
      c.start();
    }

    send(data) {
      this._c.send(data); // alt:V sends strings as text and ArrayBuffer(View)s as binary
    }

    close(code = 1000, reason = "") {
      if (this.readyState >= 2) return;
      this.readyState = 2;
      this._c.stop();
      this._closed(code, reason);
    }

    _closed(code, reason) {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.onclose?.({ code: code ?? 1006, reason: reason ?? "", wasClean: code === 1000 });
    }
  };
}

/** An alt:V message string -> string (JSON text) or Uint8Array (binary frame). */
export function altMessage(m) {
  if (typeof m !== "string") return m; // a build that passes ArrayBuffers: nothing to do
  if (m.length === 0 || m.charCodeAt(0) === 0x7b) return m;
  const out = new Uint8Array(m.length);
  for (let i = 0; i < m.length; i++) out[i] = m.charCodeAt(i) & 0xff;
  return out;
}
