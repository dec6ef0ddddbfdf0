/**
 * Waits for `work` at most `ms` milliseconds; true if it settled (resolved or rejected) in time. For the
 * steps of a shutdown that depend on something outside (Redis, a collector), which must not hold it up.
 */
export async function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}
