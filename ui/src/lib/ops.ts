// Long operations with progress: the backend reports under an id the UI chooses.
import { commands, type ProgressView } from "./bindings";

/** Runs `work(op)` while polling its progress into `onprogress` every 150 ms. */
export async function withProgress<T>(prefix: string, work: (op: string) => Promise<T>, onprogress: (p: ProgressView | null, op: string) => void): Promise<T> {
  const op = `${prefix}-${crypto.randomUUID()}`;
  let running = true;
  const poll = (async () => {
    while (running) {
      try {
        const p = await commands.op_progress(op);
        if (running) onprogress(p, op);
      } catch {
        /* the answer arrives with the result */
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  try {
    return await work(op);
  } finally {
    running = false;
    await poll;
    onprogress(null, op);
  }
}
