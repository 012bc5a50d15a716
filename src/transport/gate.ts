/**
 * Admission to a consumer's handlers. The prefetch decides how many deliveries the broker hands over;
 * the gate decides how many of them are worked on at once. Those waiting go in arrival order, except
 * that an urgent delivery (Art. 9(1)) is never kept waiting: with 64 bulk deliveries in progress an
 * urgent one got a 64th of the gateway and waited for all of them (~800 ms p99 under load).
 */
export class PriorityGate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /** Run `work` once admitted: at once if urgent or below the limit, else after those before it. */
  async run<T>(urgent: boolean, work: () => Promise<T>): Promise<T> {
    if (!urgent && this.running >= this.limit) {
      await new Promise<void>((admit) => this.waiting.push(admit));
    } else {
      this.running++;
    }
    try {
      return await work();
    } finally {
      // The slot passes to the next one waiting, or is given back.
      // Urgent ones admitted above the limit give theirs back first.
      const next = this.running <= this.limit ? this.waiting.shift() : undefined;
      if (next) next();
      else this.running--;
    }
  }

  /** Handlers running now, and deliveries waiting for a slot. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}
