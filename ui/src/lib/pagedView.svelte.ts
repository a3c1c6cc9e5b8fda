// A screen's view of PagedRows: the reactive total, load state and error its table reads,
// and the two ways rows are forgotten (a new query, or the same query after a change).
import { untrack } from "svelte";
import type { ErrorBody } from "./bindings";
import { errorOf } from "./ipc";
import { PagedRows, type Fetch } from "./paged";

/** Rows loaded when a query starts: the first screenful and some. */
const FIRST_ROWS = 60;

export class PagedView<T, Q> {
  total = $state(0);
  /** Bumped whenever rows arrive or are forgotten, so the table re-reads them. */
  version = $state(0);
  loaded = $state(false);
  error = $state<ErrorBody | null>(null);
  private rows: PagedRows<T>;

  constructor(
    private fetcher: (q: Q) => Fetch<T>,
    query: Q,
  ) {
    this.rows = new PagedRows<T>(fetcher(query), () => {
      this.total = this.rows.total;
      this.error = this.rows.error ? errorOf(this.rows.error) : null;
      this.loaded = true;
      this.version++;
    });
  }

  row = (i: number): T | undefined => this.rows.row(i);

  ensure = (first: number, last: number) => void this.rows.ensure(first, last);

  /** A new query: forget the rows, load the first block. */
  query(q: Q) {
    this.rows.reset(this.fetcher(q));
    // The old total is not this query's: the count reads "loading" until the first block.
    this.loaded = false;
    this.version++;
    void this.rows.ensure(0, FIRST_ROWS);
  }

  /** Follows a screen's query: each new one forgets the rows and calls `onnew` (back to the
   *  top of the table). Call while the component is set up. */
  follow(query: () => Q, onnew: () => void) {
    $effect(() => {
      const q = query();
      untrack(() => {
        this.query(q);
        onnew();
      });
    });
  }

  /** The same query again, after a sync or a change. */
  reload() {
    this.rows.reset();
    this.loaded = false;
    this.version++;
    void this.rows.ensure(0, FIRST_ROWS);
  }
}
