/** The catalog database could not be opened or is not one of ours; the CLI exits 2 with this message. */
export class CatalogOpenError extends Error {
  override readonly name = 'CatalogOpenError';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`catalog database ${JSON.stringify(path)}: ${reason}`);
  }
}
