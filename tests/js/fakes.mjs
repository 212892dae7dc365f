// Fakes for the protocol modules under Node: a WebSocket the test plays the server of, and a clock the test
// moves by hand (no real waiting, no mocks).

/** A manual clock with the timer functions `Connection` takes. */
export class FakeClock {
  constructor(start = 1_000_000) {
    this.time = start;
    this.nextId = 1;
    /** @type {Map<number, {at: number, fn: () => void, every: number|null}>} */
    this.timers = new Map();
  }

  now() {
    return this.time;
  }

  setTimeout(fn, ms) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, fn, every: null });
    return id;
  }

  clearTimeout(id) {
    this.timers.delete(id);
  }

  setInterval(fn, ms) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + ms, fn, every: ms });
    return id;
  }

  clearInterval(id) {
    this.timers.delete(id);
  }

  /** Moves time forward, running every timer that falls due, in order. */
  advance(ms) {
    const end = this.time + ms;
    for (;;) {
      let due = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && (!due || timer.at < due[1].at)) due = [id, timer];
      }
      if (!due) break;
      const [id, timer] = due;
      this.time = timer.at;
      if (timer.every === null) this.timers.delete(id);
      else timer.at += timer.every;
      timer.fn();
    }
    this.time = end;
  }
}

/** A WebSocket whose server side the test plays. */
export class FakeSocket {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    /** @type {any[]} every frame the client sent, parsed */
    this.sent = [];
    /** @type {number|null} the code the client closed with */
    this.closedWith = null;
    this.listeners = new Map();
  }

  addEventListener(type, listener) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(listener);
  }

  dispatch(type, event) {
    for (const listener of this.listeners.get(type) || []) listener(event);
  }

  send(data) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(JSON.parse(data));
  }

  close(code) {
    this.closedWith = code ?? null;
    this.readyState = 3;
  }

  // --- the server's side ---

  accept() {
    this.readyState = 1;
    this.dispatch("open", {});
  }

  receive(message) {
    this.dispatch("message", { data: typeof message === "string" ? message : JSON.stringify(message) });
  }

  serverClose(code, reason = "") {
    this.readyState = 3;
    this.dispatch("close", { code, reason });
  }

  /** Returns the last request of this type the client sent. */
  last(type) {
    return [...this.sent].reverse().find((m) => m.type === type);
  }
}

/** Lets pending promise callbacks run. */
export function flush() {
  return new Promise((resolve) => setImmediate(resolve));
}
