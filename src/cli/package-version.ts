/** The package's version from its package.json; undefined when it cannot be found. */
export function packageVersion(): string | undefined {
  // package.json sits three levels above dist/src/cli/*.js (two above src/cli/*.ts when run from source).
  for (const path of ['../../../package.json', '../../package.json']) {
    try {
      return (require(path) as { version: string }).version;
    } catch {
      // try the next layout
    }
  }
  return undefined;
}
