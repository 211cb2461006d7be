// Parallel work that stops on the first failure must still let every task finish (close its files, release its
// locks, remove its temporaries) before the failure is reported and the process may exit.

/** Waits for every promise; resolves with all values, or rejects with the first failure in time once all settled. */
export async function settleAll<T>(work: Promise<T>[]): Promise<T[]> {
  let first: { e: unknown } | undefined;
  const values = await Promise.all(
    work.map((p) =>
      p.catch((e: unknown) => {
        first ??= { e };
        return undefined as T;
      }),
    ),
  );
  if (first) throw first.e;
  return values;
}
