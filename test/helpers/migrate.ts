import {MigrationFailedError} from '../../src/lib/migrate/recover.js';

/** The MigrationFailedError a migration must end with (the test fails if it resolves). */
export async function failure(promise: Promise<unknown>): Promise<MigrationFailedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MigrationFailedError);
  return error as MigrationFailedError;
}
