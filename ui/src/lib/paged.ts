// Server-side paging for virtualized tables: rows are fetched in blocks as they scroll into
// view, each block once, and answers to a query that has since changed are dropped.

export const BLOCK = 200;
/** Blocks kept in memory (4,000 rows); the ones farthest from the view go first. */
export const KEEP_BLOCKS = 20;

export interface Page<T> {
  rows: T[];
  total: number;
}

export type Fetch<T> = (offset: number, limit: number) => Promise<Page<T>>;

export class PagedRows<T> {
  private blocks = new Map<number, T[]>();
  private pending = new Map<number, Promise<void>>();
  private generation = 0;
  total = 0;
  /** The last load's error, cleared by the next successful one. */
  error: unknown = null;

  constructor(
    private fetch: Fetch<T>,
    private onchange: () => void = () => {},
  ) {}

  /** Forgets every row: the query changed. Answers still in flight are dropped. */
  reset(fetch?: Fetch<T>) {
    if (fetch) this.fetch = fetch;
    this.blocks.clear();
    this.pending.clear();
    this.generation++;
  }

  row(i: number): T | undefined {
    return this.blocks.get(Math.floor(i / BLOCK))?.[i % BLOCK];
  }

  loaded(): number {
    return this.blocks.size;
  }

  /** Loads the blocks that cover rows [first, last), at most once each. */
  async ensure(first: number, last: number): Promise<void> {
    const from = Math.floor(Math.max(0, first) / BLOCK);
    const to = Math.floor(Math.max(first, last - 1) / BLOCK);
    const waits: Promise<void>[] = [];
    for (let b = from; b <= to; b++) {
      if (this.blocks.has(b)) continue;
      if (b > 0 && b * BLOCK >= this.total) continue;
      waits.push(this.pending.get(b) ?? this.load(b));
    }
    await Promise.all(waits);
    this.evict(from, to);
  }

  private load(b: number): Promise<void> {
    const generation = this.generation;
    const p = this.fetch(b * BLOCK, BLOCK)
      .then((page) => {
        if (generation !== this.generation) return;
        this.blocks.set(b, page.rows);
        this.total = page.total;
        this.error = null;
      })
      .catch((e) => {
        if (generation === this.generation) this.error = e;
      })
      .finally(() => {
        if (generation === this.generation) {
          this.pending.delete(b);
          this.onchange();
        }
      });
    this.pending.set(b, p);
    return p;
  }

  private evict(from: number, to: number) {
    if (this.blocks.size <= KEEP_BLOCKS) return;
    const far = [...this.blocks.keys()].sort((a, b) => distance(b, from, to) - distance(a, from, to));
    for (const b of far.slice(0, this.blocks.size - KEEP_BLOCKS)) this.blocks.delete(b);
  }
}

function distance(b: number, from: number, to: number): number {
  return b < from ? from - b : b > to ? b - to : 0;
}
