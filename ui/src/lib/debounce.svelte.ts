// A search box's text, passed on once typing pauses.

/** Calls `apply` with `source()` once it has not changed for `ms`. Call while the component
 *  is set up. */
export function debounce<T>(source: () => T, apply: (value: T) => void, ms = 150) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  $effect(() => {
    const value = source();
    clearTimeout(timer);
    timer = setTimeout(() => apply(value), ms);
  });
}
