/**
 * A cap on DNS queries on the wire. Thousands of sockets sending at once overflow UDP buffers
 * (seen with Bun's node:dns, BUN-NOTES.md) and look like an attack to the server; queries beyond
 * the cap wait in arrival order.
 */

export class Limiter {
  readonly #max: number;
  readonly #maxQueued: number;
  #active = 0;
  // FIFO as an array with a moving head, compacted now and then, so that dequeue is O(1).
  #waiting: Array<() => void> = [];
  #head = 0;

  constructor(max: number, maxQueued: number) {
    this.#max = Math.max(1, max);
    this.#maxQueued = Math.max(0, maxQueued);
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#waiting.length - this.#head;
  }

  /** Resolves when a slot is free; false when too many are already waiting. */
  acquire(): Promise<boolean> {
    if (this.#active < this.#max) {
      this.#active++;
      return Promise.resolve(true);
    }
    if (this.queued >= this.#maxQueued) return Promise.resolve(false);
    return new Promise((resolve) => {
      // The slot is handed over by release(): #active stays the same.
      this.#waiting.push(() => resolve(true));
    });
  }

  release(): void {
    if (this.#head < this.#waiting.length) {
      const next = this.#waiting[this.#head];
      this.#head++;
      if (this.#head === this.#waiting.length) {
        this.#waiting = [];
        this.#head = 0;
      } else if (this.#head >= 1024 && this.#head * 2 >= this.#waiting.length) {
        this.#waiting = this.#waiting.slice(this.#head);
        this.#head = 0;
      }
      next();
      return;
    }
    if (this.#active > 0) this.#active--;
  }
}
