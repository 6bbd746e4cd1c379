/** Time is injected everywhere behaviour depends on it (house style, habit 2). */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

/** A clock tests and replay move by hand. */
export class ManualClock implements Clock {
  constructor(private t = 0) {}
  nowMs(): number {
    return this.t;
  }
  set(ms: number): void {
    this.t = ms;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
