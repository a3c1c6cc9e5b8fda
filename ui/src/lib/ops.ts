// Long operations with progress: the backend reports under an id the UI chooses.
import { commands, type ProgressView } from "./bindings";

/** Runs `work(op)` while polling its progress into `onprogress` every 150 ms. */
export async function withProgress<T>(prefix: string, work: (op: string) => Promise<T>, onprogress: (p: ProgressView | null, op: string) => void): Promise<T> {
  const op = `${prefix}-${crypto.randomUUID()}`;
  let running = true;
  // The pause between polls ends early when the work does, so the caller is not held up to
  // 150 ms (a screen's buttons stay disabled until this returns).
  let wake = () => {};
  const poll = (async () => {
    while (running) {
      try {
        const p = await commands.op_progress(op);
        if (running) onprogress(p, op);
      } catch {
        /* the answer arrives with the result */
      }
      if (!running) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, 150);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  })();
  try {
    return await work(op);
  } finally {
    // Stop polling without waiting for a poll still in flight: its answer is dropped anyway,
    // and an IPC answer that never comes must not hold the finished work (and the screen's
    // buttons) hostage. Seen once: the sync had ended 4 minutes earlier, the screen still said
    // "Syncing…".
    running = false;
    wake();
    void poll;
    onprogress(null, op);
  }
}
