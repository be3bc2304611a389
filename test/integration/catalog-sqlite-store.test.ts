// The catalog store contract, run against SQLite: each test's catalogs over a file of their own.
import { join } from 'node:path';
import { SqliteCatalog } from '../../src/catalog/sqlite-catalog';
import { makeTempDir, removeTempDir } from '../helpers/catalog-fixtures';
import { describeCatalogStore, type CatalogSettings } from './catalog-contract';

let dir: string;
let files = 0;
let path = '';

beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => removeTempDir(dir));

function openAt(file: string, settings: CatalogSettings): Promise<SqliteCatalog> {
  const options = settings.maxHives === undefined ? {} : { maxHives: settings.maxHives };
  return Promise.resolve(SqliteCatalog.open(file, settings.wallNow, settings.registration, options));
}

describeCatalogStore('SQLite', () => ({
  open: (settings) => {
    files += 1;
    path = join(dir, `catalog-${files}.db`);
    return openAt(path, settings);
  },
  reopen: (settings) => openAt(path, settings),
}));
