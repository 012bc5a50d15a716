/**
 * A fixed-size history for the dashboard: keeps the last `capacity` items and forgets older ones, so
 * memory stays bounded however much traffic passes. In memory only: a restart starts it empty.
 */
export class Ring<T> {
  private readonly items: T[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity must be a positive integer');
  }

  push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.capacity) this.items.shift();
  }

  /** The items, newest first. */
  newestFirst(): T[] {
    return [...this.items].reverse();
  }
}
