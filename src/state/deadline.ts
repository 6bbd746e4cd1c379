/**
 * A deadline for a call to the store that is fair to the store when vigil itself was stalled.
 *
 * A plain `setTimeout` race blames the store for vigil's own stalls: when the event loop gets no CPU
 * (a CPU-throttled container, a long GC, a stopped process) past the deadline, the timer and the
 * store's reply become due together, and timers run before the loop reads its sockets, so a reply that
 * arrived in time is thrown away as a timeout. Here the timer only arms a check that runs after the
 * loop has polled its sockets once more (setImmediate runs after the poll phase): a reply waiting in a
 * socket settles the call first, and only a call still unanswered then is rejected.
 */
export function withDeadline<T>(call: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let check: NodeJS.Immediate | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      check = setImmediate(() => reject(error()));
    }, ms);
  });
  return Promise.race([call, deadline]).finally(() => {
    clearTimeout(timer);
    if (check) clearImmediate(check);
  });
}
